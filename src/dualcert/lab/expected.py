"""What the digest predicts for the lab, and the digest's table as the lab measured it.

`dualcert lab` checks its own run against these predictions: the lab is only worth
showing if it reproduces the seed's table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dualcert.estate.catalog import load_catalog
from dualcert.lab.estate import LabNode, lab_services

# Under the ec-ca-signed policy: (rule, offer) pairs that fail in each state. "default*"
# means the default offer on services that present ECDSA to browsers (Socket.IO, SM Openfire).
PREDICTED_FAILURES: dict[str, frozenset[tuple[str, str]]] = {
    "S1": frozenset({("issuer", "ecdsa"), ("issuer", "rsa"), ("issuer", "default"),
                     ("trust", "ecdsa"), ("trust", "rsa"), ("trust", "default")}),
    "S2": frozenset({("chain_algorithm", "ecdsa"), ("issuer", "ecdsa"), ("presented_key", "default*")}),
    "S3": frozenset(),
    "S4": frozenset({("issuer", "ecdsa"), ("trust", "ecdsa"), ("issuer", "default*"), ("trust", "default*")}),
    "rsa-only": frozenset({("presented_key", "ecdsa"), ("presented_key", "default*")}),
}

# Node tests (suites/test_estate.py): the states whose nodes fail each rule.
NODE_RULE_FAILS: dict[str, frozenset[str]] = {
    "twin_signing": frozenset({"S4"}),        # CA-signed tomcat beside a self-signed tomcat-ECDSA
    "ecdsa_chain": frozenset({"S2"}),         # tomcat-ECDSA signed by the RSA CA
    "unit_consistency": frozenset(),          # the lab gives every unit one certificate per node
    "plaintext_listener": frozenset(),        # report only (and the lab has no plain-text twins)
}
# What the ECDSA-only and RSA-only offers lead to in each state, for the cluster_roots prediction.
_ROOTS = {"S1": ("self", "self"), "S2": ("rsa-root", "rsa-root"), "S3": ("rsa-root", "ec-root"),
          "S4": ("rsa-root", "self"), "rsa-only": ("rsa-root", None)}

# The digest's table: its columns, as (role, service) of the lab.
TABLE_COLUMNS = (("UCCX Tomcat", "uccx", "tomcat"), ("UCCX Openfire", "uccx", "notification-bosh"),
                 ("UCCX Socket.IO", "uccx", "socketio"), ("SM Tomcat", "socialminer", "tomcat"),
                 ("SM Openfire", "socialminer", "openfire"))


@dataclass(frozen=True)
class Deviation:
    test_id: str
    rule: str
    predicted: str
    measured: str


def by_design(node: LabNode) -> bool:
    """The node's release presents RSA only on every service (e.g. UCCX 12.5): nothing fails, state rsa-only."""
    services = lab_services(node)
    return node.version is not None and all(r is not None and r.rsa_only_by_design for _, r in services)


def lab_state(node: LabNode) -> str:
    """The state the diagnosis must name for one lab node."""
    return "rsa-only" if by_design(node) else node.state


def _tls13_absent(node: LabNode, service: str) -> bool:
    return any(spec.name == service and r is not None and r.tls13 == "absent" for spec, r in lab_services(node))


def _predicted_to_fail(state: str, rule: str, offer: str, prefers: str) -> bool:
    predicted = PREDICTED_FAILURES[state]
    return (rule, offer) in predicted or (offer == "default" and prefers == "ecdsa" and (rule, "default*") in predicted)


def cluster_state(nodes: list[LabNode]) -> str:
    """The state the diagnosis must name for a lab cluster: its nodes' common state, or mixed."""
    states = {lab_state(n) for n in nodes}
    return states.pop() if len(states) == 1 else "mixed"


def _cluster_roots_fail(nodes: list[LabNode]) -> bool:
    by_role: dict[str, list[LabNode]] = {}
    for node in nodes:
        by_role.setdefault(node.role, []).append(node)
    for group in (g for g in by_role.values() if len(g) > 1):
        for index in (0, 1):  # RSA, ECDSA
            tops = {_ROOTS[n.state][index] for n in group} - {None}
            if len(tops) > 1:
                return True
    return False


def _estate_predicted_fail(test: dict[str, Any], nodes: list[LabNode]) -> bool | None:
    name = test["id"]
    if test["test"] in ("test_deployment_state", "test_cluster_roots"):
        members = [n for n in nodes if n.cluster == name]
        if not members:
            return None
        if test["test"] == "test_deployment_state":
            return any(lab_state(n) != ("rsa-only" if by_design(n) else "S3") for n in members)
        return _cluster_roots_fail(members)
    node = next((n for n in nodes if n.name == name), None)
    if node is None or test["rule"] not in NODE_RULE_FAILS:
        return None
    return lab_state(node) in NODE_RULE_FAILS[test["rule"]]


