"""What the suites' tests receive: a handle on their probe, endpoint, node or cluster whose `require`
judges a rule and turns the Verdict into the test's outcome; and the fixtures that build them.

Each handle leaves exactly one Verdict on its item (state.VERDICT_KEY); pytest/report.py puts it
on the test's report as its properties, from which the results JSON and the HTML are made.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from dualcert.probe.observation import ProbeKey
from dualcert.pytest.items import subject_of
from dualcert.pytest.state import RUN_KEY, VERDICT_KEY, strict
from dualcert.rules.client_rules import ClientCase
from dualcert.rules.probe_rules import Case
from dualcert.rules.registry import Scope, rule, rules_of
from dualcert.run import DualcertRun
from dualcert.safetext import safe
from dualcert.verdict import Status, Verdict, crashed, worst


class PolicyWarning(UserWarning):
    """A rule within its warn window (e.g. expiry) or a report-only rule."""


class CaseHandle:
    """One probe (`dualcert_case`): `require(rule)` judges one rule on it."""

    def __init__(self, case: Case, item: pytest.Item) -> None:
        self.case, self._item = case, item

    def __getattr__(self, name: str) -> Any:
        return getattr(self.case, name)

    def facts(self) -> dict[str, Any]:
        return probe_facts(self.case)

    def require(self, name: str) -> Verdict:
        case, facts = self.case, self.facts()
        try:
            verdict = rule(name).check(case)
        except Exception as exc:  # a bug in one check must not hide the others' results ...
            # ... but it must not pass for a policy failure either: the run ends with exit code 3.
            self._item.stash[VERDICT_KEY] = crashed(case.test_id, name, exc).about(case.test_id, **facts)
            raise
        verdict = verdict.about(case.test_id, **facts)
        self._item.stash[VERDICT_KEY] = verdict
        _apply(verdict, self._item)
        return verdict


def _judge_all(case: Case | ClientCase, item: pytest.Item, scope: Scope = Scope.PROBE) -> list[Verdict]:
    """Every rule of `scope` on one Case, each with its own outcome; a rule that raises becomes a crashed
    part (the run exits 3) instead of hiding the other rules' results."""
    parts = []
    subject, fatal_warnings = case.test_id, strict(item.config)
    for probe_rule in rules_of(scope):
        try:
            verdict = probe_rule.check(case)
        except Exception as exc:
            verdict = crashed(subject, probe_rule.name, exc)
        parts.append(verdict.part_of(subject, _outcome(verdict, fatal_warnings)))
    return parts


def _outcome(verdict: Verdict, fatal_warnings: bool) -> str:
    if verdict.crashed:
        return "error"
    if verdict.status is Status.FAIL or (fatal_warnings and verdict.status is Status.WARN):
        return "failed"
    return "skipped" if verdict.status is Status.NA else "passed"


def _summary(subject: str, parts: list[Verdict], facts: dict[str, Any]) -> Verdict:
    """The verdict of a test judging several rules (and probes): the worst status, every part kept."""
    return Verdict("all", worst(p.status for p in parts) or Status.NA, "", "", subject, facts, parts=tuple(parts))


class ProbeHandle(CaseHandle):
    """`--dualcert-items probe`: one test checks every rule of its probe. It fails naming each
    failing rule; every rule's verdict still goes to the results JSON."""

    scope = Scope.PROBE

    def require_all(self) -> list[Verdict]:
        parts = _judge_all(self.case, self._item, self.scope)
        self._item.stash[VERDICT_KEY] = _summary(self.case.test_id, parts, self.facts())
        _apply_all(parts, [p.rule for p in parts])
        return parts


class EndpointHandle:
    """`--dualcert-items endpoint`: one test checks every rule over every probe of one endpoint
    (node:service). It fails naming each failing (offer, version, rule)."""

    def __init__(self, run: DualcertRun, keys: tuple[ProbeKey, ...], item: pytest.Item) -> None:
        self.cases = [run.case(key, keep=False) for key in keys]
        self._item = item

    def require_all(self) -> list[Verdict]:
        parts: list[Verdict] = []
        tags: list[str] = []
        for case in self.cases:
            found = _judge_all(case, self._item)
            parts += found
            tags += [f"{case.offer.value} {case.version.value} {p.rule}" for p in found]
        first = self.cases[0]
        subject = f"{first.endpoint.node}:{first.endpoint.service.name}"
        self._item.stash[VERDICT_KEY] = _summary(subject, parts, endpoint_facts(self.cases))
        _apply_all(parts, tags)
        return parts


