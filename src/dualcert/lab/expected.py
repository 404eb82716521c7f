"""What the digest predicts for the lab, and the digest's table as the lab measured it.

`dualcert lab` checks its own run against these predictions: the lab is only worth showing if
it reproduces the seed's table, and only trusted if every prediction was measured. One verdict
is predicted per (node, service, offer, TLS version, probe rule), per (node, node rule) and per
(cluster, cluster rule); what a browser-like (`default`) offer gets is read from the lab
server's own configuration (its cipher and signature-algorithm order, the chains it holds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from OpenSSL import SSL

from dualcert.lab.estate import LabEndpoint, LabNode, lab_services, server_preference
from dualcert.offers import Offer, TLSVersion
from dualcert.rules.registry import Scope, rules_of

# Under the ec-ca-signed policy: (rule, offer) pairs that fail in each state. A browser-like (default)
# offer gets one of the two certificates, so it fails what the offer of that family fails; and its
# presented_key fails where that family is not the one a browser gets in best practice (S3).
PREDICTED_FAILURES: dict[str, frozenset[tuple[str, str]]] = {
    "S1": frozenset({("issuer", "ecdsa"), ("issuer", "rsa"), ("trust", "ecdsa"), ("trust", "rsa")}),
    "S2": frozenset({("chain_algorithm", "ecdsa"), ("issuer", "ecdsa")}),
    "S3": frozenset(),
    "S4": frozenset({("issuer", "ecdsa"), ("trust", "ecdsa")}),
    "rsa-only": frozenset({("presented_key", "ecdsa")}),
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


def _family_of_cipher(name: str) -> str | None:
    """The key family a TLS 1.2 cipher suite authenticates with (OpenSSL's names); None for TLS 1.3
    suites (they say nothing of the key) and for suites without a certificate of either family."""
    if name.startswith("TLS_") or any(word in name for word in ("PSK", "SRP", "ADH", "AECDH", "DSS")):
        return None
    return "ecdsa" if "ECDSA" in name else "rsa"


def _family_of_sigalg(name: str) -> str | None:
    return "ecdsa" if name.startswith("ecdsa") else "rsa" if name.startswith("rsa") else None


def browser_family(endpoint: LabEndpoint, version: str) -> str:
    """What a browser-like offer gets from this lab server, read from its own configuration: the first key
    family of its context's cipher order (TLS 1.2) or signature-algorithm order (TLS 1.3) that it holds a
    chain of."""
    if version == TLSVersion.TLS1_3.value:
        order = [_family_of_sigalg(s) for s in endpoint.served.sigalgs_preference.split(":")]
    else:
        order = [_family_of_cipher(c) for c in SSL.Connection(endpoint.served.context).get_cipher_list()]
    return next((f for f in order if f in endpoint.families), endpoint.families[0])


def by_design(node: LabNode) -> bool:
    """The node's release presents RSA only on every service (e.g. UCCX 12.5): nothing fails, state rsa-only."""
    services = lab_services(node)
    return node.version is not None and all(r is not None and r.rsa_only_by_design for _, r in services)


def lab_state(node: LabNode) -> str:
    """The state the diagnosis must name for one lab node."""
    return "rsa-only" if by_design(node) else node.state


def _tls13_absent(node: LabNode, service: str) -> bool:
    return any(spec.name == service and r is not None and r.tls13 == "absent" for spec, r in lab_services(node))


def predictions(endpoints: list[LabEndpoint], nodes: list[LabNode]) -> dict[tuple[str, str], bool]:
    """Every verdict the lab predicts, (test id or node or cluster, rule) -> predicted to fail. A node whose
    release presents RSA only by design fails nothing; nor does a TLS 1.3 probe of a release without TLS 1.3."""
    predicted: dict[tuple[str, str], bool] = {}
    for endpoint in endpoints:
        node = endpoint.node
        design, no_tls13 = by_design(node), _tls13_absent(node, endpoint.service.name)  # the release, once
        failing = frozenset() if design else PREDICTED_FAILURES[node.state]
        # Best practice (S3): the family this server would put first with both certificates good.
        intended = server_preference(LabNode(node.name, node.role, node.cluster, "S3"), endpoint.service.name)
        for version in TLSVersion:
            browser = browser_family(endpoint, version.value)
            judged = not design and not (version is TLSVersion.TLS1_3 and no_tls13)
            for offer in Offer:
                test_id = f"{node.name}:{endpoint.service.name}:{offer.value}:{version.value}"
                for probe_rule in rules_of(Scope.PROBE):
                    if offer is Offer.DEFAULT:
                        fails = (probe_rule.name, browser) in failing or (
                            probe_rule.name == "presented_key" and browser != intended)
                    else:
                        fails = (probe_rule.name, offer.value) in failing
                    predicted[(test_id, probe_rule.name)] = judged and fails
    for node in nodes:
        for name, states in NODE_RULE_FAILS.items():
            predicted[(node.name, name)] = lab_state(node) in states
    for cluster in dict.fromkeys(n.cluster for n in nodes):
        members = [n for n in nodes if n.cluster == cluster]
        # As intended: S3, or RSA only by design (lab_state is then rsa-only, as the release intends).
        predicted[(cluster, "deployment_state")] = any(not by_design(n) and n.state != "S3" for n in members)
        predicted[(cluster, "cluster_roots")] = _cluster_roots_fail(members)
    return predicted


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


def deviations(results: dict[str, Any], nodes: list[LabNode],
               predicted: dict[tuple[str, str], bool]) -> tuple[list[Deviation], list[str]]:
    """Verdicts that differ from the prediction, and the predicted ones the run did not measure
    (`-k`, `--deselect`, `--offers` left them out) as "subject rule"."""
    found: list[Deviation] = diagnosis_deviations(results, nodes)
    seen: set[tuple[str, str]] = set()
    for test in results["tests"]:
        key = (test["id"], test["rule"] or test["test"].removeprefix("test_"))
        if key not in predicted:
            continue
        seen.add(key)
        failed = test["outcome"] in ("failed", "error")
        if predicted[key] != failed:
            where = test["id"] if test["id"].count(":") == 3 else f'{test["test"]}[{test["id"]}]'
            found.append(Deviation(where, key[1], "fail" if predicted[key] else "pass or n/a", test["outcome"]))
    missing = [f"{subject} {rule}" for subject, rule in predicted if (subject, rule) not in seen]
    return found, missing


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


def preference_row() -> list[str]:
    """The table's last row: which family each column's lab server puts first (RSA first throughout in S2)."""
    return [f"{server_preference(LabNode('-', role, '-', 'S3'), service).upper()} first"
            for _, role, service in TABLE_COLUMNS]


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
