"""The pytest plugin: options, one probe phase per run, parametrized Cases, results JSON,
and the HTML report's extra columns. Registered through the `pytest11` entry point.

Flow: pytest_configure loads inventory + policy -> pytest_generate_tests parametrizes
`dualcert_case` -> pytest_collection_finish probes what the selected tests need, once,
concurrently -> each test reads its cached Case -> pytest_sessionfinish writes the JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from dualcert.errors import UsageError
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.connection import Timeouts
from dualcert.probe.engine import DEFAULT_THREADS
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.pytest import baseline as baseline_pytest
from dualcert.pytest.handles import (
    CRASHED_KEY,
    ENDPOINT_KEY,
    ESTATE_KEY,
    FINDING_KEY,
    FINDINGS_KEY,
    CaseHandle,
    EndpointHandle,
    EstateHandle,
    PolicyWarning,
    ProbeHandle,
    case_columns,
    endpoint_columns,
    summary_props,
    worst_status,
)
from dualcert.pytest.html import dualcert_props
from dualcert.render.results import ResultsWriter, file_digest, run_metadata
from dualcert.rules.probe_rules import Case
from dualcert.run import DualcertRun, RunOptions
from dualcert.safetext import safe

RUN_KEY = pytest.StashKey["DualcertRun"]()
WRITER_KEY = pytest.StashKey["ResultsWriter | None"]()
WARNINGS_KEY = pytest.StashKey["list[dict[str, Any]]"]()
CRASHES_KEY = pytest.StashKey["list[str]"]()
# pytest's exit codes, which are dualcert's (README, "Exit codes").
EXIT_INTERNAL_ERROR = int(pytest.ExitCode.INTERNAL_ERROR)
ESTATE_FIXTURES = ("dualcert_cluster", "dualcert_node", "dualcert_node_rules")
# Which fixture carries the Cases in each --dualcert-items mode.
ITEM_FIXTURES = {"rule": "dualcert_case", "probe": "dualcert_probe", "endpoint": "dualcert_endpoint"}
# Which fixture carries the node rules in each mode: one test per rule, or one per node.
NODE_FIXTURES = {"rule": "dualcert_node", "probe": "dualcert_node_rules", "endpoint": "dualcert_node_rules"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dualcert", "dualcert certificate-policy compliance")
    group.addoption("--inventory", metavar="FILE", help="inventory YAML of nodes and services to probe")
    group.addoption("--inventory-format", default="auto",
                    choices=("auto", "dualcert", "ansible-ini", "ansible-yaml"),
                    help="inventory file format (default: %(default)s: told apart by name and content)")
    group.addoption("--policy", metavar="FILE|PROFILE",
                    help="policy YAML, or a built-in profile: ec-ca-signed (default), rsa-only, self-signed")
    group.addoption("--results-json", metavar="FILE",
                    help="machine-readable results (default: reports/<site>.json when --inventory is given)")
    group.addoption("--offers", default="ecdsa,rsa,default", help="offers to probe (default: %(default)s)")
    group.addoption("--tls-versions", default="tls1.2,tls1.3", help="TLS versions to probe (default: %(default)s)")
    group.addoption("--probe-workers", type=int, default=256,
                    help="probes in flight at once, in all (open connections; waiting ones cost no thread; "
                         "default: %(default)s)")
    group.addoption("--probe-threads", type=int, default=DEFAULT_THREADS,
                    help="threads doing the handshakes' CPU work (default: 2 per CPU, at least 4: %(default)s)")
    group.addoption("--per-node", type=int, default=4,
                    help="concurrent connections to one node, to spare real appliances (default: %(default)s)")
    group.addoption("--connect-timeout", type=float, default=3.0, help="TCP connect timeout, s (default: %(default)s)")
    group.addoption("--starttls-timeout", type=float, default=5.0, help="STARTTLS timeout, s (default: %(default)s)")
    group.addoption("--handshake-timeout", type=float, default=5.0,
                    help="TLS handshake timeout, s (default: %(default)s)")
    group.addoption("--dualcert-strict", action="store_true", help="policy warnings (expiry window) fail the test")
    group.addoption("--baseline", metavar="FILE",
                    help="results JSON of an earlier run: adds test_unchanged[...] per probe, failing on changes "
                         "the policy's expected_changes do not allow")
    group.addoption("--shard", metavar="I/N",
                    help="run only the I-th of N shards of the estate (clusters dealt round-robin in inventory order), "
                         "for CI matrices; the N shards together are the whole estate")
    group.addoption("--dualcert-items", choices=("auto", "rule", "probe", "endpoint"), default="auto",
                    help="rule: one test per rule and probe, a failure names one rule; probe: one test per probe "
                         "checking every rule, 7x fewer pytest items; endpoint: one test per node:service checking "
                         "every rule over its probes, 42x fewer (the results JSON still holds one record per probe "
                         f"and rule); auto (default): rule up to {AUTO_PROBE_ITEMS_ABOVE} probes, endpoint above")
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
    if not config.pluginmanager.has_plugin("dualcert-baseline"):
        config.pluginmanager.register(baseline_pytest, "dualcert-baseline")
    config.stash[WARNINGS_KEY], config.stash[CRASHES_KEY] = [], []
    config.addinivalue_line("markers", "dualcert_other_mode: placeholder of the other --dualcert-items mode")
    inventory = config.getoption("inventory", None)
    if not inventory:
        return
    options = RunOptions(
        offers=_csv(config.getoption("offers"), Offer, "--offers"),
        versions=_csv(config.getoption("tls_versions"), TLSVersion, "--tls-versions"),
        workers=config.getoption("probe_workers"), per_node=config.getoption("per_node"),
        threads=config.getoption("probe_threads"),
        timeouts=Timeouts(config.getoption("connect_timeout"), config.getoption("starttls_timeout"),
                          config.getoption("handshake_timeout")),
        inventory_format=config.getoption("inventory_format"),
        shard=_shard(config.getoption("shard")),
    )
    if options.workers < 1 or options.per_node < 1 or options.threads < 1:
        raise pytest.UsageError("--probe-workers, --probe-threads and --per-node must be at least 1")
    try:
        run = DualcertRun.from_files(Path(inventory), config.getoption("policy"), options)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RUN_KEY] = run
    baseline_pytest.load(config)
    # One list, live: the terminal summary, the HTML summary and the results JSON all read it.
    config.stash[WARNINGS_KEY] = run.sections.setdefault("warnings", [])
    site = run.inventory.site
    # Shards of one estate run side by side (a CI matrix): each writes its own default files.
    stem = site if options.shard is None else f"{site}.shard-{options.shard[0]}-of-{options.shard[1]}"
    results = config.getoption("results_json") or f"reports/{stem}.json"
    is_worker = hasattr(config, "workerinput")
    writer = None if is_worker else ResultsWriter(Path(results))
    config.stash[WRITER_KEY] = writer
    if writer is not None:
        config.pluginmanager.register(ResultsRecorder(run, writer, config), "dualcert-results")
    if not is_worker and config.pluginmanager.hasplugin("html"):
        if not config.getoption("htmlpath", None):
            config.option.htmlpath = f"reports/{stem}.html"
            config.option.self_contained_html = True
        from dualcert.pytest import html as report

        config.pluginmanager.register(report.HtmlColumns(run), "dualcert-html")
    if not is_worker and config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistController(config), "dualcert-xdist")
    sigterm_interrupts()


def _shard(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise pytest.UsageError(f"--shard {value!r}: write I/N with 1 <= I <= N, e.g. --shard 2/4")
    return index, count


def sigterm_interrupts() -> None:
    """SIGTERM (a CI timeout, `kill`) ends the run like Ctrl-C, so results are still written
    and the lab's servers and keys are removed."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave signals alone
        signal.signal(signal.SIGTERM, interrupt)


