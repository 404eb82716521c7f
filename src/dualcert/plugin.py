"""The pytest plugin: options, one probe phase per run, parametrized Cases, results JSON,
and the HTML report's extra columns. Registered through the `pytest11` entry point.

Flow: pytest_configure loads inventory + policy -> pytest_generate_tests parametrizes
`dualcert_case` -> pytest_collection_finish probes what the selected tests need, once,
concurrently -> each test reads its cached Case -> pytest_sessionfinish writes the JSON.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from .checks import RULES, Case, Finding, Status
from .errors import UsageError
from .observation import Observation, Outcome, ProbeKey
from .offers import Offer, TLSVersion
from .probe import Timeouts
from .report import dualcert_props
from .results import ResultsWriter, file_digest, run_metadata
from .session import DualcertRun, RunOptions
from .terminal import safe

RUN_KEY = pytest.StashKey["DualcertRun"]()
WRITER_KEY = pytest.StashKey["ResultsWriter | None"]()
FINDING_KEY = pytest.StashKey["tuple[Case, Finding]"]()


class PolicyWarning(UserWarning):
    """A rule within its warn window (e.g. expiry) or a report-only rule."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dualcert", "dualcert certificate-policy compliance")
    group.addoption("--inventory", metavar="FILE", help="inventory YAML of nodes and services to probe")
    group.addoption("--policy", metavar="FILE|PROFILE",
                    help="policy YAML, or a built-in profile: ec-ca-signed (default), rsa-only, self-signed")
    group.addoption("--results-json", metavar="FILE",
                    help="machine-readable results (default: reports/<site>.json when --inventory is given)")
    group.addoption("--offers", default="ecdsa,rsa,default", help="offers to probe (default: %(default)s)")
    group.addoption("--tls-versions", default="tls1.2,tls1.3", help="TLS versions to probe (default: %(default)s)")
    group.addoption("--probe-workers", type=int, default=32, help="concurrent probes in all (default: %(default)s)")
    group.addoption("--per-node", type=int, default=4,
                    help="concurrent connections to one node, to spare real appliances (default: %(default)s)")
    group.addoption("--connect-timeout", type=float, default=3.0, help="TCP connect timeout, s (default: %(default)s)")
    group.addoption("--starttls-timeout", type=float, default=5.0, help="STARTTLS timeout, s (default: %(default)s)")
    group.addoption("--handshake-timeout", type=float, default=5.0,
                    help="TLS handshake timeout, s (default: %(default)s)")
    group.addoption("--dualcert-strict", action="store_true", help="policy warnings (expiry window) fail the test")
    group.addoption("--dualcert-progress", choices=("auto", "on", "off"), default="auto",
                    help="probe progress line: auto = only on an interactive terminal outside CI")


