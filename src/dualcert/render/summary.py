"""The run's verdict, grouped: failures and warnings by cause and by certificate, one finding each.

A certificate presented on 2,000 endpoints that fails (or warns about) one rule is one finding that
says where it is presented, not 12,000 lines. Built from the results JSON's own records (tests,
probes, diagnosis), so the terminal, the results JSON's `summary`, the HTML report, `dualcert merge`
and `dualcert report` all say the same thing. Pure: records in, JSON-ready dicts and text lines out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dualcert.render.text import as_intended, diagnosis_lines
from dualcert.safetext import safe

FAILED_OUTCOMES = ("failed", "error")
WHERE_SHOWN = 4          # endpoints named on a finding's line before "and N more"
DEFAULT_LINES = 40       # the terminal's summary in `short` mode
EACH_NODE = "each node"


def is_finding(status: object, outcome: object) -> bool:
    """A test record the summary groups: a warning, or a failed or errored test."""
    return status == "warn" or outcome in FAILED_OUTCOMES


@dataclass
class _Group:
    status: str
    rule: str
    certificate: dict[str, Any] | None
    causes: dict[str, int] = field(default_factory=dict)
    where: dict[str, list[str]] = field(default_factory=dict)     # node -> services, in order seen
    fixes: dict[str, str] = field(default_factory=dict)           # node -> its fix
    tests: int = 0
    failed: bool = False

    def add(self, node: str, service: str | None, cause: str, fix: str, failed: bool) -> None:
        self.tests += 1
        self.failed = self.failed or failed
        self.causes[cause] = self.causes.get(cause, 0) + 1
        services = self.where.setdefault(node, [])
        if service and service not in services:
            services.append(service)
        self.fixes.setdefault(node, fix)

    def to_json(self) -> dict[str, Any]:
        cause = max(self.causes, key=lambda c: self.causes[c])  # the most common wording (first on a tie)
        return {"status": self.status, "rule": self.rule, "cause": cause, "certificate": self.certificate,
                "where": self.where, "nodes": len(self.where),
                "endpoints": sum(max(1, len(s)) for s in self.where.values()), "tests": self.tests,
                "fix": common_fix(self.fixes), "failed": self.failed}


def common_fix(fixes: Mapping[str, str]) -> str:
    """One fix for a finding: the nodes' fixes said once, naming "each node" when they differ only by it."""
    texts = list(dict.fromkeys(fixes.values()))
    if len(texts) <= 1:
        return texts[0] if texts else ""
    # The node's name as a whole word: "web1" must not rewrite "web10" or a longer host name.
    general = {re.sub(rf"(?<![\w.-]){re.escape(node)}(?![\w-]|\.\w)", EACH_NODE, fix) for node, fix in fixes.items()}
    return general.pop() if len(general) == 1 else texts[0]


def split_subject(message: str, subject: str) -> str:
    """The message without the subject it begins with (a probe's "node service (host:port), ecdsa offer
    over TLS 1.2: ", a node's "node: ", a cluster's "cluster name: "): what the rule found, in the same words
    wherever it is found. A results file keeps test messages so (docs/results-json.md), the subject being
    the test's id; applied to a message already without it, it changes nothing."""
    first = message.split("\n", 1)[0]
    marker = first.find(" offer over TLS ")
    if marker >= 0 and ": " in first[marker:]:
        return message[first.index(": ", marker) + 2:]
    for lead in (f"{subject}: ", f"cluster {subject}: "):
        if subject and message.startswith(lead):
            return message[len(lead):]
    return message


def _cause(test: Mapping[str, Any]) -> str:
    """What is wrong, the same wording wherever it is wrong: the message's first line, without its subject."""
    return split_subject(str(test.get("message") or ""), str(test.get("id") or "")).split("\n", 1)[0]


