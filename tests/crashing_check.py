"""A pytest plugin for tests/test_hostile_run.py: makes the `expiry` check raise for one case,
the way a bug would, to show that only that test errors and the run goes on.
Loaded with `-p tests.crashing_check`; the case comes from DUALCERT_CRASH_CASE."""

from __future__ import annotations

import os

from dualcert import checks
from dualcert.checks import Case, Finding

_original = checks.RULES["expiry"]


def _expiry(case: Case) -> Finding:
    if case.test_id == os.environ["DUALCERT_CRASH_CASE"]:
        raise RuntimeError("injected bug in the expiry check")
    return _original(case)


checks.RULES["expiry"] = _expiry
