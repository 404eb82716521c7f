"""The one list of rules: each rule's name, scope, what it reads, its failing status and its check.

A probe rule judges one probe (a Case); a node rule one node over all its probes; a cluster rule
one cluster; a client rule one simulated client's probe (a ClientCase). The suites name a rule by
its key here, the handles look it up here, and the diagnosis, the lab's predictions and the docs use
the same names. A new rule is one function in probe_rules.py, chain_rules.py, client_rules.py or
estate_rules.py and one entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from dualcert.rules import chain_rules, client_rules, estate_rules, probe_rules
from dualcert.verdict import Status, Verdict


class Scope(StrEnum):
    PROBE = "probe"      # check(case: probe_rules.Case) -> Verdict
    NODE = "node"        # check(view: estate_rules.EstateView, node name) -> Verdict
    CLUSTER = "cluster"  # check(view: estate_rules.EstateView, cluster name) -> Verdict
    CLIENT = "client"    # check(case: client_rules.ClientCase) -> Verdict (a simulated client's probe)


@dataclass(frozen=True)
class Rule:
    name: str
    scope: Scope
    check: Callable[..., Verdict]
    reads: str                      # what the rule needs measured
    fails_as: Status = Status.FAIL  # a breach's status: FAIL, or WARN for report-only rules (fatal with --strict)


_PROBE = "the probe's chain, its expectation, and (for fixes) the same endpoint's other offers"
RULES: dict[str, Rule] = {rule.name: rule for rule in (
    Rule("presented_key", Scope.PROBE, probe_rules.presented_key, _PROBE),
    Rule("chain_algorithm", Scope.PROBE, probe_rules.chain_algorithm, "the probe's chain and its validated path"),
    Rule("chain_complete", Scope.PROBE, chain_rules.chain_complete,
         "the probe's chain and its validated path (which intermediates the server sends)"),
    Rule("issuer", Scope.PROBE, probe_rules.issuer, "the probe's leaf and issuing certificate"),
    Rule("trust", Scope.PROBE, probe_rules.trust, "the probe's chain and the inventory's trust bundle"),
    Rule("hostname", Scope.PROBE, probe_rules.hostname, "the probe's leaf and the node's host name"),
    Rule("key_strength", Scope.PROBE, chain_rules.key_strength,
         "the keys of the leaf and the certificates above it (bundle roots exempt by default)"),
    Rule("expiry", Scope.PROBE, probe_rules.expiry, "every certificate of the probe's chain"),
    Rule("signature_hash", Scope.PROBE, chain_rules.signature_hash,
         "every certificate of the validated path (or the presented chain), bundle roots exempt by default"),
    Rule("chain_lint", Scope.PROBE, chain_rules.chain_lint,
         "every certificate of the validated path (or the presented chain)", fails_as=Status.WARN),
    Rule("twin_signing", Scope.NODE, estate_rules.twin_signing, "the node's ECDSA-only and RSA-only probes"),
    Rule("unit_consistency", Scope.NODE, estate_rules.unit_consistency, "every chain the node presents"),
    Rule("ecdsa_chain", Scope.NODE, estate_rules.ecdsa_chain, "every ECDSA chain the node presents"),
    Rule("plaintext_listener", Scope.NODE, estate_rules.plaintext_listener,
          "a TCP connect to each service's plain-text twin port", fails_as=Status.WARN),
    Rule("deployment_state", Scope.CLUSTER, estate_rules.deployment_state,
          "the ECDSA-only and RSA-only probes of every node of the cluster"),
    Rule("cluster_roots", Scope.CLUSTER, estate_rules.cluster_roots, "every chain of the cluster's nodes"),
    Rule("client_key", Scope.CLIENT, client_rules.client_key, "a simulated client's probe and its expectation"),
    Rule("client_accepts", Scope.CLIENT, client_rules.client_accepts,
         "a simulated client's chain, its trust stores, host name and groups"),
    Rule("client_protocol", Scope.CLIENT, client_rules.client_protocol, "a simulated client's negotiated version"),
)}


def rules_of(scope: Scope) -> list[Rule]:
    """The rules of one scope, in registry order."""
    return [rule for rule in RULES.values() if rule.scope is scope]


def rule(name: str) -> Rule:
    """The rule named `name`; a suite naming an unknown rule is a dualcert bug, said plainly."""
    try:
        return RULES[name]
    except KeyError:
        raise KeyError(f"no rule {name!r}; the rules are: {', '.join(RULES)}") from None