def _csv(value: str, kind: type[Offer] | type[TLSVersion], option: str) -> tuple[Any, ...]:
    try:
        return tuple(kind(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise pytest.UsageError(f"{option}: {value!r} is not a list of {allowed}") from None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dualcert: a dualcert compliance test")
    inventory = config.getoption("inventory", None)
    if not inventory:
        return
    options = RunOptions(
        offers=_csv(config.getoption("offers"), Offer, "--offers"),
        versions=_csv(config.getoption("tls_versions"), TLSVersion, "--tls-versions"),
        workers=config.getoption("probe_workers"), per_node=config.getoption("per_node"),
        timeouts=Timeouts(config.getoption("connect_timeout"), config.getoption("starttls_timeout"),
                          config.getoption("handshake_timeout")),
    )
    if options.workers < 1 or options.per_node < 1:
        raise pytest.UsageError("--probe-workers and --per-node must be at least 1")
    try:
        run = DualcertRun.from_files(Path(inventory), config.getoption("policy"), options)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RUN_KEY] = run
    site = run.inventory.site
    results = config.getoption("results_json") or f"reports/{site}.json"
    is_worker = hasattr(config, "workerinput")
    writer = None if is_worker else ResultsWriter(Path(results))
    config.stash[WRITER_KEY] = writer
    if writer is not None:
        config.pluginmanager.register(ResultsRecorder(run, writer), "dualcert-results")
    if not is_worker and config.pluginmanager.hasplugin("html"):
        if not config.getoption("htmlpath", None):
            config.option.htmlpath = f"reports/{site}.html"
            config.option.self_contained_html = True
        from . import report

        config.pluginmanager.register(report.HtmlColumns(run), "dualcert-html")
    _install_sigterm()


def _install_sigterm() -> None:
    """SIGTERM (a CI timeout, `kill`) ends the run like Ctrl-C, so results are still written."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave signals alone
        signal.signal(signal.SIGTERM, interrupt)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dualcert_case" not in metafunc.fixturenames:
        return
    run = metafunc.config.stash.get(RUN_KEY, None)
    if run is None:
        raise pytest.UsageError(
            "the dualcert suites need an inventory: pass --inventory FILE (see `dualcert run --help`)")
    keys = run.keys()
    metafunc.parametrize("dualcert_case", keys, ids=[k.test_id for k in keys], indirect=True)


def _progress_enabled(config: pytest.Config) -> bool:
    mode = config.getoption("dualcert_progress")
    if mode != "auto":
        return bool(mode == "on")
    return sys.stderr.isatty() and not os.environ.get("CI")


def pytest_collection_finish(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None:
        return
    keys = [item.callspec.params["dualcert_case"] for item in session.items
            if hasattr(item, "callspec") and "dualcert_case" in item.callspec.params]
    keys = list(dict.fromkeys(keys))
    if not keys:
        return
    writer = session.config.stash.get(WRITER_KEY, None)
    show = _progress_enabled(session.config)
    started, total, problems = time.monotonic(), len(keys), [0]

    def landed(observation: Observation) -> None:
        if writer is not None:
            writer.add_probe(observation)
        if observation.outcome not in (Outcome.OK, Outcome.REFUSED, Outcome.UNSUPPORTED):
            problems[0] += 1
        if show:
            done = len(run.observations)
            rate = done / max(time.monotonic() - started, 1e-6)
            sys.stderr.write(f"\rdualcert: probed {done}/{total} · {problems[0]} unreachable/errors · {rate:.0f}/s ")
            sys.stderr.flush()

    try:
        run.probe(keys, on_result=landed)
    finally:
        if show:
            sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"dualcert: {len(run.observations)}/{total} probes in {elapsed:.2f}s, "
                                f"{problems[0]} unreachable or in error")


class CaseHandle:
    """What a suite test receives: the Case, and `require(rule)` to turn its Finding into an outcome."""

    def __init__(self, case: Case, item: pytest.Item) -> None:
        self.case, self._item = case, item

    def __getattr__(self, name: str) -> Any:
        return getattr(self.case, name)

    def require(self, rule: str) -> Finding:
        try:
            finding = RULES[rule](self.case)
        except Exception as exc:  # a bug in one check must not hide the others' results
            finding = Finding(rule, Status.FAIL, f"{self.case.test_id}: check {rule!r} crashed: "
                              f"{type(exc).__name__}: {exc}", "report this as a dualcert bug, with the results JSON")
            self._item.stash[FINDING_KEY] = (self.case, finding)
            raise
        self._item.stash[FINDING_KEY] = (self.case, finding)
        if finding.status is Status.FAIL:
            pytest.fail(safe(finding.text()), pytrace=False)
        if finding.status is Status.NA:
            pytest.skip(safe(finding.message))
        if finding.status is Status.WARN:
            if self._item.config.getoption("dualcert_strict"):
                pytest.fail(safe("warning made fatal by --strict: " + finding.text()), pytrace=False)
            warnings.warn(PolicyWarning(safe(finding.text())), stacklevel=2)
        return finding


@pytest.fixture
def dualcert_case(request: pytest.FixtureRequest) -> CaseHandle:
    run: DualcertRun = request.config.stash[RUN_KEY]
    key: ProbeKey = request.param
    return CaseHandle(run.case(key), request.node)


def case_columns(case: Case) -> dict[str, Any]:
    """The per-test facts shown in the report's columns and stored with each test record."""
    o = case.observation
    columns: dict[str, Any] = {
        "node": case.endpoint.node, "service": case.endpoint.service.name, "port": case.endpoint.port,
        "offer": case.offer.value, "tls_version": case.version.value, "presented": o.outcome.value,
        "issuer": "", "days_left": None,
    }
    if case.has_chain:
        leaf = case.chain.leaf
        columns["presented"] = f"{leaf.key_type} {leaf.curve or leaf.key_size}"
        columns["issuer"] = "self-signed" if leaf.self_signed else (leaf.issuer_common_name or leaf.issuer)
        columns["days_left"] = int(min(c.days_left(case.now) for c in case.chain.certs))
    return columns


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    stashed = item.stash.get(FINDING_KEY, None)
    if stashed is not None and call.when == "call":
        case, finding = stashed
        columns = case_columns(case)
        report.user_properties.append(("dualcert", {
            **columns, "rule": finding.rule, "status": finding.status.value,
            "message": finding.message, "fix": finding.fix, "case": case.test_id,
        }))
        # --junitxml writes the item's properties at teardown: plain ones, one per fact.
        for name in ("node", "service", "offer", "tls_version"):
            item.user_properties.append((name, columns[name]))
        item.user_properties += [("rule", finding.rule), ("status", finding.status.value)]
        if item.config.pluginmanager.hasplugin("html"):
            from .report import finding_extras

            report.extras = [*getattr(report, "extras", []),
                             *finding_extras(case.test_id, finding.status.value, finding.message, finding.fix)]
    return report


class ResultsRecorder:
    """Feeds test reports into the results JSON and writes it at the end, interrupted or not."""

    def __init__(self, run: DualcertRun, writer: ResultsWriter) -> None:
        self.run, self.writer = run, writer

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        props = dualcert_props(report)
        outcome = "error" if report.failed and report.when != "call" else report.outcome
        message = props.get("message") or (str(report.longrepr) if report.longrepr else "")
        self.writer.add_test({
            "id": props.get("case") or report.nodeid.split("[", 1)[-1].rstrip("]"),
            "test": report.nodeid.split("::")[-1].split("[")[0], "nodeid": report.nodeid,
            "rule": props.get("rule"), "outcome": outcome, "status": props.get("status"),
            "message": message, "fix": props.get("fix", ""), "duration_s": round(report.duration, 4),
        })

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        run, writer = self.run, self.writer
        # Probes that landed outside the probe phase (a Case probed lazily) join the record too.
        recorded = {(p["node"], p["service"], p["offer"], p["tls_version"]) for p in writer.probes}
        for key, observation in run.observations.items():
            if (key.node, key.service, key.offer.value, key.version.value) not in recorded:
                writer.add_probe(observation)
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        writer.sections.update(run.sections)
        writer.write(run_metadata(
            site=run.inventory.site, inventory=file_digest(run.inventory.path),
            policy={"name": run.policy.name, **(file_digest(run.policy.path) or {})},
            intended_state=run.policy.intended_state,
            started=run.started.isoformat(), status="interrupted" if interrupted else "complete",
            exit_status=int(exitstatus),
            offers=[o.value for o in run.options.offers], tls_versions=[v.value for v in run.options.versions],
        ))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    writer = config.stash.get(WRITER_KEY, None)
    if writer is None:
        return
    terminalreporter.write_sep("-", "dualcert")
    terminalreporter.write_line(f"results JSON: {writer.path}")
    html_path = config.getoption("htmlpath", None)
    if html_path:
        terminalreporter.write_line(f"HTML report:  {html_path}")


__all__ = ["CaseHandle", "PolicyWarning", "case_columns"]