def _certificate(probe: Mapping[str, Any] | None) -> dict[str, Any] | None:
    chain = (probe or {}).get("chain") or []
    if not chain:
        return None
    leaf = chain[0]
    return {key: leaf.get(key) for key in ("sha256", "subject", "issuer", "key_type", "curve", "key_size",
                                           "not_after", "self_signed")}


def summarize(tests: Iterable[Mapping[str, Any]], probes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The results JSON's `summary`: failing and warning tests grouped by (rule, presented leaf) for a
    probe's tests and by (rule, cause) for a node's or cluster's, most tests first."""
    notable = [t for t in tests if is_finding(t.get("status"), t.get("outcome"))]
    # Only the probes the findings name: a run's probe records are handed out as fresh dicts, and
    # indexing all of them held the whole list again (60,000 at 10,000 endpoints).
    named = {str(t.get("id") or "") for t in notable}
    by_id = {probe_id: p for p in probes
             if (probe_id := f"{p['node']}:{p['service']}:{p['offer']}:{p['tls_version']}") in named}
    groups: dict[tuple[str, str, str], _Group] = {}
    failed_tests = warned_tests = 0
    for test in notable:
        status, outcome = test.get("status"), test.get("outcome")
        if status == "warn":
            kind = "warn"
            warned_tests += 1
        elif outcome in FAILED_OUTCOMES:
            kind = "fail"
            failed_tests += 1
        else:
            continue
        test_id, rule = str(test.get("id") or ""), str(test.get("rule") or test.get("test") or "")
        probe = by_id.get(test_id)
        certificate = _certificate(probe)
        cause = _cause(test)
        key = (kind, rule, certificate["sha256"] if certificate else "cause:" + cause)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(kind, rule, certificate)
        node, _, rest = test_id.partition(":")
        group.add(node, rest.split(":", 1)[0] or None, cause, str(test.get("fix") or ""),
                  outcome in FAILED_OUTCOMES)
    findings = sorted((g.to_json() for g in groups.values()), key=lambda f: (-f["tests"], f["rule"]))
    return {"failed_tests": failed_tests, "warned_tests": warned_tests,
            "failures": [f for f in findings if f["status"] == "fail"],
            "warnings": [f for f in findings if f["status"] == "warn"]}


# ---------------------------------------------------------------- text

def where_text(where: Mapping[str, Sequence[str]], shown: int = WHERE_SHOWN) -> str:
    """"n1: tomcat, socketio; n2: tomcat" with endpoints past `shown` collapsed behind a count."""
    parts, count = [], 0
    for node, services in where.items():
        if count >= shown:
            break
        names = list(services)[:max(1, shown - count)]
        count += max(1, len(names))
        parts.append(f"{node}: {', '.join(names)}" if names else node)
    total = sum(max(1, len(s)) for s in where.values())
    if total <= count:
        return "; ".join(parts)
    return f"{total} endpoints of {len(where)} node(s): {'; '.join(parts)} and {total - count} more"


def certificate_text(cert: Mapping[str, Any]) -> str:
    key = f"{cert.get('key_type')} {cert.get('curve') or cert.get('key_size') or ''}".strip()
    signed = "self-signed" if cert.get("self_signed") else f"issued by {cert.get('issuer')}"
    return (f"{key} {cert.get('subject')}, {signed}, expires {str(cert.get('not_after'))[:10]}, "
            f"sha256 {str(cert.get('sha256'))[:16]}")


def finding_lines(finding: Mapping[str, Any]) -> list[str]:
    label = "FAIL" if finding["status"] == "fail" else "WARN"
    lines = [f"  {label} {finding['rule']}: {finding['cause']}"]
    if finding.get("certificate"):
        lines.append(f"       certificate: {certificate_text(finding['certificate'])}")
    lines.append(f"       on {where_text(finding['where'])} ({finding['tests']} test(s))")
    if finding.get("fix"):
        lines.append(f"       fix: {finding['fix']}")
    return lines


@dataclass(frozen=True)
class Line:
    """A line of the terminal summary and how it is coloured (on a terminal only)."""

    text: str
    colour: str = ""      # red | yellow | green | ""


def _coloured(texts: Iterable[str]) -> list[Line]:
    return [Line(t, "green" if " as intended: " in t else "red" if " intended " in t else "") for t in texts]


def _diagnosis(diagnosis: Sequence[Mapping[str, Any]], mode: str, limit: int) -> list[Line]:
    """The clusters' diagnosis as `dualcert lab` prints it. Short: the clusters as intended on one line and
    the others in at most half the budget, so that a thousand clusters leave room for the failures."""
    if mode != "short" or not diagnosis:
        return _coloured(diagnosis_lines(diagnosis))
    intended = [str(d["cluster"]) for d in diagnosis if as_intended(d)]
    header = diagnosis_lines(diagnosis[:1])[0]
    others = diagnosis_lines([d for d in diagnosis if not as_intended(d)])[1:]
    lines = _coloured([header])
    if intended:
        more = f" and {len(intended) - WHERE_SHOWN} more" if len(intended) > WHERE_SHOWN else ""
        lines.append(Line(safe(f"  {len(intended)} cluster(s) as intended: {', '.join(intended[:WHERE_SHOWN])}{more}"),
                          "green"))
    lines += _coloured(others)
    if len(lines) > limit // 2:
        lines = [*lines[:limit // 2 - 1], Line(f"  ... {len(lines) - limit // 2 + 1} more diagnosis line(s)")]
    return lines


def _clients(lines: Sequence[str], mode: str, limit: int) -> list[Line]:
    """The clients that would break; short: at most a quarter of the budget, since each breaking client
    test is among the failures too and must not push them out."""
    shown = list(lines) if mode != "short" or len(lines) <= limit // 4 else \
        [*lines[:limit // 4 - 1], f"  ... {len(lines) - limit // 4 + 1} more client line(s)"]
    return [Line(text, "red") for text in shown]


def summary_lines(summary: Mapping[str, Any], diagnosis: Sequence[Mapping[str, Any]], *, strict: bool,
                  reports: Sequence[str], mode: str = "short", limit: int = DEFAULT_LINES,
                  clients: Sequence[str] = ()) -> list[Line]:
    """The verdict after pytest's line: each cluster's diagnosis, the simulated clients that would break
    (`clients`: render.clients.breaking_lines), the failures, the warnings, capped at `limit` lines in
    `short` mode ("... N more in <report>"); the report paths always close it."""
    if mode == "off":
        return [Line(f"report: {path}") for path in reports]
    failures, warnings = summary.get("failures", []), summary.get("warnings", [])
    body = _diagnosis(diagnosis, mode, limit)
    body += _clients(clients, mode, limit)
    if failures:
        body.append(Line(f"Failures: {summary['failed_tests']} failed test(s) in {len(failures)} finding(s), "
                         "by cause and certificate:", "red"))
        body += [Line(safe(t), "red" if t.startswith("  FAIL") else "") for f in failures for t in finding_lines(f)]
    if warnings:
        how = "failed (--strict)" if strict else "passed; --strict makes them fail"
        body.append(Line(f"Warnings: {summary['warned_tests']} policy warning(s), {how}, in {len(warnings)} "
                         "finding(s) by cause and certificate:", "yellow"))
        body += [Line(safe(t), "yellow" if t.startswith("  WARN") else "") for f in warnings
                 for t in finding_lines(f)]
    if not failures and not warnings:
        body.append(Line("No failures, no warnings.", "green"))
    if mode == "short" and len(body) > limit:
        where = reports[0] if reports else "the report"
        body = [*body[:limit - 1], Line(f"... {len(body) - limit + 1} more line(s) in {where} "
                                        "(-v or --dualcert-summary full shows them all)")]
    return [*body, *[Line(f"report: {path}") for path in reports]]
