"""A pytest plugin that plants a bug in one dualcert rule, the way a real bug would make it
raise, for the tests of internal errors. Loaded only with `-p tests.faults`.

- DUALCERT_CRASH_RULE: the rule that raises (default `hostname`);
- DUALCERT_CRASH_CASE: the one case (`node:service:offer:tls1.2`) it raises for; without it,
  every case that has a certificate to check."""

from __future__ import annotations

import os

from dualcert import checks

RULE = os.environ.get("DUALCERT_CRASH_RULE", "hostname")
CASE = os.environ.get("DUALCERT_CRASH_CASE")
_original = checks.RULES[RULE]


def _crashing(case: checks.Case) -> checks.Finding:
    if case.test_id == CASE if CASE else case.has_chain:
        raise RuntimeError(f"injected bug in the {RULE} check")
    return _original(case)


checks.RULES[RULE] = _crashing