# pytest and pytest-html cost ~0.6 ms CPU per test item: above this many probes, one test per
# rule (7 items a probe) would dominate the run (README, "Large estates").
AUTO_PROBE_ITEMS_ABOVE = 1000


def items_mode(config: pytest.Config, run: DualcertRun) -> str:
    """`rule`, `probe` or `endpoint`: what --dualcert-items means for this run."""
    mode = str(config.getoption("dualcert_items"))
    if mode == "auto":
        return "endpoint" if len(run.keys()) > AUTO_PROBE_ITEMS_ABOVE else "rule"
    return mode


def pytest_report_header(config: pytest.Config) -> str | None:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return None
    mode = items_mode(config, run)
    how = {"rule": "one test per rule and probe", "probe": "one test per probe, checking every rule",
           "endpoint": "one test per endpoint, checking every rule over its probes"}[mode]
    return (f"dualcert: site {run.inventory.site}, {len(run.endpoints)} endpoints, {len(run.keys())} probes; "
            f"{how} (--dualcert-items {config.getoption('dualcert_items')})")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if any(f in metafunc.fixturenames for f in ESTATE_FIXTURES):
        _parametrize_estate(metafunc)
    fixture = next((f for f in ITEM_FIXTURES.values() if f in metafunc.fixturenames), None)
    if fixture is None:
        return
    run = metafunc.config.stash.get(RUN_KEY, None)
    if run is None:
        raise pytest.UsageError(
            "the dualcert suites need an inventory: pass --inventory FILE (see `dualcert run --help`)")
    if fixture != ITEM_FIXTURES[items_mode(metafunc.config, run)]:
        # The other mode's tests: one placeholder each, dropped in pytest_collection_modifyitems.
        metafunc.parametrize(fixture, [pytest.param(None, marks=INACTIVE)], ids=["other-mode"], indirect=True)
        return
    keys = run.keys()
    if fixture == ITEM_FIXTURES["endpoint"]:
        # One parameter per endpoint: the tuple of its probe keys, in run.keys() order.
        grouped: dict[tuple[str, str], list[ProbeKey]] = {}
        for key in keys:
            grouped.setdefault((key.node, key.service), []).append(key)
        metafunc.parametrize(fixture, [tuple(g) for g in grouped.values()],
                             ids=[f"{node}:{service}" for node, service in grouped], indirect=True)
        return
    metafunc.parametrize(fixture, keys, ids=[k.test_id for k in keys], indirect=True)


