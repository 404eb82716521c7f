"""The agreement table: each case's expected verdict, each validator's, dualcert's over real TLS, and
whether they agree (dualcert matches the expected verdict, or at least two validators; with two
validators judging, both)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .case import Case
from .harness import batches, faketime_library, run_dualcert
from .judges import JUDGES, Unavailable, Verdict, judge_all
from .serve import Servers

VALIDATORS = tuple(JUDGES)
MIN_AGREEMENT = 0.99
_WORD = {True: "accept", False: "reject", None: "n/a"}


@dataclass(frozen=True)
class Row:
    case: Case
    validators: dict[str, Verdict]
    dualcert: Verdict | None   # None: not served (the reason is in Outcome.unservable)

    @property
    def agrees(self) -> bool:
        if self.dualcert is None:
            return False
        mine = self.dualcert.accepted
        judged = [v.accepted for v in self.validators.values() if v.accepted is not None]
        return mine == self.case.expected or sum(v == mine for v in judged) >= 2


@dataclass
class Outcome:
    rows: list[Row]
    missing: dict[str, str]                                      # validator -> why it did not run
    unservable: dict[str, str] = field(default_factory=dict)     # case id -> why nobody could serve it
    run_seconds: list[float] = field(default_factory=list)       # each dualcert run

    @property
    def served(self) -> list[Row]:
        return [r for r in self.rows if r.dualcert is not None]

    @property
    def deviations(self) -> list[Row]:
        return [r for r in self.served if not r.agrees]

    def agreement(self) -> float:
        return 1 - len(self.deviations) / len(self.served) if self.served else 0.0

    def per_validator(self) -> dict[str, tuple[int, int]]:
        """For each validator: (cases where dualcert's verdict is its verdict, cases it judged)."""
        out = {}
        for name in VALIDATORS:
            judged = [r for r in self.served if r.validators.get(name, Verdict(None)).accepted is not None]
            same = sum(r.validators[name].accepted == r.dualcert.accepted for r in judged)   # type: ignore[union-attr]
            out[name] = (same, len(judged))
        return out

    def table(self) -> str:
        width = max(len(r.case.id) for r in self.rows)
        head = f"{'case':{width}}  expected  {'  '.join(f'{v:8}' for v in VALIDATORS)}  dualcert  agrees"
        lines = [head, "-" * len(head)]
        for row in self.rows:
            cells = [f"{_WORD[row.validators[v].accepted] if v in row.validators else '-':8}" for v in VALIDATORS]
            mine = _WORD[row.dualcert.accepted] if row.dualcert else "not served"
            agrees = "yes" if row.agrees else ("-" if row.dualcert is None else "NO")
            lines.append(f"{row.case.id:{width}}  {_WORD[row.case.expected]:8}  {'  '.join(cells)}  {mine:8}  {agrees}")
        return "\n".join([*lines, "", *self.summary()])

    def summary(self) -> list[str]:
        served, deviating = len(self.served), len(self.deviations)
        lines = [f"cases: {len(self.rows)}, served: {served}, not servable: {len(self.unservable)}, "
                 f"agreement: {served - deviating}/{served} = {self.agreement():.1%}"]
        lines += [f"dualcert = {name}: {same}/{judged}" for name, (same, judged) in self.per_validator().items()]
        lines += [f"validator not run: {name}: {why}" for name, why in self.missing.items()]
        lines += [f"not servable: {case_id}: {why}" for case_id, why in self.unservable.items()]
        lines += [f"deviation: {r.case.id}: expected {_WORD[r.case.expected]}, dualcert "
                  f"{_WORD[r.dualcert.accepted] if r.dualcert else '-'} ({r.case.why})" for r in self.deviations]
        return lines


def measure(cases: Sequence[Case], work: Path) -> Outcome:
    """Every case judged by the validators, served on 127.0.0.1 and judged by `dualcert run`."""
    verdicts, missing = judge_all(cases, work / "judges")
    outcome = Outcome([], missing)
    found: dict[str, Verdict] = {}
    with Servers(cases, work / "serve") as servers:
        outcome.unservable.update(servers.refused)
        for index, batch in enumerate(batches([c for c in cases if c.id in servers.ports])):
            if batch[0].at is not None:
                try:
                    faketime_library()
                except Unavailable as exc:
                    outcome.unservable.update({c.id: str(exc) for c in batch})
                    continue
            judged, seconds, unanswered = run_dualcert(batch, servers.ports, work / f"run{index}")
            found.update(judged)
            outcome.unservable.update(unanswered)
            outcome.run_seconds.append(seconds)
    for case in cases:
        outcome.rows.append(Row(case, {name: got[case.id] for name, got in verdicts.items()}, found.get(case.id)))
    return outcome


def documented_deviations(page: Path, heading: str = "### Deliberate deviations") -> dict[str, str]:
    """The cases a table of docs/checks.md lists under `heading` (the deliberate deviations, or the cases
    that cannot be served): case id -> reason."""
    text = page.read_text(encoding="utf-8")
    part = text.split(heading, 1)[1].split("\n#", 1)[0] if heading in text else ""
    return {m[1]: m[2].strip() for m in re.finditer(r"^\| `([A-Za-z0-9._-]+)` \|(.+)\|\s*$", part, re.MULTILINE)}
