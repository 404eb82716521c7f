"""What the suites' tests receive: a handle on their Case (or endpoint, node, cluster) whose
`require` turns the rule's Finding into the test's outcome, and the facts each test leaves on its
item for the report, the results JSON and JUnit. The plugin's fixtures build these handles."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from dualcert.offers import Offer
from dualcert.probe.observation import ProbeKey
from dualcert.rules.probe_rules import RULES, Case, Finding, Status
from dualcert.run import DualcertRun
from dualcert.safetext import safe

FINDING_KEY = pytest.StashKey["tuple[Case, Finding]"]()
CRASHED_KEY = pytest.StashKey[bool]()  # the check itself raised: an error, not a policy failure
ESTATE_KEY = pytest.StashKey["dict[str, Any]"]()
FINDINGS_KEY = pytest.StashKey["tuple[Case, list[dict[str, Any]]]"]()
ENDPOINT_KEY = pytest.StashKey["tuple[list[Case], list[dict[str, Any]]]"]()


class PolicyWarning(UserWarning):
    """A rule within its warn window (e.g. expiry) or a report-only rule."""


class CaseHandle:
    """What a suite test receives: the Case, and `require(rule)` to turn its Finding into an outcome."""

    def __init__(self, case: Case, item: pytest.Item) -> None:
        self.case, self._item = case, item

    def __getattr__(self, name: str) -> Any:
        return getattr(self.case, name)

    def require(self, rule: str) -> Finding:
        try:
            finding = RULES[rule](self.case)
        except Exception as exc:  # a bug in one check must not hide the others' results
            # ... but it must not pass for a policy failure either: the run ends with exit code 3.
            self._item.stash[CRASHED_KEY] = True
            self._item.stash[FINDING_KEY] = (self.case, _crashed(self.case.test_id, rule, exc))
            raise
        self._item.stash[FINDING_KEY] = (self.case, finding)
        _apply(finding, self._item)
        return finding


def _crashed(subject: str, rule: str, exc: Exception) -> Finding:
    return Finding(rule, Status.FAIL, f"{subject}: check {rule!r} crashed: {type(exc).__name__}: {exc}",
                   "report this as a dualcert bug, with the results JSON")


def _check_all(case: Case, item: pytest.Item) -> tuple[list[Finding], set[str]]:
    """Every rule on one Case; a rule that raises becomes a failing finding (and marks the item
    crashed, so the run exits 3) instead of hiding the other rules' results."""
    findings: list[Finding] = []
    crashed: set[str] = set()
    for rule, check in RULES.items():
        try:
            findings.append(check(case))
        except Exception as exc:
            findings.append(_crashed(case.test_id, rule, exc))
            crashed.add(rule)
            item.stash[CRASHED_KEY] = True
    return findings, crashed


class ProbeHandle(CaseHandle):
    """`--dualcert-items probe`: one test checks every rule of its probe. The test fails when any
    rule fails and names each failing rule; every rule's finding still goes to the results JSON."""

    def require_all(self) -> list[Finding]:
        findings, crashed = _check_all(self.case, self._item)
        records = _finding_records(findings, crashed, self._item)
        self._item.stash[FINDINGS_KEY] = (self.case, records)
        _apply_all(findings, records, self._item)
        return findings


def _finding_records(findings: list[Finding], crashed: set[str], item: pytest.Item,
                     case_id: str | None = None) -> list[dict[str, Any]]:
    """One results-JSON record per rule of a test that checks several (--dualcert-items probe);
    with `case_id` (endpoint mode, where one test covers several probes) each record names its probe."""
    strict = bool(item.config.getoption("dualcert_strict"))

    def outcome(f: Finding) -> str:
        if f.rule in crashed:
            return "error"
        if f.status is Status.FAIL or (strict and f.status is Status.WARN):
            return "failed"
        return "skipped" if f.status is Status.NA else "passed"

    named = {"id": case_id} if case_id is not None else {}
    return [{**named, "rule": f.rule, "status": f.status.value, "message": f.message, "fix": f.fix,
             "crashed": f.rule in crashed, "outcome": outcome(f)} for f in findings]