INACTIVE = pytest.mark.dualcert_other_mode


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash.get(RUN_KEY, None) is None:
        return
    dropped = [item for item in items if item.get_closest_marker(INACTIVE.name) is not None]
    if dropped:
        items[:] = [item for item in items if item.get_closest_marker(INACTIVE.name) is None]
        config.hook.pytest_deselected(items=dropped)


def _case_keys(item: pytest.Item) -> tuple[ProbeKey, ...]:
    """The probes a test needs: one, or an endpoint's (--dualcert-items endpoint)."""
    params = getattr(item, "callspec", None)
    if params is None:
        return ()
    for fixture in (*ITEM_FIXTURES.values(), baseline_pytest.FIXTURE):
        key = params.params.get(fixture)
        if isinstance(key, ProbeKey):
            return (key,)
        if isinstance(key, tuple) and key and all(isinstance(k, ProbeKey) for k in key):
            return key
    return ()


def _parametrize_estate(metafunc: pytest.Metafunc) -> None:
    """Cluster tests get one parameter per cluster, node tests one per node (ids are the names)."""
    run = metafunc.config.stash.get(RUN_KEY, None)
    if run is None:
        raise pytest.UsageError(
            "the dualcert suites need an inventory: pass --inventory FILE (see `dualcert run --help`)")
    in_shard = [n for n in run.inventory.nodes if run.in_shard(n.name)]
    if "dualcert_cluster" in metafunc.fixturenames:
        clusters = list(dict.fromkeys(n.cluster for n in in_shard))
        metafunc.parametrize("dualcert_cluster", clusters, ids=clusters, indirect=True)
    node_fixture = next((f for f in ("dualcert_node", "dualcert_node_rules") if f in metafunc.fixturenames), None)
    # Node rules follow --dualcert-items like the probe rules: one test per rule, or one per node.
    if node_fixture is not None and node_fixture != NODE_FIXTURES[items_mode(metafunc.config, run)]:
        metafunc.parametrize(node_fixture, [pytest.param(None, marks=INACTIVE)], ids=["other-mode"], indirect=True)
    elif node_fixture is not None:
        nodes = [n.name for n in in_shard]
        metafunc.parametrize(node_fixture, nodes, ids=nodes, indirect=True)


