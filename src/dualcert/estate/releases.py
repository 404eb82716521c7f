"""What a role's release presents: the catalog's `releases:` rules, read and resolved for one node.

A rule holds for a release range (`when: ">=11.6"`) and, optionally, for a node parameter
(`if: {http_ciphers: rsa-only}`); rules apply in catalog order, later ones over earlier ones.
A rule may change a service's certificate units, say what each offer should get (`presents`),
whether TLS 1.3 is there (`tls1.3: required | optional | absent`), the deployment state the
release intends, the words of its behaviour (`design`) and its fix, and it names its sources
and their `confidence`. A rule whose confidence is `uncertain` constrains nothing: the suite
measures, as it does for a node without `version:`.

Each fact a node's release resolves to (what an offer gets, TLS 1.3, a removed ECDSA unit, the
intended state) keeps the `Basis` it rests on: the rule's sources and confidence. A fact no cited
document states (secondary, inferred) still sets expectations, but a failure only it causes is a
warning naming the source and its confidence (`soften`; docs/releases.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from dualcert.estate.release import Release, ReleaseRange, parse_range
from dualcert.estate.yamlfile import Reader
from dualcert.verdict import Status, Verdict

# Strongest first. secondary: the summary of the cited document, whose available copy did not show
# the sentence; inferred: not stated by Cisco, inferred (e.g. from release dates); uncertain: constrains nothing.
CONFIDENCE = ("documented", "secondary", "inferred", "uncertain")
CONFIDENCE_MEANS = {
    "documented": "the cited document states it",
    "secondary": "the available copy did not show the sentence",
    "inferred": "inferred, not stated by Cisco",
    "uncertain": "no public Cisco document found",
}
TLS13 = ("required", "optional", "absent")
RULE_KEYS = frozenset({"when", "if", "label", "design", "intended", "agent", "fix", "services", "sources",
                       "confidence", "note"})
SERVICE_RULE_KEYS = frozenset({"rsa_unit", "ecdsa_unit", "prefers", "presents", "tls1.3", "design", "fix",
                               "enabled"})
OFFERS = ("ecdsa", "rsa", "default")
RSA_ONLY_BY_DESIGN = {"ecdsa": "rsa-or-refused", "rsa": "rsa", "default": "rsa"}


@dataclass(frozen=True)
class Source:
    title: str
    url: str = ""

    def __str__(self) -> str:
        return f"{self.title} ({self.url})" if self.url else self.title


@dataclass(frozen=True)
class Basis:
    """What a release fact rests on: its rule's sources and their confidence."""

    sources: tuple[Source, ...]
    confidence: str

    @property
    def documented(self) -> bool:
        return self.confidence == "documented"

    def cite(self) -> str:
        titles = ", ".join(f"'{s.title}'" for s in self.sources)
        return f"per {titles}, confidence: {self.confidence}: {CONFIDENCE_MEANS[self.confidence]}"


def soften(verdict: Verdict, bases: Iterable[Basis]) -> Verdict:
    """A failure that only release facts no document states cause: a warning naming their sources and
    confidence, until a primary source is cited (under --strict it fails, as every warning does)."""
    cited = "; ".join(dict.fromkeys(b.cite() for b in bases))
    if verdict.status is not Status.FAIL or not cited:
        return verdict
    return replace(verdict, status=Status.WARN,
                   message=f"{verdict.message} (release rule {cited}; a warning until a primary source is cited)")


def _based(held: tuple[Any, Basis] | None, value: Any, rule: ReleaseRule) -> tuple[Any, Basis]:
    """The basis of a fact's value after `rule` sets it: a rule that changes the value brings its own basis;
    one that repeats it keeps the stronger (a later secondary rule does not weaken a documented fact)."""
    basis = Basis(rule.sources, rule.confidence)
    if held is None or held[0] != value or CONFIDENCE.index(rule.confidence) <= CONFIDENCE.index(held[1].confidence):
        return value, basis
    return held


@dataclass(frozen=True)
class ReleaseRule:
    when: ReleaseRange
    condition: dict[str, str]
    label: str
    design: str | None
    intended: str | None
    agent: str | None
    fix: str | None
    services: dict[str, dict[str, Any]]     # service name or "*" -> overrides (SERVICE_RULE_KEYS)
    sources: tuple[Source, ...]
    confidence: str
    note: str = ""


