"""A pytest plugin that plants a bug in one dualcert rule, for the exit-code test of an
internal error (`dualcert run ... -- -p tests.faults`). Never loaded otherwise."""

from __future__ import annotations

import pytest

from dualcert import checks


def pytest_configure(config: pytest.Config) -> None:
    original = checks.RULES["hostname"]

    def crashing(case: checks.Case) -> checks.Finding:
        if case.has_chain:  # crash where there is something to check, like a real bug would
            raise ZeroDivisionError("planted by tests/faults.py")
        return original(case)

    checks.RULES["hostname"] = crashing
