"""Feeds every test report into the results JSON, collects warnings and crashed checks, and writes the
document at the end of the session, interrupted or not."""

from __future__ import annotations

import sys
from collections.abc import Generator
from functools import lru_cache
from typing import Any

import pytest

from dualcert.pytest.exitcode import apply_write_failures, exit_reasons, write_failed
from dualcert.pytest.report import report_props, report_verdict
from dualcert.pytest.state import COMPARISON_KEY, CRASHES_KEY, WARNINGS_KEY, strict
from dualcert.render.results import ResultsWriter, file_digest, run_metadata
from dualcert.run import DualcertRun
from dualcert.verdict import Status, Verdict


@lru_cache(maxsize=256)
def _test_name(rule: str) -> str:
    """The test a rule's record names, as a test per rule would be named."""
    return sys.intern(f"test_{rule}")


class ResultsRecorder:
    def __init__(self, run: DualcertRun, writer: ResultsWriter, config: pytest.Config) -> None:
        self.run, self.writer, self.config = run, writer, config

    def _collect(self, verdict: Verdict, outcome: str) -> None:
        """Warnings and crashed checks, collected on the controller from the reports (right under
        xdist too), for the terminal, the report and the JSON."""
        if verdict.status is Status.WARN:
            self.config.stash[WARNINGS_KEY].append(Verdict(
                verdict.rule, verdict.status, verdict.message, verdict.fix, verdict.subject, outcome=outcome))
        if verdict.crashed:
            self.config.stash[CRASHES_KEY].append(f"{verdict.subject} {verdict.rule}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        props = report_props(report)
        verdict = report_verdict(report)
        test = str(props.get("test", report.nodeid))
        if verdict is not None and verdict.parts:
            # A test judging several rules (and probes): one record per (probe, rule), as one test per rule writes.
            share = round(report.duration / len(verdict.parts), 5)
            nodeid, tests = report.nodeid, self.writer.tests
            for part in verdict.parts:
                outcome = part.outcome or report.outcome
                self._collect(part, outcome)
                # The record's values in TEST_KEYS order (a dict per record cost seconds at 720,000 of them).
                tests.add_row((part.subject, _test_name(part.rule), nodeid, part.rule, outcome, part.status.value,
                               part.message, part.fix, list(part.causes), part.concerns, share))
            return
        crashed = report.failed and (verdict.crashed if verdict is not None else bool(props.get("crashed")))
        outcome = "error" if (report.failed and report.when != "call") or crashed else report.outcome
        if verdict is not None:
            self._collect(verdict, "failed" if report.failed else outcome)
        elif crashed:  # a dualcert fixture or handle raised before judging: a bug, not a policy failure
            where = "check" if report.when == "call" else report.when
            self.config.stash[CRASHES_KEY].append(f"{props.get('subject', report.nodeid)} {where}")
        message = (verdict.message if verdict is not None else str(props.get("message", ""))) or (
            str(report.longrepr) if report.longrepr else "")
        self.writer.add_test({
            "id": str(props.get("subject", report.nodeid)), "test": test, "nodeid": report.nodeid,
            "rule": verdict.rule if verdict else None, "outcome": outcome,
            "status": verdict.status.value if verdict else None, "message": message,
            "fix": verdict.fix if verdict else "", "causes": list(verdict.causes) if verdict else [],
            "concerns": dict(verdict.concerns) if verdict else {},
            "duration_s": round(report.duration, 4),
        })

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, Any, Any]:
        """Writes the document after the other plugins' session end (the exit code is final, the HTML
        report written or not), before the terminal summary; written even when one of them raised."""
        try:
            return (yield)
        finally:
            self._finish(session)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.writer.tests.close()   # its spill file (the document, metrics and summary are written)

    def _finish(self, session: pytest.Session) -> None:
        run, writer, config = self.run, self.writer, self.config
        for what, path, exc in writer.errors:
            write_failed(config, what, path, exc)
        writer.errors.clear()
        apply_write_failures(session)
        # Probes that landed outside the probe phase (a Case probed lazily) join the record too.
        for key, observation in run.observations.items():
            if (key.node, key.service, key.offer.value, key.version.value) not in writer.probes:
                writer.add_probe(observation)
        exitstatus = int(session.exitstatus)  # may differ from the argument (a crashed check: 3)
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        warned = config.stash.get(WARNINGS_KEY, [])
        writer.endpoint_order = list(run.endpoints)   # the document lists endpoints as the inventory does
        writer.sections["warnings"] = [{"id": v.subject, "rule": v.rule, "message": v.message, "fix": v.fix,
                                        "failed": v.outcome == "failed"} for v in warned]
        if run.measured:
            writer.sections["diagnosis"] = [d.to_json() for d in run.diagnosis()]
        comparison = config.stash.get(COMPARISON_KEY, None)
        if comparison is not None:
            writer.sections["changes"] = comparison.section()
        writer.write(run_metadata(
            site=run.inventory.site, inventory=file_digest(run.inventory.path),
            policy={"name": run.policy.name, **(file_digest(run.policy.path) or {})},
            intended_state=run.policy.intended_state,
            started=run.started.isoformat(), status="interrupted" if interrupted else "complete",
            exit_status=exitstatus, exit_reason="; ".join(exit_reasons(config)) or None, strict=strict(config),
            warnings=len(warned), internal_errors=config.stash.get(CRASHES_KEY, []),
            offers=[o.value for o in run.options.offers], tls_versions=[v.value for v in run.options.versions],
            clients=list(run.clients),  # --clients: the simulated client profiles, by name
            roles={node.name: node.role for node in run.inventory.nodes},  # for expected_changes' role: in diffs
            releases=run.inventory.releases(),  # a later run judges an upgrade by them (compare/releases.py)
            shard=list(run.options.shard) if run.options.shard else None,  # dualcert merge checks the set
            coverage=run.coverage(),  # --select and the nodes covered: merge checks overlap and coverage
        ))
        for what, path, exc in writer.errors:  # the document itself (its journal is kept)
            write_failed(config, what, path, exc)
        apply_write_failures(session)
