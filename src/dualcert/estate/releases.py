"""What a role's release presents: the catalog's `releases:` rules, read and resolved for one node.

A rule holds for a release range (`when: ">=11.6"`) and, optionally, for a node parameter
(`if: {http_ciphers: rsa-only}`); rules apply in catalog order, later ones over earlier ones.
A rule may change a service's certificate units, say what each offer should get (`presents`),
whether TLS 1.3 is there (`tls1.3: required | optional | absent`), the deployment state the
release intends, the words of its behaviour (`design`) and its fix, and it names its sources
and their `confidence`. A rule whose confidence is `uncertain` constrains nothing: the suite
measures, as it does for a node without `version:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from dualcert.estate.release import Release, ReleaseRange, parse_range
from dualcert.estate.yamlfile import Reader

CONFIDENCE = ("documented", "secondary", "uncertain")
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
    """A node setting a release rule can depend on (e.g. CUCM's HTTP Ciphers enterprise parameter)."""

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
    intended = node_design = agent = fix = None
    for rule in matching:
        measured = rule.confidence == "uncertain"
        if not measured:
            intended = rule.intended or intended
            node_design, agent, fix = rule.design or node_design, rule.agent or agent, rule.fix or fix
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
            if changes:
                specs[name] = replace(specs[name], **changes)
            if measured:
                continue
            if "presents" in overrides:
                presents[name] = dict(overrides["presents"])
            elif "ecdsa_unit" in overrides and overrides["ecdsa_unit"] is None:
                presents[name] = dict(RSA_ONLY_BY_DESIGN)
            tls13[name] = overrides.get("tls1.3", tls13[name])
            design[name] = overrides.get("design", design[name]) or rule.design
            fixes[name] = overrides.get("fix", fixes[name]) or rule.fix
    view = {name: ServiceRelease(presents[name], tls13[name], design[name], fixes[name],
                                 tuple(s for r in cited[name] for s in r.sources),
                                 max((r.confidence for r in cited[name]), key=CONFIDENCE.index, default="documented")
                                 if cited[name] else "uncertain")
            for name in specs}
    node = NodeRelease(release, role, intended, node_design, agent, fix, view,
                       tuple(dict.fromkeys(s for r in matching for s in r.sources)), dict(parameters),
                       tuple(matching))
    return node, specs
