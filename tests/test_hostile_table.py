"""The "Hostile inputs and servers" table in docs/hostile-inputs.md is the list of cases the tests
measure (tests/hostile.py); regenerate it with `pytest --update-hostile-table`."""

from __future__ import annotations

from pathlib import Path

from .doctables import doc_table
from .hostile import CASES, HOSTILE_DOC, TABLE, render


def test_doc_table_matches_the_measured_cases() -> None:
    table = doc_table(HOSTILE_DOC.read_text(encoding="utf-8"), TABLE)
    assert table is not None, "docs/hostile-inputs.md lacks the hostile-table markers"
    assert table == render({c.id: c.expected for c in CASES.values()}), \
        "docs/hostile-inputs.md's hostile table is stale: run `python -m pytest --update-hostile-table`"


def test_every_case_is_measured_by_a_test() -> None:
    sources = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_hostile_*.py"))
    unmeasured = [case_id for case_id in CASES if f'"{case_id}"' not in sources]
    assert not unmeasured, unmeasured
    assert len(CASES) >= 30