class ClientHandle(ProbeHandle):
    """A simulated client's probe: `require(rule)` judges one client rule on it (`dualcert_client`),
    `require_all()` every client rule (`dualcert_client_rules`, --dualcert-items probe or endpoint)."""

    scope = Scope.CLIENT

    case: ClientCase  # type: ignore[assignment]

    def __init__(self, case: ClientCase, item: pytest.Item) -> None:
        self.case, self._item = case, item

    def facts(self) -> dict[str, Any]:
        return {**probe_facts(self.case), "scope": "client", "client": self.case.profile.name,
                "negotiated_version": self.case.negotiated}


class EstateHandle:
    """What a cluster or node test receives: `require(rule)` judges the whole cluster or node."""

    def __init__(self, run: DualcertRun, scope: Scope, name: str, item: pytest.Item) -> None:
        self.run, self.scope, self.name, self._item = run, scope, name, item
        self.facts = {"node": name if scope is Scope.NODE else "",
                      "service": f"cluster {name}" if scope is Scope.CLUSTER else "", "scope": scope.value}

    def verdict(self, name: str) -> Verdict:
        try:
            verdict = rule(name).check(self.run.estate_view(), self.name)
        except Exception as exc:  # a bug in one rule must not hide the others' results
            verdict = crashed(f"{self.scope.value} {self.name}", name, exc)
        return verdict.about(self.name, **self.facts)

    def require(self, name: str) -> Verdict:
        verdict = self.verdict(name)
        self._item.stash[VERDICT_KEY] = verdict
        _apply(verdict, self._item)
        return verdict

    def require_all(self) -> list[Verdict]:
        """Every node rule in one test (--dualcert-items probe/endpoint); one results record per rule."""
        fatal_warnings = strict(self._item.config)
        verdicts = [self.verdict(r.name) for r in rules_of(self.scope)]
        parts = [v.part_of(v.subject, _outcome(v, fatal_warnings)) for v in verdicts]
        self._item.stash[VERDICT_KEY] = _summary(self.name, parts, self.facts)
        _apply_all(parts, [p.rule for p in parts])
        return parts


class NodesHandle:
    """`--dualcert-items endpoint`: one test judges every node rule of a cluster's nodes; it fails naming each
    failing (node, rule), and the results JSON holds one record per node and rule."""

    def __init__(self, nodes: list[EstateHandle], item: pytest.Item) -> None:
        self.nodes, self._item = nodes, item

    def require_all(self) -> list[Verdict]:
        fatal_warnings = strict(self._item.config)
        parts = [v.part_of(v.subject, _outcome(v, fatal_warnings))
                 for node in self.nodes for v in (node.verdict(r.name) for r in rules_of(Scope.NODE))]
        names = [node.name for node in self.nodes]
        facts = {"node": ", ".join(names), "service": "", "scope": Scope.NODE.value}
        self._item.stash[VERDICT_KEY] = _summary(subject_of(self._item), parts, facts)
        _apply_all(parts, [f"{p.subject} {p.rule}" for p in parts])
        return parts


def _apply(verdict: Verdict, item: pytest.Item) -> None:
    """Turn a Verdict into the test's outcome: fail, skip (nothing to check), or pass with a warning."""
    if verdict.status is Status.FAIL:
        pytest.fail(safe(verdict.text()), pytrace=False)
    if verdict.status is Status.NA:
        pytest.skip(safe(verdict.message))
    if verdict.status is Status.WARN:
        if strict(item.config):
            pytest.fail(safe("warning made fatal by --strict: " + verdict.text()), pytrace=False)
        warnings.warn(PolicyWarning(safe(verdict.text())), stacklevel=3)


