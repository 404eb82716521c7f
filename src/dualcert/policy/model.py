"""The intended certificate policy, resolved to one Expectation per (endpoint, offer, TLS version).

A policy starts from a built-in profile (`extends:`) and overrides rules at four levels, most
specific last: `rules`, `services.<service>`, `nodes.<node>.rules`, `nodes.<node>.services.<service>`
(docs/policy.md). Reading a policy file is `dualcert.policy.load`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from dualcert.errors import UsageError
from dualcert.estate.catalog import load_catalog
from dualcert.estate.model import Endpoint, Inventory, Node
from dualcert.estate.releases import Basis, ServiceRelease
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.clients import ClientProfile

PROFILES = ("ec-ca-signed", "rsa-only", "self-signed")
FAMILIES = ("ecdsa", "rsa")
# rsa-or-refused: no ECDSA certificate by design (a release that presents RSA only): an ECDSA-only offer is
# refused or answered with the RSA certificate, both compliant.
PRESENTS = ("ecdsa", "rsa", "refused", "preferred", "any", "rsa-or-refused")
RELEASE_MODES = ("auto", "off")
LEVELS = ("required", "warn", "off")
RULE_KEYS = frozenset({"presents", "signing", "chain_algorithm", "trust", "hostname", "rsa_min_bits", "ec_curves",
                       "expiry", "issuer", "versions", "release", "signature_hashes", "bundle_roots"})
# Hash names as cryptography spells them (Certificate.signature_hash_algorithm.name), for signature_hashes.forbidden.
HASHES = ("md2", "md4", "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512")
POLICY_KEYS = frozenset({"extends", "intended_state", "rules", "services", "nodes", "description",
                         "expected_changes", "release", "clients"})
# What a presentation was before / is after, for `expected_changes` from:/to: (docs/policy.md, "Expected changes").
PRESENTATION_CLASSES = ("any", "absent", "ecdsa", "rsa", "self-signed", "ca-signed", "ec-ca-signed",
                        "rsa-ca-signed", "ecdsa-by-rsa-ca", "unreachable", "refused", "unsupported", "timeout",
                        "connection-refused", "unresolved", "not-tls", "no-tls-answer", "no-certificate",
                        "starttls-failed", "chain-too-large", "error")
CHANGE_KEYS = frozenset({"nodes", "role", "services", "offers", "tls_versions", "from", "to", "any", "reason"})


@dataclass(frozen=True)
class IssuerRule:
    dn: str | None = None
    sha256: str | None = None

    @property
    def name(self) -> x509.Name | None:
        """The DN parsed (RFC 4514; attribute types in any case), None when absent or unparseable."""
        return parse_dn(self.dn) if self.dn is not None else None


# An attribute type at the start of an RDN (after an unescaped "," or "+"): RFC 4514 makes its case free.
_ATTRIBUTE_TYPE = re.compile(r"(^|(?<!\\)[,+])\s*([A-Za-z][A-Za-z0-9-]*)\s*=")


def parse_dn(text: str) -> x509.Name | None:
    """An RFC 4514 string (as `openssl x509 -nameopt RFC2253` prints it) parsed, None when it does not parse."""
    try:
        return x509.Name.from_rfc4514_string(_ATTRIBUTE_TYPE.sub(lambda m: m[1] + m[2].upper() + "=", text))
    except ValueError:
        return None


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
    forbidden_hashes: tuple[str, ...] = ("md2", "md4", "md5", "sha1")
    check_bundle_roots: bool = False   # key_strength and signature_hash also judge the bundle's anchors
    ecdsa_wanted: bool = True          # the ECDSA-only offer is to get ECDSA (not refused nor answered with RSA)
    # Release facts no cited document states that changed `presents` or `version_required`: what they rest
    # on, and this expectation without them (the policy's own); a failure only they cause is a warning.
    release_bases: tuple[Basis, ...] = ()
    without_release: Expectation | None = None


# Endpoints whose merged rules Policy._layered() keeps (their probes are judged one after the other).
LAYERED_CACHE_SIZE = 256


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
    # _layered()'s merged rules of the last endpoints asked about: (node, service, with release) -> (release, rules).
    # Not an init field, so dataclasses.replace() gives a changed policy an empty one.
    _layered_cache: dict[tuple[str, str, bool], tuple[Any, dict[str, Any]]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def rules_for(self, node: str, service: str, release: ServiceRelease | None = None) -> dict[str, Any]:
        """The four layers merged, most specific last: rules, services.<service>, nodes.<node>.rules,
        nodes.<node>.services.<service>. Also for a node or service the inventory no longer has.

        With `release: auto` (the default when no policy is given), what the node's release should
        present (the catalog's release rules) goes over `rules`, under the three specific layers."""
        layers = (self.services.get(service, {}), self.nodes.get(node, {}).get("rules", {}),
                  self.nodes.get(node, {}).get("services", {}).get(service, {}))
        merged = copy.deepcopy(self.rules)
        for extra in layers:
            merge(merged, extra)
        if release is None or merged.get("release", "off") != "auto":
            return merged
        merged = copy.deepcopy(self.rules)
        merge(merged, release_layer(release))
        for extra in layers:
            merge(merged, extra)
        return merged

    def intended_for(self, node: Node) -> str:
        """The deployment state a node should be in: its release's (release: auto), else intended_state."""
        release = node.release
        auto = self.rules_for(node.name, "").get("release", "off") == "auto"
        return release.intended if auto and release is not None and release.intended else self.intended_state

    def expiry_days(self, node: str, service: str) -> tuple[int, int]:
        """(warn_days, fail_days) for a node's service. Asked per probe (`dualcert diff`, the timeline)."""
        expiry = self._layered(node, service)["expiry"]
        return int(expiry["warn_days"]), int(expiry["fail_days"])

    def _layered(self, node: str, service: str, release: ServiceRelease | None = None) -> dict[str, Any]:
        """rules_for(), to be read, not changed: `rules` itself when no layer and no release applies,
        else one merge per node and service, not per probe (a deep copy per probe cost ~5 s of a
        10,000-endpoint run)."""
        if service not in self.services and node not in self.nodes and (
                release is None or self.rules.get("release", "off") != "auto"):
            return self.rules
        # With and without the release apart: a weak release fact asks for both (expectation()).
        key = (node, service, release is not None)
        cached = self._layered_cache.get(key)
        if cached is not None and cached[0] is release:
            return cached[1]
        merged = self.rules_for(node, service, release)
        if len(self._layered_cache) >= LAYERED_CACHE_SIZE:
            del self._layered_cache[next(iter(self._layered_cache))]
        self._layered_cache[key] = (release, merged)
        return merged

    def expectation(self, endpoint: Endpoint, offer: Offer, version: TLSVersion) -> Expectation:
        merged = self._layered(endpoint.node, endpoint.service.name, endpoint.release)
        presents = _presents(merged, offer, endpoint.service.ecdsa_unit, endpoint.service.prefers)
        issuers = {family: IssuerRule(**rule) for family, rule in merged.get("issuer", {}).items()}
        expectation = Expectation(
            presents=presents, signing=merged["signing"], chain_algorithm=merged["chain_algorithm"],
            trust=merged["trust"], hostname=merged["hostname"], rsa_min_bits=merged["rsa_min_bits"],
            ec_curves=tuple(merged["ec_curves"]), warn_days=merged["expiry"]["warn_days"],
            fail_days=merged["expiry"]["fail_days"], issuers=issuers,
            version_required=merged["versions"][version.value] == "required",
            forbidden_hashes=tuple(merged["signature_hashes"]["forbidden"]),
            check_bundle_roots=merged["bundle_roots"] == "checked",
            ecdsa_wanted=_presents(merged, Offer.ECDSA, endpoint.service.ecdsa_unit,
                                   endpoint.service.prefers) in ("ecdsa", "any"),
        )
        release = endpoint.release
        if release is None or not release.weak:
            return expectation
        return self._weighed(expectation, endpoint, release, offer, version, merged)

    def _weighed(self, expectation: Expectation, endpoint: Endpoint, release: ServiceRelease, offer: Offer,
                 version: TLSVersion, merged: dict[str, Any]) -> Expectation:
        """The expectation with the release facts no document states set aside: what the policy (and the
        documented facts) alone expect. Kept when it differs, so that a failure only they cause is a warning."""
        weak, spec = release.weak, endpoint.service
        auto = merged.get("release", "off") == "auto"
        plain = self._layered(endpoint.node, spec.name) if auto else merged
        bases: list[Basis] = []
        presents, required = expectation.presents, expectation.version_required
        weak_presents = auto and "presents" in weak
        if weak_presents or "ecdsa_unit" in weak:
            unit, prefers = spec.ecdsa_unit, spec.prefers
            if "ecdsa_unit" in weak:  # the unit the catalog has, had no weak rule removed it
                unit = release.catalog_units.get("ecdsa_unit", unit)
                prefers = release.catalog_units.get("prefers", prefers)
            presents = _presents(plain if weak_presents else merged, offer, unit, prefers)
            if presents != expectation.presents:
                bases += [weak[fact] for fact in ("presents", "ecdsa_unit")
                          if fact in weak and (fact != "presents" or weak_presents)]
        if auto and "tls1.3" in weak and version is TLSVersion.TLS1_3:
            required = plain["versions"][version.value] == "required"
            if required != expectation.version_required:
                bases.append(weak["tls1.3"])
        if not bases:
            return expectation
        alone = replace(expectation, presents=presents, version_required=required)
        return replace(expectation, release_bases=tuple(dict.fromkeys(bases)), without_release=alone)

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
    origin: str | None = None           # "release upgrade": derived from the catalog, not the policy file

    @property
    def label(self) -> str:
        return self.origin or f"expected_changes[{self.index}] ({self.where})"


def _presents(merged: dict[str, Any], offer: Offer, ecdsa_unit: str | None, prefers: str) -> str:
    """What an offer should get by the merged rules, for a service with this ECDSA unit and preference."""
    presents: str = merged["presents"][offer.value]
    if presents == "preferred":
        presents = {"rsa": "rsa", "ecdsa": "ecdsa"}.get(prefers, "any")
    if ecdsa_unit is None:  # the catalog says: no ECDSA certificate on this service
        presents = {"ecdsa": "refused", "any": "rsa"}.get(presents, presents)
    return presents


def release_layer(release: ServiceRelease) -> dict[str, Any]:
    """The rules a service's release implies: what each offer gets, and TLS 1.3 where it is required."""
    layer: dict[str, Any] = {}
    if release.presents:
        layer["presents"] = dict(release.presents)
    if release.tls13 == "required":
        layer["versions"] = {"tls1.3": "required"}
    return layer


def merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