@dataclass(frozen=True)
class Parameter:
    """A node setting a release rule can depend on (e.g. CUCM's HTTPS Ciphers enterprise parameter)."""

    name: str
    default: str
    values: tuple[str, ...]
    label: str = ""


@dataclass(frozen=True)
class ServiceRelease:
    """What one service should present on the node's release (None: no release fact, measure)."""

    presents: dict[str, str] | None
    tls13: str | None                 # required | optional | absent | None (unknown)
    design: str | None
    fix: str | None
    sources: tuple[Source, ...]
    confidence: str
    # What each fact rests on: "presents", "tls1.3", "ecdsa_unit" (a rule removed the ECDSA unit).
    bases: dict[str, Basis] = field(default_factory=dict)
    # The catalog's ecdsa_unit and prefers before a rule removed the unit: what the policy alone would judge.
    catalog_units: dict[str, Any] = field(default_factory=dict)

    @property
    def weak(self) -> dict[str, Basis]:
        """The facts no cited document states (their failures are warnings)."""
        return {fact: basis for fact, basis in self.bases.items() if not basis.documented}

    @property
    def rsa_only_by_design(self) -> bool:
        return self.presents is not None and self.presents.get("ecdsa") == "rsa-or-refused"


@dataclass(frozen=True)
class NodeRelease:
    """A node's release and what the catalog says it presents, service by service."""

    release: Release
    role: str
    intended: str | None
    design: str | None
    agent: str | None
    fix: str | None
    services: dict[str, ServiceRelease] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)
    matched: tuple[ReleaseRule, ...] = ()     # the rules that hold for this release, in catalog order
    intended_basis: Basis | None = None       # what `intended` rests on

    @property
    def label(self) -> str:
        return f"{self.role} {self.release}"


def read_rules(reader: Reader, role: str) -> tuple[tuple[str, ...], dict[str, Parameter], tuple[ReleaseRule, ...]]:
    """A role's `releases:` mapping: `trains` (the releases it knows), `parameters`, `rules`."""
    reader.reject_unknown(frozenset({"trains", "parameters", "rules"}))
    trains = tuple(str(t) for t in reader.get("trains", list, []))
    parameters: dict[str, Parameter] = {}
    raw_parameters = reader.child("parameters", reader.get("parameters", dict, {}), f"parameters of {role}")
    for name, raw in raw_parameters.data.items():
        item = raw_parameters.child(name, raw, f"parameter {name!r} of {role}")
        values = tuple(str(v) for v in item.get("values", list, required=True))
        parameters[name] = Parameter(name, item.get("default", str, required=True), values, item.get("label", str, ""))
    rules: list[ReleaseRule] = []
    for index, raw in enumerate(reader.get("rules", list, [])):
        item = Reader(raw, reader.path, f"release rule #{index + 1} of {role}", reader.line)
        item.reject_unknown(RULE_KEYS)
        when = item.get("when", str, required=True)
        try:
            when_range = parse_range(when)
        except ValueError as exc:
            raise item.error("when", f"release rule #{index + 1} of {role}: {exc}", "e.g. when: \">=11.6\"") from None
        confidence = item.get("confidence", str, "documented")
        if confidence not in CONFIDENCE:
            raise item.error("confidence", f"confidence {confidence!r}", f"use one of: {', '.join(CONFIDENCE)}")
        services = {str(k): dict(v or {}) for k, v in item.get("services", dict, {}).items()}
        for name, overrides in services.items():
            Reader(overrides, reader.path, f"service {name!r} of release rule #{index + 1}", item.line) \
                .reject_unknown(SERVICE_RULE_KEYS)
            if overrides.get("tls1.3", "optional") not in TLS13:
                raise item.error("services", f"tls1.3 of {name!r} must be one of {', '.join(TLS13)}", "fix the catalog")
        sources = tuple(Source(str(s.get("title", "")), str(s.get("url", ""))) for s in item.get("sources", list, []))
        if not sources:
            raise item.error(None, f"release rule #{index + 1} of {role} cites no source",
                             "give 'sources: [{title: ..., url: ...}]' (and confidence: uncertain if none is public)")
        rules.append(ReleaseRule(when_range, {str(k): str(v) for k, v in item.get("if", dict, {}).items()},
                                 item.get("label", str, when), item.get("design", str, None),
                                 item.get("intended", str, None), item.get("agent", str, None),
                                 item.get("fix", str, None), services, sources, confidence, item.get("note", str, "")))
    return trains, parameters, tuple(rules)