def _apply_all(findings: list[Finding], records: list[dict[str, Any]], item: pytest.Item,
               labels: list[str] | None = None) -> None:
    """The outcome of a test that checks several rules: fails naming each failing rule, warns for
    each warning, is skipped only when no rule had anything to check. `labels` (endpoint mode)
    prefix each rule with the probe it was judged on, e.g. "ecdsa tls1.3"."""
    tags = [f"{label} {f.rule}" for label, f in zip(labels, findings, strict=True)] if labels \
        else [f.rule for f in findings]
    failing = [(tag, f) for tag, f, r in zip(tags, findings, records, strict=True)
               if r["outcome"] in ("failed", "error")]
    if failing:
        pytest.fail(safe("\n".join(f"[{tag}] {f.text()}" for tag, f in failing)), pytrace=False)
    for tag, finding in zip(tags, findings, strict=True):
        if finding.status is Status.WARN:
            warnings.warn(PolicyWarning(safe(f"[{tag}] {finding.text()}")), stacklevel=3)
    if all(f.status is Status.NA for f in findings):
        pytest.skip(safe("; ".join(dict.fromkeys(f"[{f.rule}] {f.message}" for f in findings))))


def summary_props(records: list[dict[str, Any]], tag: str = "{rule}") -> dict[str, Any]:
    """The report/JSON properties of a test that checks several rules: its worst status, and the
    failing and warning findings' messages and fixes (`tag` formats each record's prefix)."""
    shown = [r for r in records if r["status"] in ("fail", "warn")]
    return {"rule": "all", "status": worst_status([r["status"] for r in records]),
            "message": "; ".join(f"[{tag.format(**r)}] {r['message']}" for r in shown),
            "fix": "; ".join(dict.fromkeys(r["fix"] for r in shown if r["fix"])), "findings": records}


class EndpointHandle:
    """`--dualcert-items endpoint`: one test checks every rule over every probe of one endpoint
    (node:service). It fails naming each failing (offer, version, rule); the results JSON still
    gets one record per probe and rule, each with its probe's id."""

    def __init__(self, run: DualcertRun, keys: tuple[ProbeKey, ...], item: pytest.Item) -> None:
        self.cases = [run.case(key) for key in keys]
        self._item = item

    def require_all(self) -> list[Finding]:
        findings: list[Finding] = []
        records: list[dict[str, Any]] = []
        labels: list[str] = []
        for case in self.cases:
            found, crashed = _check_all(case, self._item)
            findings += found
            records += _finding_records(found, crashed, self._item, case.test_id)
            labels += [f"{case.offer.value} {case.version.value}"] * len(found)
        self._item.stash[ENDPOINT_KEY] = (self.cases, records)
        _apply_all(findings, records, self._item, labels)
        return findings


def endpoint_columns(cases: list[Case]) -> dict[str, Any]:
    """The report's columns for an endpoint test: what its probes saw, each distinct value once."""
    per_case = [case_columns(case) for case in cases]
    first = per_case[0]

    def distinct(name: str) -> str:
        return ", ".join(dict.fromkeys(str(c[name]) for c in per_case if c[name] not in ("", None)))

    days = [c["days_left"] for c in per_case if c["days_left"] is not None]
    return {"node": first["node"], "service": first["service"], "port": first["port"],
            "offer": distinct("offer"), "tls_version": distinct("tls_version"), "presented": distinct("presented"),
            "issuer": distinct("issuer"), "days_left": min(days) if days else None}


def worst_status(statuses: list[str]) -> str:
    return next((s for s in ("fail", "warn", "pass") if s in statuses), "n/a")