def _estate_nodes(run: DualcertRun, items: list[pytest.Item]) -> tuple[set[str], set[str]]:
    """Nodes whose probes the selected cluster/node tests need, and those needing a plain-text check."""
    needed: set[str] = set()
    plaintext: set[str] = set()
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if "dualcert_cluster" in params:
            needed |= {n.name for n in run.inventory.nodes if n.cluster == params["dualcert_cluster"]}
        if params.get("dualcert_node"):
            needed.add(params["dualcert_node"])
            if item.name.startswith("test_plaintext_listener"):
                plaintext.add(params["dualcert_node"])
        if params.get("dualcert_node_rules"):  # every node rule, the plain-text one included
            needed.add(params["dualcert_node_rules"])
            plaintext.add(params["dualcert_node_rules"])
    return needed, plaintext


def _progress_enabled(config: pytest.Config) -> bool:
    mode = config.getoption("dualcert_progress")
    if mode != "auto":
        return bool(mode == "on")
    return sys.stderr.isatty() and not os.environ.get("CI")


def pytest_collection_finish(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is None:
        return
    keys = [k for item in session.items for k in _case_keys(item)]
    estate_nodes, plaintext_nodes = _estate_nodes(run, session.items)
    # Change tests of endpoints only the baseline has (gone) have nothing to probe.
    keys = [k for k in dict.fromkeys([*keys, *run.node_keys(estate_nodes)]) if (k.node, k.service) in run.endpoints]
    if plaintext_nodes:
        run.probe_plaintext(plaintext_nodes)
    if not keys:
        return
    shared = getattr(session.config, "workerinput", {}).get(OBSERVATIONS_INPUT)
    if shared:
        # An xdist worker: the controller probed the estate once; read, do not probe again.
        with open(shared, encoding="utf-8") as handle:
            for line in handle:
                observation = Observation.from_json(json.loads(line))
                run.observations.setdefault(observation.key, observation)
        return
    probe_phase(session.config, run, keys)


PROGRESS_INTERVAL_S = 0.1  # redraw at most ten times a second: a 12,000-probe run writes ~100 lines


def probe_phase(config: pytest.Config, run: DualcertRun, keys: list[ProbeKey]) -> None:
    """Probe `keys` once, journal each observation as it lands, show progress when asked."""
    writer = config.stash.get(WRITER_KEY, None)
    show = _progress_enabled(config)
    started, total, problems = time.monotonic(), len(keys), [0]
    drawn = [0.0]

    def draw(final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - drawn[0] < PROGRESS_INTERVAL_S:
            return
        drawn[0] = now
        done = sum(1 for k in keys if k in run.observations)
        rate = done / max(now - started, 1e-6)
        sys.stderr.write(f"\rdualcert: probed {done}/{total} · {problems[0]} unreachable/errors · {rate:.0f}/s ")
        sys.stderr.flush()

    def landed(observation: Observation) -> None:
        if writer is not None:
            writer.add_probe(observation)
        if observation.outcome not in (Outcome.OK, Outcome.REFUSED, Outcome.UNSUPPORTED):
            problems[0] += 1
        if show:
            draw()

    try:
        run.probe(keys, on_result=landed)
    finally:
        if show:
            draw(final=True)
            sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"dualcert: {len(run.observations)}/{total} probes in {elapsed:.2f}s, "
                                f"{problems[0]} unreachable or in error")
    # The deployment state of every cluster, for the report and the results JSON.
    run.sections["diagnosis"] = [d.to_json() for d in run.diagnosis()]


OBSERVATIONS_INPUT = "dualcert_observations"


class XdistController:
    """Under `pytest -n`: the controller probes the estate (its shard) once, before the workers
    start, and hands every observation to them in a file named in their workerinput. Workers
    load it instead of probing, so no endpoint is probed twice however many workers run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.path: Path | None = None

    def _share(self) -> Path:
        if self.path is None:
            run: DualcertRun = self.config.stash[RUN_KEY]
            probe_phase(self.config, run, run.keys())
            fd, name = tempfile.mkstemp(prefix="dualcert-observations-", suffix=".jsonl")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for observation in run.observations.values():
                    handle.write(json.dumps(observation.to_json()) + "\n")
            self.path = Path(name)
        return self.path

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[OBSERVATIONS_INPUT] = str(self._share())

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@pytest.fixture
def dualcert_endpoint(request: pytest.FixtureRequest) -> EndpointHandle:
    return EndpointHandle(request.config.stash[RUN_KEY], request.param, request.node)


@pytest.fixture
def dualcert_case(request: pytest.FixtureRequest) -> CaseHandle:
    run: DualcertRun = request.config.stash[RUN_KEY]
    key: ProbeKey = request.param
    return CaseHandle(run.case(key), request.node)


@pytest.fixture
def dualcert_cluster(request: pytest.FixtureRequest) -> EstateHandle:
    return EstateHandle(request.config.stash[RUN_KEY], "cluster", request.param, request.node)


@pytest.fixture
def dualcert_node(request: pytest.FixtureRequest) -> EstateHandle:
    return EstateHandle(request.config.stash[RUN_KEY], "node", request.param, request.node)


@pytest.fixture
def dualcert_node_rules(request: pytest.FixtureRequest) -> EstateHandle:
    return EstateHandle(request.config.stash[RUN_KEY], "node", request.param, request.node)


@pytest.fixture
def dualcert_probe(request: pytest.FixtureRequest) -> ProbeHandle:
    run: DualcertRun = request.config.stash[RUN_KEY]
    key: ProbeKey = request.param
    return ProbeHandle(run.case(key), request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    estate = item.stash.get(ESTATE_KEY, None)
    if estate is not None and call.when == "call":
        report.user_properties.append(("dualcert", estate))
    many = item.stash.get(FINDINGS_KEY, None)
    if many is not None and call.when == "call":
        case, findings = many
        report.user_properties.append(("dualcert", {**case_columns(case), "case": case.test_id,
                                                    **summary_props(findings)}))
    endpoint = item.stash.get(ENDPOINT_KEY, None)
    if endpoint is not None and call.when == "call":
        _endpoint_report(item, report, *endpoint)
    stashed = item.stash.get(FINDING_KEY, None)
    if stashed is not None and call.when == "call":
        case, finding = stashed
        columns = case_columns(case)
        report.user_properties.append(("dualcert", {
            **columns, "rule": finding.rule, "status": finding.status.value,
            "message": finding.message, "fix": finding.fix, "case": case.test_id,
            **({"crashed": True} if item.stash.get(CRASHED_KEY, False) else {}),
        }))
        # --junitxml writes the item's properties at teardown: plain ones, one per fact.
        for name in ("node", "service", "offer", "tls_version"):
            item.user_properties.append((name, columns[name]))
        item.user_properties += [("rule", finding.rule), ("status", finding.status.value)]
        if item.config.pluginmanager.hasplugin("html"):
            from dualcert.pytest.html import finding_extras

            report.extras = [*getattr(report, "extras", []),
                             *finding_extras(case.test_id, finding.status.value, finding.message, finding.fix)]
    return report


def _endpoint_report(item: pytest.Item, report: Any, cases: list[Case],
                     records: list[dict[str, Any]]) -> None:
    """An endpoint test's properties: its columns, the worst status, and every (probe, rule) record;
    in the HTML report one chain/TLS detail per probe, coloured by that probe's worst finding."""
    first = cases[0]
    report.user_properties.append(("dualcert", {
        **endpoint_columns(cases), "case": f"{first.endpoint.node}:{first.endpoint.service.name}",
        **summary_props(records, tag="{id} {rule}")}))
    if item.config.pluginmanager.hasplugin("html"):
        from dualcert.pytest.html import finding_extras

        extras = list(getattr(report, "extras", []))
        for case in cases:
            mine = [r for r in records if r["id"] == case.test_id]
            status = worst_status([r["status"] for r in mine])
            warned = [r for r in mine if r["status"] == "warn"]
            message = "; ".join(f"[{r['rule']}] {r['message']}" for r in warned) or f"{case.test_id}: every rule passes"
            extras += finding_extras(case.test_id, status, message, "; ".join(r["fix"] for r in warned if r["fix"]))
        report.extras = extras


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A crashed check is a dualcert bug: exit code 3 (internal error), not 1 (policy failures).
    Runs first so that the results JSON and the terminal summary see the final code."""
    crashes = session.config.stash.get(CRASHES_KEY, [])
    if crashes and int(exitstatus) in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.exitstatus = EXIT_INTERNAL_ERROR


class ResultsRecorder:
    """Feeds test reports into the results JSON and writes it at the end, interrupted or not."""

    def __init__(self, run: DualcertRun, writer: ResultsWriter, config: pytest.Config) -> None:
        self.run, self.writer, self.config = run, writer, config

    def _collect(self, case: str, finding: dict[str, Any], *, failed: bool) -> None:
        """Warnings and crashed checks, collected here on the controller from the reports'
        properties (right under xdist too) for the terminal, the report and the JSON."""
        if finding.get("status") == "warn":
            self.config.stash[WARNINGS_KEY].append({"id": case, "rule": finding["rule"], "message": finding["message"],
                                                    "fix": finding["fix"], "failed": failed})
        if finding.get("crashed"):
            self.config.stash[CRASHES_KEY].append(f"{case} {finding['rule']}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        props = dualcert_props(report)
        if props.get("findings") and report.when == "call":
            # --dualcert-items probe/endpoint: one record per rule (and probe), as the rule-per-test mode
            # writes them; endpoint mode's records name their own probe.
            share = round(report.duration / len(props["findings"]), 5)
            for finding in props["findings"]:
                case_id = finding.get("id", props["case"])
                self._collect(case_id, finding, failed=finding["outcome"] == "failed")
                self.writer.add_test({
                    "id": case_id, "test": f"test_{finding['rule']}", "nodeid": report.nodeid,
                    "rule": finding["rule"], "outcome": finding["outcome"], "status": finding["status"],
                    "message": finding["message"], "fix": finding["fix"], "duration_s": share,
                })
            return
        self._collect(props.get("case", ""), props, failed=report.failed)
        crashed = report.failed and props.get("crashed", False)
        outcome = "error" if (report.failed and report.when != "call") or crashed else report.outcome
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
        exitstatus = int(session.exitstatus)  # may differ from the argument (a crashed check: 3)
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        warned = session.config.stash.get(WARNINGS_KEY, [])
        writer.sections.update(run.sections)
        writer.write(run_metadata(
            site=run.inventory.site, inventory=file_digest(run.inventory.path),
            policy={"name": run.policy.name, **(file_digest(run.policy.path) or {})},
            intended_state=run.policy.intended_state,
            started=run.started.isoformat(), status="interrupted" if interrupted else "complete",
            exit_status=exitstatus, strict=bool(session.config.getoption("dualcert_strict")),
            warnings=len(warned), internal_errors=session.config.stash.get(CRASHES_KEY, []),
            offers=[o.value for o in run.options.offers], tls_versions=[v.value for v in run.options.versions],
            roles={node.name: node.role for node in run.inventory.nodes},  # for expected_changes' role: in diffs
        ))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    writer = config.stash.get(WRITER_KEY, None)
    if writer is None:
        return
    terminalreporter.write_sep("-", "dualcert")
    _summarize_warnings(terminalreporter, config)
    crashes = config.stash.get(CRASHES_KEY, [])
    if crashes:
        terminalreporter.write_line(f"internal error: {len(crashes)} check(s) crashed (a dualcert bug; exit code 3), "
                                    f"e.g. {crashes[0]}", red=True)
    terminalreporter.write_line(f"results JSON: {writer.path}")
    html_path = config.getoption("htmlpath", None)
    if html_path:
        terminalreporter.write_line(f"HTML report:  {html_path}")


def _summarize_warnings(terminalreporter: Any, config: pytest.Config, limit: int = 40) -> None:
    """Warnings pass by default, so they must be impossible to miss: count and list them."""
    warned = config.stash.get(WARNINGS_KEY, [])
    if not warned:
        return
    strict = bool(config.getoption("dualcert_strict"))
    how = "failed (--strict)" if strict else "passed; --strict makes them fail"
    terminalreporter.write_line(f"{len(warned)} policy warning(s), {how}:", yellow=True)
    for entry in warned[:limit]:
        terminalreporter.write_line(safe(f"  WARN {entry['id']} {entry['rule']}: {entry['message']}"))
    if len(warned) > limit:
        terminalreporter.write_line(f"  ... and {len(warned) - limit} more (see the report and the JSON)")


__all__ = ["CaseHandle", "EndpointHandle", "EstateHandle", "PolicyWarning", "case_columns"]

