"""A pytest plugin that plants a bug in one dualcert rule, the way a real bug would make it
raise, for the tests of internal errors. Loaded only with `-p tests.faults`.

- DUALCERT_CRASH_RULE: the rule that raises (default `hostname`);
- DUALCERT_CRASH_CASE: the one case (`node:service:offer:tls1.2`) it raises for; without it,
  every case that has a certificate to check."""

from __future__ import annotations

import os
from dataclasses import replace

from dualcert.rules import registry
from dualcert.rules.probe_rules import Case
from dualcert.verdict import Verdict

RULE = os.environ.get("DUALCERT_CRASH_RULE", "hostname")
CASE = os.environ.get("DUALCERT_CRASH_CASE")
_original = registry.RULES[RULE]


def _crashing(case: Case) -> Verdict:
    if case.test_id == CASE if CASE else case.has_chain:
        raise RuntimeError(f"injected bug in the {RULE} check")
    return _original.check(case)


registry.RULES[RULE] = replace(_original, check=_crashing)
