"""One verdict vocabulary: the Status of a rule's judgement, and the Verdict record every output reads.

A rule returns a Verdict (rule, status, message, fix, and the typed causes the fix answers:
rules/causes.py). The pytest layer adds what it judged
(`subject`: a probe id `node:service:offer:tls1.2`, an endpoint `node:service`, a node or a
cluster), the report's columns (`facts`), and for a test that judges several rules or probes
one part per (probe, rule). The pytest outcome, JUnit properties, the results JSON and the HTML
report are all made from this one record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    NA = "n/a"     # nothing to check (no certificate presented, rule off)


# Worst first: a test judging several rules takes the worst of their statuses.
SEVERITY = (Status.FAIL, Status.WARN, Status.PASS, Status.NA)


def worst(statuses: Iterable[Status]) -> Status | None:
    """The worst status present, None for none at all."""
    found = set(statuses)
    return next((s for s in SEVERITY if s in found), None)


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: str
    status: Status
    message: str
    fix: str = ""
    subject: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    crashed: bool = False                # the check itself raised: a dualcert bug (exit code 3)
    outcome: str | None = None           # a part's own outcome: passed | failed | skipped | error
    parts: tuple[Verdict, ...] = ()      # a test judging several rules (and probes): one per (probe, rule)
    causes: tuple[str, ...] = ()         # why it fails or warns (rules.causes.Cause values), each with its fix
    # What the cause is about, where a validator would name it: the certificate (SHA-256) and what of it
    # failed (a trust verdict: basicConstraints, nameConstraints, validity, signature, ...).
    concerns: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message

    def about(self, subject: str, **facts: Any) -> Verdict:
        """This verdict, naming what it judged and the report's columns for it."""
        return replace(self, subject=subject, facts={**self.facts, **facts})

    def part_of(self, subject: str, outcome: str) -> Verdict:
        """This verdict as one part of a test judging many: naming its probe, with its own outcome.
        Built directly (dataclasses.replace introspects the fields each call: 720,000 parts at
        10,000 endpoints)."""
        return Verdict(self.rule, self.status, self.message, self.fix, subject, self.facts, self.crashed, outcome,
                       self.parts, self.causes, self.concerns)

    def to_props(self, *, with_parts: bool = True) -> dict[str, Any]:
        """JSON-ready, for a test report's user_properties (they cross from xdist workers as JSON)."""
        props: dict[str, Any] = {"subject": self.subject, "rule": self.rule, "status": self.status.value,
                                 "message": self.message, "fix": self.fix}
        if self.facts:
            props["facts"] = dict(self.facts)
        if self.causes:
            props["causes"] = [str(cause) for cause in self.causes]   # plain strings: they cross to xdist's controller
        if self.concerns:
            props["concerns"] = dict(self.concerns)
        if self.crashed:
            props["crashed"] = True
        if self.outcome is not None:
            props["outcome"] = self.outcome
        if self.parts and with_parts:
            props["parts"] = [part.to_props() for part in self.parts]
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> Verdict:
        return cls(rule=props["rule"], status=Status(props["status"]), message=props["message"], fix=props["fix"],
                   subject=props["subject"], facts=props.get("facts", {}), crashed=props.get("crashed", False),
                   outcome=props.get("outcome"), parts=tuple(cls.from_props(p) for p in props.get("parts", ())),
                   causes=tuple(props.get("causes", ())), concerns=props.get("concerns", {}))


def crashed(subject: str, rule: str, exc: Exception) -> Verdict:
    """The verdict of a check that raised: failing, and marked as a dualcert bug."""
    return Verdict(rule, Status.FAIL, f"{subject}: check {rule!r} crashed: {type(exc).__name__}: {exc}",
                   "report this as a dualcert bug, with the results JSON", subject=subject, crashed=True)
