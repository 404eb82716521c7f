"""What the digest predicts for the lab, and the digest's table as the lab measured it.

`dualcert lab` checks its own run against these predictions: the lab is only worth
showing if it reproduces the seed's table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..catalog import load_catalog
from .estate import LabNode

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


def _predicted_to_fail(state: str, rule: str, offer: str, prefers: str) -> bool:
    predicted = PREDICTED_FAILURES[state]
    return (rule, offer) in predicted or (offer == "default" and prefers == "ecdsa" and (rule, "default*") in predicted)


def deviations(results: dict[str, Any], nodes: list[LabNode]) -> list[Deviation]:
    """Tests whose outcome differs from the digest's prediction for their node's state."""
    catalog = load_catalog()
    by_name = {n.name: n for n in nodes}
    found: list[Deviation] = []
    for test in results["tests"]:
        node_name, service, offer, _version = test["id"].split(":")
        node = by_name.get(node_name)
        if node is None or test["rule"] is None:
            continue
        prefers = catalog[node.role].services[service].prefers
        predicted_fail = _predicted_to_fail(node.state, test["rule"], offer, prefers)
        failed = test["outcome"] in ("failed", "error")
        if predicted_fail != failed:
            found.append(Deviation(test["id"], test["rule"], "fail" if predicted_fail else "pass or n/a",
                                   test["outcome"]))
    return found


def measured_table(results: dict[str, Any], nodes: list[LabNode]) -> list[tuple[str, list[str]]]:
    """Per state, what a browser-like (default) offer over TLS 1.2 got from each column's service."""
    probes = {(p["node"], p["service"], p["offer"], p["tls_version"]): p for p in results["probes"]}
    rows: list[tuple[str, list[str]]] = []
    for state in dict.fromkeys(n.state for n in nodes):
        cells: list[str] = []
        for _, role, service in TABLE_COLUMNS:
            node = next((n for n in nodes if n.state == state and n.role == role), None)
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
