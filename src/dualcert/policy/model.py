"""The intended certificate policy, resolved to one Expectation per (endpoint, offer, TLS version).

A policy starts from a built-in profile (`extends:`) and overrides rules at four levels, most
specific last: `rules`, `services.<service>`, `nodes.<node>.rules`, `nodes.<node>.services.<service>`
(docs/policy.md). Reading a policy file is `dualcert.policy.load`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dualcert.errors import UsageError
from dualcert.estate.catalog import load_catalog
from dualcert.estate.model import Endpoint, Inventory
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.clients import ClientProfile

PROFILES = ("ec-ca-signed", "rsa-only", "self-signed")
FAMILIES = ("ecdsa", "rsa")
PRESENTS = ("ecdsa", "rsa", "refused", "preferred", "any")
LEVELS = ("required", "warn", "off")
RULE_KEYS = frozenset({"presents", "signing", "chain_algorithm", "trust", "hostname", "rsa_min_bits", "ec_curves",
                       "expiry", "issuer", "versions"})
POLICY_KEYS = frozenset({"extends", "intended_state", "rules", "services", "nodes", "description",
                         "expected_changes", "clients"})
# What a presentation was before / is after, for `expected_changes` from:/to: (docs/policy.md, "Expected changes").
PRESENTATION_CLASSES = ("any", "absent", "ecdsa", "rsa", "self-signed", "ca-signed", "ec-ca-signed",
                        "rsa-ca-signed", "ecdsa-by-rsa-ca", "unreachable", "refused", "unsupported", "timeout",
                        "connection-refused", "unresolved", "not-tls", "no-certificate", "starttls-failed", "error")
CHANGE_KEYS = frozenset({"nodes", "role", "services", "offers", "tls_versions", "from", "to", "any", "reason"})


@dataclass(frozen=True)
class IssuerRule:
    dn: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Expectation:
    presents: str                      # "ecdsa" | "rsa" | "refused" | "any"
    signing: str                       # "ca" | "self" | "any"
    chain_algorithm: str               # "ecdsa-throughout" | "any"
    trust: str                         # LEVELS
    hostname: str                      # LEVELS
    rsa_min_bits: int
    ec_curves: tuple[str, ...]
    warn_days: int
    fail_days: int
    issuers: dict[str, IssuerRule]     # per family, for whatever is presented
    version_required: bool


@dataclass(frozen=True)
class Policy:
    """A built-in profile or a policy file, with its four layers of rules kept apart until asked."""

    name: str
    path: Path | None
    intended_state: str
    rules: dict[str, Any]
    services: dict[str, dict[str, Any]]
    nodes: dict[str, dict[str, Any]]   # node -> {"rules": {...}, "services": {svc: {...}}}
    expected_changes: tuple[ExpectedChange, ...] = ()

    # Lines of the names a policy file gives ("services.x", "nodes.n", "nodes.n.services.x"), for errors.
    lines: dict[str, int | None] = field(default_factory=dict, compare=False)
    # Client profiles by name: the built-in catalog with the policy's `clients:` over it (policy/clients.py).
    clients: dict[str, ClientProfile] = field(default_factory=dict, compare=False)

    def rules_for(self, node: str, service: str) -> dict[str, Any]:
        """The four layers merged, most specific last: rules, services.<service>, nodes.<node>.rules,
        nodes.<node>.services.<service>. Also for a node or service the inventory no longer has."""
        merged = copy.deepcopy(self.rules)
        layer = self.nodes.get(node, {})
        for extra in (self.services.get(service, {}), layer.get("rules", {}),
                      layer.get("services", {}).get(service, {})):
            merge(merged, extra)
        return merged

    def expiry_days(self, node: str, service: str) -> tuple[int, int]:
        """(warn_days, fail_days) for a node's service."""
        expiry = self.rules_for(node, service)["expiry"]
        return int(expiry["warn_days"]), int(expiry["fail_days"])

    def expectation(self, endpoint: Endpoint, offer: Offer, version: TLSVersion) -> Expectation:
        merged = self.rules_for(endpoint.node, endpoint.service.name)
        presents = merged["presents"][offer.value]
        if presents == "preferred":
            prefers = endpoint.service.prefers
            presents = {"rsa": "rsa", "ecdsa": "ecdsa"}.get(prefers, "any")
        if endpoint.service.ecdsa_unit is None:  # the catalog says: no ECDSA certificate on this service
            presents = {"ecdsa": "refused", "any": "rsa"}.get(presents, presents)
        issuers = {family: IssuerRule(**rule) for family, rule in merged.get("issuer", {}).items()}
        return Expectation(
            presents=presents, signing=merged["signing"], chain_algorithm=merged["chain_algorithm"],
            trust=merged["trust"], hostname=merged["hostname"], rsa_min_bits=merged["rsa_min_bits"],
            ec_curves=tuple(merged["ec_curves"]), warn_days=merged["expiry"]["warn_days"],
            fail_days=merged["expiry"]["fail_days"], issuers=issuers,
            version_required=merged["versions"][version.value] == "required",
        )

    def check_against(self, inventory: Inventory) -> None:
        """A policy that names a node or service the inventory lacks is almost always a typo."""
        services = {s.name for n in inventory.nodes for s in n.services}
        nodes = {n.name: {s.name for s in n.services} for n in inventory.nodes}
        where = str(self.path or self.name)
        for service in self.services:
            if service not in services:
                raise UsageError(f"policy names service {service!r}, which no node in {inventory.path} has",
                                 file=where, line=self.lines.get(f"services.{service}"),
                                 fix=f"use one of: {', '.join(sorted(services))}")
        for node, layer in self.nodes.items():
            if node not in nodes:
                raise UsageError(f"policy names node {node!r}, which is not in {inventory.path}", file=where,
                                 line=self.lines.get(f"nodes.{node}"), fix=f"use one of: {', '.join(sorted(nodes))}")
            for service in layer.get("services", {}):
                if service not in nodes[node]:
                    raise UsageError(f"policy names service {service!r} on node {node!r}, which it does not have",
                                     file=where, line=self.lines.get(f"nodes.{node}.services.{service}"),
                                     fix=f"use one of: {', '.join(sorted(nodes[node]))}")
        # expected_changes may name nodes and services that are gone; a role that exists nowhere is a typo.
        roles = set(load_catalog()) | {n.role for n in inventory.nodes}
        for change in self.expected_changes:
            for role in change.roles or ():
                if role not in roles:
                    raise UsageError(f"expected_changes[{change.index}] names role {role!r}, which neither the "
                                     "catalog nor the inventory has", file=where, line=change.line,
                                     fix=f"use one of: {', '.join(sorted(roles))}")


@dataclass(frozen=True)
class ExpectedChange:
    """One `expected_changes` entry: which probes it covers (None: all) and what change it allows."""

    index: int
    where: str                          # "policy.yaml:14", for reasons and errors
    line: int | None
    nodes: tuple[str, ...] | None
    roles: tuple[str, ...] | None
    services: tuple[str, ...] | None
    offers: tuple[str, ...] | None
    tls_versions: tuple[str, ...] | None
    before: tuple[str, ...] | None      # from: PRESENTATION_CLASSES (None: anything)
    after: tuple[str, ...] | None       # to:
    any_change: bool
    reason: str | None

    @property
    def label(self) -> str:
        return f"expected_changes[{self.index}] ({self.where})"


def merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