def resolve(role: str, release: Release, rules: tuple[ReleaseRule, ...], services: dict[str, Any],
            parameters: dict[str, str]) -> tuple[NodeRelease, dict[str, Any]]:
    """The node's release view and its services (ServiceSpec by name) changed by the rules that hold."""
    matching = [r for r in rules if release in r.when
                and all(parameters.get(k) == v for k, v in r.condition.items())]
    specs = dict(services)
    presents: dict[str, dict[str, str] | None] = dict.fromkeys(specs)
    tls13: dict[str, str | None] = dict.fromkeys(specs)
    design: dict[str, str | None] = dict.fromkeys(specs)
    fixes: dict[str, str | None] = dict.fromkeys(specs)
    cited: dict[str, list[ReleaseRule]] = {name: [] for name in specs}
    facts: dict[str, dict[str, tuple[Any, Basis]]] = {name: {} for name in specs}   # fact -> (value, basis)
    catalog_units: dict[str, dict[str, Any]] = {name: {} for name in specs}
    intended = node_design = agent = fix = None
    intended_fact: tuple[Any, Basis] | None = None
    for rule in matching:
        measured = rule.confidence == "uncertain"
        if not measured:
            intended = rule.intended or intended
            node_design, agent, fix = rule.design or node_design, rule.agent or agent, rule.fix or fix
            if rule.intended:
                intended_fact = _based(intended_fact, rule.intended, rule)
        for name in list(specs):
            overrides = {**rule.services.get("*", {}), **rule.services.get(name, {})}
            if not overrides and "*" not in rule.services and name not in rule.services:
                continue
            cited[name].append(rule)
            if overrides.get("enabled") is False:
                del specs[name]
                continue
            changes = {k: overrides[k] for k in ("rsa_unit", "ecdsa_unit", "prefers") if k in overrides}
            if "ecdsa_unit" in changes and changes["ecdsa_unit"] is None:
                changes.setdefault("prefers", "rsa")  # no ECDSA certificate: a browser gets RSA
                if specs[name].ecdsa_unit is not None:  # a unit the catalog has (CAPF's null is no release fact)
                    catalog_units[name].setdefault("ecdsa_unit", specs[name].ecdsa_unit)
                    catalog_units[name].setdefault("prefers", specs[name].prefers)
                if catalog_units[name]:
                    facts[name]["ecdsa_unit"] = _based(facts[name].get("ecdsa_unit"), None, rule)
            elif "ecdsa_unit" in changes:  # a later rule gives the unit back
                facts[name].pop("ecdsa_unit", None)
                catalog_units[name].clear()
            if changes:
                specs[name] = replace(specs[name], **changes)
            if measured:
                continue
            if "presents" in overrides:
                presents[name] = dict(overrides["presents"])
                facts[name]["presents"] = _based(facts[name].get("presents"), presents[name], rule)
            elif "ecdsa_unit" in overrides and overrides["ecdsa_unit"] is None:
                presents[name] = dict(RSA_ONLY_BY_DESIGN)
                facts[name]["presents"] = _based(facts[name].get("presents"), presents[name], rule)
            if "tls1.3" in overrides:
                tls13[name] = overrides["tls1.3"]
                facts[name]["tls1.3"] = _based(facts[name].get("tls1.3"), tls13[name], rule)
            design[name] = overrides.get("design", design[name]) or rule.design
            fixes[name] = overrides.get("fix", fixes[name]) or rule.fix
    view = {name: ServiceRelease(presents[name], tls13[name], design[name], fixes[name],
                                 tuple(s for r in cited[name] for s in r.sources),
                                 max((r.confidence for r in cited[name]), key=CONFIDENCE.index, default="documented")
                                 if cited[name] else "uncertain",
                                 {fact: basis for fact, (_, basis) in facts[name].items()}, catalog_units[name])
            for name in specs}
    node = NodeRelease(release, role, intended, node_design, agent, fix, view,
                       tuple(dict.fromkeys(s for r in matching for s in r.sources)), dict(parameters),
                       tuple(matching), intended_fact[1] if intended_fact else None)
    return node, specs
