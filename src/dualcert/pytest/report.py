"""Each test report carries its test's Verdict (user_properties "dualcert"), the one record the results
JSON, the HTML report and the terminal summary read; per-rule tests also carry JUnit's plain properties."""

from __future__ import annotations

import weakref
from collections.abc import Generator
from typing import Any

import pytest

from dualcert.pytest.items import DUALCERT_FIXTURES, subject_of
from dualcert.pytest.state import VERDICT_KEY, run_of
from dualcert.render.clients import breaking_lines
from dualcert.verdict import Verdict

PROPERTY = "dualcert"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.when == "teardown" and VERDICT_KEY in item.stash:
        del item.stash[VERDICT_KEY]  # on the call report now: items live the whole session, verdicts need not
    if run_of(item.config) is None or (call.when == "teardown" and not report.failed):
        return report  # JUnit writes a teardown report's properties: only the plain ones below
    verdict = item.stash.get(VERDICT_KEY, None) if call.when == "call" else None
    # The parts (a dict each, 60 per endpoint test) only for a report that leaves this process (an xdist
    # worker's) or is read without its Verdict (below); the readers here take the Verdict itself (_live).
    on_worker = hasattr(item.config, "workerinput")
    props: dict[str, Any] = verdict.to_props(with_parts=on_worker) if verdict is not None \
        else {"subject": subject_of(item)}
    excinfo = call.excinfo
    if report.failed and excinfo is not None and _raised_unexpectedly(item, excinfo):
        # A dualcert fixture or handle raised (not a verdict's pytest.fail): a dualcert bug, never a policy failure.
        props["crashed"] = True
        if verdict is None:
            what = "check" if call.when == "call" else f"fixture {call.when}"
            props["message"] = f"dualcert {what} crashed: {excinfo.typename}: {excinfo.value}"
    props["test"] = getattr(item, "originalname", item.name)
    report.user_properties.append((PROPERTY, props))
    if verdict is not None and bool(props.get("crashed")) == verdict.crashed:
        _live[report] = verdict   # what the props say, as an object: read while the report is logged
    elif verdict is not None and verdict.parts and "parts" not in props:
        props["parts"] = [part.to_props() for part in verdict.parts]
    if verdict is not None and verdict.facts.get("scope") == "probe" and not verdict.parts:
        # --junitxml writes the item's properties at teardown: plain ones, one per fact.
        item.user_properties += [(name, verdict.facts[name]) for name in ("node", "service", "offer", "tls_version")]
        item.user_properties += [("rule", verdict.rule), ("status", verdict.status.value)]
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> Generator[None, Any, Any]:
    """Once every plugin has read a report (results records, HTML row and matrix, JUnit, an xdist worker's
    send), its verdict's parts go: pytest keeps every report to the end of the session, and an endpoint
    test's parts (a dict per probe and rule) held again what the results records hold: ~20 KB per endpoint."""
    result = yield
    _live.pop(report, None)
    parts = report_props(report).pop("parts", None)
    if parts:
        report_props(report)["parts_read"] = len(parts)
    return result


def report_props(report: pytest.TestReport) -> dict[str, Any]:
    """What the plugin attached to a test report (empty for other tests)."""
    for name, value in report.user_properties:
        if name == PROPERTY and isinstance(value, dict):
            return value
    return {}


_last: list[Any] = [None, None]   # [props, Verdict]: the recorder, the HTML report and the summary ask in turn
# The Verdict a test left, by its report, from makereport to the end of logreport: the readers then need not
# rebuild it from the props (72 parts per endpoint test: 2.7 s at 10,000 endpoints). Not on the report
# itself: an xdist worker serialises the report's attributes (the controller rebuilds from the props).
_live: weakref.WeakKeyDictionary[pytest.TestReport, Verdict] = weakref.WeakKeyDictionary()


def report_verdict(report: pytest.TestReport) -> Verdict | None:
    """The report's Verdict, None when its test stopped before judging (a setup error, a skip). Built once
    per report (an endpoint test's verdict has ~40 parts), while the report is being logged."""
    live = _live.get(report)
    if live is not None:
        return live
    props = report_props(report)
    if "rule" not in props:
        return None
    if _last[0] is not props:
        _last[:] = [props, Verdict.from_props(props)]
    verdict: Verdict = _last[1]
    return verdict


def _raised_unexpectedly(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    """A dualcert test ended by an exception other than its verdict's outcome (fail, skip, a warning made an error)."""
    return bool(DUALCERT_FIXTURES.intersection(getattr(item, "fixturenames", ()))) and not excinfo.errisinstance(
        (pytest.fail.Exception, pytest.skip.Exception, Warning))


def client_break_lines(stats: dict[str, list[Any]]) -> list[str]:
    """The terminal's list of simulated clients that would break, from the failed tests' Verdicts."""
    verdicts = [report_verdict(r) for r in stats.get("failed", []) if isinstance(r, pytest.TestReport)]
    return breaking_lines(v for v in verdicts if v is not None)
