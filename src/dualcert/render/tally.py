"""What the tests said, gathered as their reports are logged, for the report's matrix and metadata."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dualcert.verdict import SEVERITY, Status, worst


@dataclass
class OutcomeTally:
    """What the tests said, per probe id (node:service:offer:version): the matrix cells' colours."""

    by_case: dict[str, Status] = field(default_factory=dict)   # probe id -> the worst status said of it
    outcomes: dict[str, int] = field(default_factory=dict)     # passed/failed/skipped/error -> count

    def add(self, case_id: str | None, outcome: str, status: Status | None, *, count: bool = True) -> None:
        """`count=False`: a part of a test already counted (a test judging several rules or probes)."""
        if count:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if case_id is None:
            return
        if outcome in ("failed", "error"):
            status = Status.FAIL
        elif outcome == "skipped":
            status = Status.NA
        status = status or Status.PASS
        known = self.by_case.get(case_id)
        if known is None or _RANK[status] < _RANK[known]:
            self.by_case[case_id] = status

    def worst(self, case_ids: Iterable[str]) -> Status | None:
        return worst(self.by_case[c] for c in case_ids if c in self.by_case)


_RANK = {status: rank for rank, status in enumerate(SEVERITY)}   # 0: the worst
