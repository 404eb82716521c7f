"""A pytest plugin that plants a bug in dualcert, the way a real bug would make it raise, for the
tests of internal errors. Loaded only with `-p tests.faults`.

- DUALCERT_CRASH_RULE: the rule that raises (default `hostname`); a probe rule raises on a Case,
  a node or cluster rule (e.g. `ecdsa_chain`, `deployment_state`) on the estate view;
- DUALCERT_CRASH_CASE: the one subject it raises for (a probe `node:service:offer:tls1.2`, a node or
  a cluster); without it, every case that has a certificate to check, or every node or cluster;
- DUALCERT_CRASH_FIXTURE=case: instead of a rule, the `dualcert_case` / `dualcert_probe` /
  `dualcert_endpoint` fixtures' setup raises (DualcertRun.case), for DUALCERT_CRASH_CASE or every probe;
  DUALCERT_CRASH_FIXTURE=estate: the node and cluster fixtures' setup raises;
  DUALCERT_CRASH_FIXTURE=facts: the handle raises during the test, outside any rule (handles.probe_facts);
  DUALCERT_CRASH_FIXTURE=probe: the probe phase raises, before any test (DualcertRun.probe)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from dualcert.pytest import handles
from dualcert.rules import registry
from dualcert.rules.probe_rules import Case
from dualcert.run import DualcertRun
from dualcert.verdict import Verdict

RULE = os.environ.get("DUALCERT_CRASH_RULE", "hostname")
CASE = os.environ.get("DUALCERT_CRASH_CASE")
FIXTURE = os.environ.get("DUALCERT_CRASH_FIXTURE")
_original = registry.RULES[RULE]


def _crashing_probe_rule(case: Case) -> Verdict:
    if case.test_id == CASE if CASE else case.has_chain:
        raise RuntimeError(f"injected bug in the {RULE} check")
    return _original.check(case)


def _crashing_estate_rule(view: Any, name: str) -> Verdict:
    if CASE is None or name == CASE:
        raise RuntimeError(f"injected bug in the {RULE} check of {name}")
    return _original.check(view, name)


_original_case = DualcertRun.case
_original_estate_init = handles.EstateHandle.__init__


def _crashing_case(self: DualcertRun, key: Any, **options: Any) -> Case:
    if CASE is None or key.test_id == CASE:
        raise RuntimeError(f"injected bug building the case {key.test_id}")
    return _original_case(self, key, **options)


def _crashing_estate_init(self: handles.EstateHandle, run: DualcertRun, scope: Any, name: str, item: Any) -> None:
    if CASE is None or name == CASE:
        raise RuntimeError(f"injected bug building the {scope.value} handle of {name}")
    _original_estate_init(self, run, scope, name, item)


_original_probe_facts = handles.probe_facts


def _crashing_probe_facts(case: Case) -> dict[str, Any]:
    if CASE is None or case.test_id == CASE:
        raise RuntimeError(f"injected bug in the report columns of {case.test_id}")
    return _original_probe_facts(case)


def _crashing_probe(self: DualcertRun, *args: Any, **kwargs: Any) -> None:
    raise RuntimeError("injected bug in the probe phase")


if FIXTURE == "probe":
    DualcertRun.probe = _crashing_probe  # type: ignore[method-assign]
elif FIXTURE == "facts":
    handles.probe_facts = _crashing_probe_facts
elif FIXTURE == "case":
    DualcertRun.case = _crashing_case  # type: ignore[method-assign]
elif FIXTURE == "estate":
    handles.EstateHandle.__init__ = _crashing_estate_init  # type: ignore[method-assign]
elif _original.scope is registry.Scope.PROBE:
    registry.RULES[RULE] = replace(_original, check=_crashing_probe_rule)
else:
    registry.RULES[RULE] = replace(_original, check=_crashing_estate_rule)