class EstateHandle:
    """What a cluster or node test receives: `require(rule)` judges the whole cluster or node."""

    def __init__(self, run: DualcertRun, scope: str, name: str, item: pytest.Item) -> None:
        self.run, self.scope, self.name, self._item = run, scope, name, item

    def finding(self, rule: str) -> Finding:
        if rule == "deployment_state":
            return self._deployment_state()
        from dualcert.rules.estate_rules import CLUSTER_RULES, NODE_RULES

        rules = CLUSTER_RULES if self.scope == "cluster" else NODE_RULES
        try:
            return rules[rule](self.run.estate_view(), self.name)
        except Exception as exc:  # a bug in one rule must not hide the others' results
            return _crashed(f"{self.scope} {self.name}", rule, exc)

    def _deployment_state(self) -> Finding:
        rule = "deployment_state"
        missing = {Offer.ECDSA, Offer.RSA} - set(self.run.options.offers)
        if missing:
            return Finding(rule, Status.NA, f"cluster {self.name}: the diagnosis needs the ecdsa and rsa offers "
                           f"(--offers lacks {', '.join(sorted(o.value for o in missing))})")
        diagnosis = next(d for d in self.run.diagnosis() if d.cluster == self.name)
        if all(not node.readings for node in diagnosis.nodes):
            return Finding(rule, Status.NA, f"cluster {self.name}: no service has an ECDSA certificate in the catalog "
                           "(ecdsa_unit: null), so the deployment states S1-S4 do not apply")
        if diagnosis.state == diagnosis.intended:
            return Finding(rule, Status.PASS, f"cluster {self.name}: measured state {diagnosis.state}, as intended "
                           f"({', '.join(f'{n} {s}' for n, s in diagnosis.node_states.items())}); agent experience: "
                           f"{diagnosis.agent_experience}")
        return Finding(rule, Status.FAIL, diagnosis.message(), diagnosis.fix())

    def require(self, rule: str) -> Finding:
        finding = self.finding(rule)
        self._item.stash[ESTATE_KEY] = {
            "node": self.name if self.scope == "node" else "", "service": f"cluster {self.name}"
            if self.scope == "cluster" else "", "rule": finding.rule, "status": finding.status.value,
            "message": finding.message, "fix": finding.fix, "case": self.name, "scope": self.scope,
        }
        _apply(finding, self._item)
        return finding

    def require_all(self) -> list[Finding]:
        """Every node rule in one test (--dualcert-items probe); one results record per rule."""
        from dualcert.rules.estate_rules import NODE_RULES

        findings = [self.finding(rule) for rule in NODE_RULES]
        records = _finding_records(findings, set(), self._item)
        self._item.stash[ESTATE_KEY] = {"node": self.name, "service": "", "case": self.name, "scope": "node",
                                        **summary_props(records)}
        _apply_all(findings, records, self._item)
        return findings


def _apply(finding: Finding, item: pytest.Item) -> None:
    """Turn a Finding into the test's outcome: fail, skip (nothing to check), or pass with a warning."""
    if finding.status is Status.FAIL:
        pytest.fail(safe(finding.text()), pytrace=False)
    if finding.status is Status.NA:
        pytest.skip(safe(finding.message))
    if finding.status is Status.WARN:
        if item.config.getoption("dualcert_strict"):
            pytest.fail(safe("warning made fatal by --strict: " + finding.text()), pytrace=False)
        warnings.warn(PolicyWarning(safe(finding.text())), stacklevel=3)


def case_columns(case: Case) -> dict[str, Any]:
    """The per-test facts shown in the report's columns and stored with each test record."""
    o = case.observation
    columns: dict[str, Any] = {
        "node": case.endpoint.node, "service": case.endpoint.service.name, "port": case.endpoint.port,
        "offer": case.offer.value, "tls_version": case.version.value, "presented": o.outcome.value,
        "issuer": "", "days_left": None,
    }
    if case.has_chain:
        leaf = case.chain.leaf
        columns["presented"] = f"{leaf.key_type} {leaf.curve or leaf.key_size}"
        columns["issuer"] = "self-signed" if leaf.self_signed else (leaf.issuer_common_name or leaf.issuer)
        columns["days_left"] = int(min(c.days_left(case.now) for c in case.chain.certs))
    return columns