def diagnosis_deviations(results: dict[str, Any], nodes: list[LabNode]) -> list[Deviation]:
    """Clusters whose diagnosed state is not the one the lab built."""
    found: list[Deviation] = []
    diagnosed = {d["cluster"]: d for d in results.get("diagnosis", [])}
    for cluster in dict.fromkeys(n.cluster for n in nodes):
        want = cluster_state([n for n in nodes if n.cluster == cluster])
        got = diagnosed.get(cluster, {}).get("state", "missing")
        if got != want:
            found.append(Deviation(f"diagnosis[{cluster}]", "deployment_state", want, got))
    return found


def deviations(results: dict[str, Any], nodes: list[LabNode]) -> list[Deviation]:
    """Tests whose outcome differs from the digest's prediction for their node's state."""
    catalog = load_catalog()
    by_name = {n.name: n for n in nodes}
    found: list[Deviation] = diagnosis_deviations(results, nodes)
    for test in results["tests"]:
        failed = test["outcome"] in ("failed", "error")
        if test["id"].count(":") != 3:  # a cluster or node test of suites/test_estate.py
            estate_fail = _estate_predicted_fail(test, nodes)
            if estate_fail is not None and estate_fail != failed:
                found.append(Deviation(f'{test["test"]}[{test["id"]}]', test["rule"] or test["test"],
                                       "fail" if estate_fail else "pass or n/a", test["outcome"]))
            continue
        node_name, service, offer, version = test["id"].split(":")
        node = by_name.get(node_name)
        if node is None or test["rule"] is None:
            continue
        prefers = catalog[node.role].services[service].prefers
        predicted_fail = (not by_design(node) and not (version == "tls1.3" and _tls13_absent(node, service))
                          and _predicted_to_fail(node.state, test["rule"], offer, prefers))
        failed = test["outcome"] in ("failed", "error")
        if predicted_fail != failed:
            found.append(Deviation(test["id"], test["rule"], "fail" if predicted_fail else "pass or n/a",
                                   test["outcome"]))
    return found


def measured_table(results: dict[str, Any], nodes: list[LabNode]) -> list[tuple[str, list[str]]]:
    """Per state, what a browser-like (default) offer over TLS 1.2 got from each column's service."""
    probes = {(p["node"], p["service"], p["offer"], p["tls_version"]): p for p in results["probes"]}
    rows: list[tuple[str, list[str]]] = []
    for state in dict.fromkeys(n.state for n in nodes if n.version is None):
        cells: list[str] = []
        for _, role, service in TABLE_COLUMNS:
            node = next((n for n in nodes if n.state == state and n.role == role and n.version is None), None)
            probe = probes.get((node.name, service, "default", "tls1.2")) if node else None
            cells.append(_cell(probe))
        rows.append((state, cells))
    return rows


def _cell(probe: dict[str, Any] | None) -> str:
    if probe is None:
        return "-"
    if probe["outcome"] != "ok" or not probe["chain"]:
        return str(probe["outcome"])
    leaf = probe["chain"][0]
    return "self-signed" if leaf["self_signed"] else str(leaf["key_type"])


# The per-release table: a few services per role, what each offer gets (TLS 1.2; TLS 1.3 for the default offer).
RELEASE_SERVICES = {"uccx": ("tomcat", "socketio"), "socialminer": ("openfire",), "cucm": ("tomcat", "sip-tls")}
RELEASE_HEADER = ("release", "node", "service", "ecdsa", "rsa", "default", "default TLS 1.3")


def release_table(results: dict[str, Any], nodes: list[LabNode]) -> list[list[str]]:
    """One row per (role, release) and service: the lab's unversioned S3 nodes show the seed's (11.5) behaviour;
    versioned nodes in any state (the upgrade story's) are shown too."""
    probes = {(p["node"], p["service"], p["offer"], p["tls_version"]): p for p in results["probes"]}
    rows: list[list[str]] = []
    seen: set[tuple[str, str]] = set()
    for node in nodes:
        if node.version is None and (node.state != "S3" or node.cluster == "mixed"):
            continue
        release = node.version or "unversioned"
        if (node.role, release) in seen:
            continue
        seen.add((node.role, release))
        for service in RELEASE_SERVICES.get(node.role, ()):
            cells = [_cell(probes.get((node.name, service, offer, "tls1.2"))) for offer in ("ecdsa", "rsa", "default")]
            cells.append(_cell(probes.get((node.name, service, "default", "tls1.3"))))
            rows.append([f"{node.role} {release}", node.name, service, *cells])
    return rows