def _apply_all(parts: list[Verdict], tags: list[str]) -> None:
    """The outcome of a test judging several rules: fails naming each failing one (`tags` say which,
    e.g. "ecdsa tls1.3 expiry"), warns for each warning, is skipped only when nothing had anything to check."""
    failing = [(tag, p) for tag, p in zip(tags, parts, strict=True) if p.outcome in ("failed", "error")]
    if failing:
        pytest.fail(safe("\n".join(f"[{tag}] {p.text()}" for tag, p in failing)), pytrace=False)
    for tag, part in zip(tags, parts, strict=True):
        if part.status is Status.WARN:
            warnings.warn(PolicyWarning(safe(f"[{tag}] {part.text()}")), stacklevel=3)
    if all(p.status is Status.NA for p in parts):
        pytest.skip(safe("; ".join(dict.fromkeys(f"[{p.rule}] {p.message}" for p in parts))))


def probe_facts(case: Case | ClientCase) -> dict[str, Any]:
    """The report's columns for one probe: where, which offer, what was presented."""
    o = case.observation
    facts: dict[str, Any] = {
        "node": case.endpoint.node, "service": case.endpoint.service.name, "port": case.endpoint.port,
        "offer": o.key.offer.value, "tls_version": o.key.version.value, "presented": o.outcome.value,
        "issuer": "", "days_left": None, "scope": "probe",
    }
    if case.has_chain:
        leaf = case.chain.leaf
        facts["presented"] = f"{leaf.key_type} {leaf.curve or leaf.key_size}"
        facts["issuer"] = "self-signed" if leaf.self_signed else (leaf.issuer_common_name or leaf.issuer)
        facts["days_left"] = int(min(c.days_left(case.now) for c in case.chain.certs))
    return facts


def endpoint_facts(cases: list[Case]) -> dict[str, Any]:
    """The report's columns for an endpoint test: what its probes saw, each distinct value once."""
    per_case = [probe_facts(case) for case in cases]
    first = per_case[0]

    def distinct(name: str) -> str:
        return ", ".join(dict.fromkeys(str(c[name]) for c in per_case if c[name] not in ("", None)))

    days = [c["days_left"] for c in per_case if c["days_left"] is not None]
    return {"node": first["node"], "service": first["service"], "port": first["port"],
            "offer": distinct("offer"), "tls_version": distinct("tls_version"), "presented": distinct("presented"),
            "issuer": distinct("issuer"), "days_left": min(days) if days else None, "scope": "endpoint"}


@pytest.fixture
def dualcert_case(request: pytest.FixtureRequest) -> CaseHandle:
    return CaseHandle(request.config.stash[RUN_KEY].case(request.param), request.node)


@pytest.fixture
def dualcert_probe(request: pytest.FixtureRequest) -> ProbeHandle:
    return ProbeHandle(request.config.stash[RUN_KEY].case(request.param, keep=False), request.node)


@pytest.fixture
def dualcert_endpoint(request: pytest.FixtureRequest) -> EndpointHandle:
    return EndpointHandle(request.config.stash[RUN_KEY], request.param, request.node)


@pytest.fixture
def dualcert_client(request: pytest.FixtureRequest) -> ClientHandle:
    return ClientHandle(request.config.stash[RUN_KEY].client_case(request.param), request.node)


@pytest.fixture
def dualcert_client_rules(request: pytest.FixtureRequest) -> ClientHandle:
    return ClientHandle(request.config.stash[RUN_KEY].client_case(request.param), request.node)


@pytest.fixture
def dualcert_cluster(request: pytest.FixtureRequest) -> EstateHandle:
    return EstateHandle(request.config.stash[RUN_KEY], Scope.CLUSTER, request.param, request.node)


@pytest.fixture
def dualcert_node(request: pytest.FixtureRequest) -> EstateHandle:
    return EstateHandle(request.config.stash[RUN_KEY], Scope.NODE, request.param, request.node)


@pytest.fixture
def dualcert_node_rules(request: pytest.FixtureRequest) -> EstateHandle | NodesHandle:
    run, param = request.config.stash[RUN_KEY], request.param
    if isinstance(param, tuple):
        return NodesHandle([EstateHandle(run, Scope.NODE, name, request.node) for name in param], request.node)
    return EstateHandle(run, Scope.NODE, param, request.node)
