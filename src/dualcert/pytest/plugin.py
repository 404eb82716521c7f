"""The pytest plugin's entry point (`pytest11`): options, and the hooks that wire one run together.

Flow: pytest_configure loads inventory + policy into a DualcertRun and registers the other parts
(handles and fixtures, report properties, the results recorder, the HTML report, the baseline,
xdist hand-over) -> pytest_generate_tests parametrizes the suites (items.py) -> pytest_collection_finish
probes what the selected tests need, once (probing.py) -> each test judges its cached probes
(handles.py) -> pytest_sessionfinish writes the results JSON (recorder.py).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from dualcert.errors import UsageError
from dualcert.estate.inventory import FORMATS
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.connection import Timeouts
from dualcert.probe.engine import DEFAULT_THREADS
from dualcert.pytest import baseline, handles, heap, helptext, items, metrics, parts, probing, report, summary
from dualcert.pytest.exitcode import ExitCodes, exit_reasons
from dualcert.pytest.html import HtmlReport
from dualcert.pytest.recorder import ResultsRecorder
from dualcert.pytest.state import CRASHES_KEY, RUN_KEY, WARNINGS_KEY, WRITER_KEY, read_inventory, run_of
from dualcert.render.results import ResultsWriter
from dualcert.run import DualcertRun, RunOptions
from dualcert.signals import sigterm_interrupts

PROFILES_HELP = "ec-ca-signed (default), rsa-only, self-signed"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dualcert", "dualcert certificate-policy compliance")
    group.addoption("--inventory", metavar="FILE", help="inventory YAML of nodes and services to probe")
    group.addoption("--inventory-format", default="auto", choices=FORMATS,
                    help="inventory file format (default: %(default)s: told apart by name and content)")
    group.addoption("--policy", metavar="FILE|PROFILE", help=f"policy YAML, or a built-in profile: {PROFILES_HELP}")
    group.addoption("--results-json", metavar="FILE",
                    help="machine-readable results (default: reports/<site>.json when --inventory is given)")
    group.addoption("--offers", default="ecdsa,rsa,default", help="offers to probe (default: %(default)s)")
    group.addoption("--clients", default="", metavar="NAMES|all",
                    help="also probe as these simulated clients (docs/clients.md): chrome,java8,... or all")
    group.addoption("--client-profiles", metavar="FILE", help=helptext.CLIENT_PROFILES)
    group.addoption("--tls-versions", default="tls1.2,tls1.3", help="TLS versions to probe (default: %(default)s)")
    group.addoption("--probe-workers", type=int, default=256,
                    help="probes in flight at once, in all (open connections; waiting ones cost no thread; "
                         "default: %(default)s)")
    group.addoption("--probe-threads", type=int, default=DEFAULT_THREADS,
                    help="threads doing the handshakes' CPU work (default: one per CPU and one more: %(default)s)")
    group.addoption("--per-node", type=int, default=4,
                    help="concurrent connections to one node, to spare real appliances (default: %(default)s)")
    group.addoption("--connect-timeout", type=float, default=3.0, help="TCP connect timeout, s (default: %(default)s)")
    group.addoption("--starttls-timeout", type=float, default=5.0, help="STARTTLS timeout, s (default: %(default)s)")
    group.addoption("--handshake-timeout", type=float, default=5.0,
                    help="TLS handshake timeout, s (default: %(default)s)")
    group.addoption("--dualcert-strict", action="store_true", help="policy warnings (expiry window) fail the test")
    group.addoption("--baseline", metavar="FILE", help=helptext.BASELINE)
    group.addoption("--upgrade", metavar="FROM:TO", help=helptext.UPGRADE)
    parts.add_options(group)
    group.addoption("--dualcert-items", choices=("auto", "rule", "probe", "endpoint"), default="auto",
                    help="rule: one test per rule and probe, a failure names one rule; probe: one test per probe "
                         "checking every rule, 7x fewer pytest items; endpoint: one test per node:service checking "
                         "every rule over its probes, 42x fewer (the results JSON still holds one record per probe "
                         f"and rule); auto (default): rule up to {items.AUTO_PROBE_ITEMS_ABOVE} probes, endpoint above")
    group.addoption("--dualcert-progress", choices=("auto", "on", "off"), default="auto",
                    help="probe progress line: auto = only on an interactive terminal outside CI")
    summary.add_options(group)


def _csv(value: str, kind: type[Offer] | type[TLSVersion], option: str) -> tuple[Any, ...]:
    allowed = ", ".join(m.value for m in kind)
    try:
        chosen = tuple(kind(v.strip()) for v in value.split(",") if v.strip())
    except ValueError:
        raise pytest.UsageError(f"{option}: {value!r} is not a list of {allowed}") from None
    if not chosen:  # nothing would be probed: said now, not as an empty run
        raise pytest.UsageError(f"{option} is empty: give one or more of {allowed}")
    return chosen


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _options(config: pytest.Config) -> RunOptions:
    options = RunOptions(
        offers=_csv(config.getoption("offers"), Offer, "--offers"),
        versions=_csv(config.getoption("tls_versions"), TLSVersion, "--tls-versions"),
        workers=config.getoption("probe_workers"), per_node=config.getoption("per_node"),
        threads=config.getoption("probe_threads"),
        timeouts=Timeouts(config.getoption("connect_timeout"), config.getoption("starttls_timeout"),
                          config.getoption("handshake_timeout")),
        inventory_format=config.getoption("inventory_format"), shard=parts.shard(config.getoption("shard")),
        clients=config.getoption("clients"), client_profiles=_path(config.getoption("client_profiles")),
        select=parts.selection(config),
    )
    if options.workers < 1 or options.per_node < 1 or options.threads < 1:
        raise pytest.UsageError("--probe-workers, --probe-threads and --per-node must be at least 1")
    return options


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dualcert: a dualcert compliance test")
    config.addinivalue_line("markers", "dualcert_other_mode: placeholder of the other --dualcert-items mode")
    config.stash[WARNINGS_KEY], config.stash[CRASHES_KEY] = [], []
    inventory = config.getoption("inventory", None)
    if not inventory:
        return
    options = _options(config)
    try:
        run = DualcertRun.from_files(Path(inventory), config.getoption("policy"), options,
                                     read_inventory(config, Path(inventory), options.inventory_format))
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RUN_KEY] = run
    for module, name in ((handles, "dualcert-handles"), (report, "dualcert-report"), (baseline, "dualcert-baseline")):
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(module, name)
    config.pluginmanager.register(ExitCodes(config), "dualcert-exitcodes")
    long_lived = heap.LongLived()
    config.pluginmanager.register(long_lived, heap.HEAP_PLUGIN)
    config.add_cleanup(long_lived.release)
    baseline.load(config)
    stem = parts.stem(run)
    is_worker = hasattr(config, "workerinput")
    writer = None if is_worker else ResultsWriter(Path(config.getoption("results_json") or f"reports/{stem}.json"))
    config.stash[WRITER_KEY] = writer
    if writer is not None:
        config.pluginmanager.register(ResultsRecorder(run, writer, config), "dualcert-results")
    if not is_worker and config.pluginmanager.hasplugin("html"):
        if not config.getoption("htmlpath", None):
            config.option.htmlpath = f"reports/{stem}.html"
            config.option.self_contained_html = True
        config.pluginmanager.register(HtmlReport(run, Path(config.option.htmlpath)), "dualcert-html")
    if not is_worker:
        config.pluginmanager.register(summary.VerdictSummary(config, getattr(config.option, "htmlpath", None)))
        if config.getoption("metrics", None):
            config.pluginmanager.register(metrics.MetricsFile(config, Path(config.getoption("metrics"))))
    if not is_worker and config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(probing.XdistController(config), "dualcert-xdist")
    sigterm_interrupts()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    run = run_of(config)
    if run is None:
        return None
    how = items.MODE_HELP[items.items_mode(config, run)]
    return [f"dualcert: site {run.inventory.site}, {len(run.endpoints)} endpoints, {len(run.keys())} probes; "
            f"{how} (--dualcert-items {config.getoption('dualcert_items')})", *parts.header(run)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    items.parametrize(metafunc)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str,
                              obj: object) -> Generator[None, Any, Any]:
    """Placeholders are dropped as pytest makes them: never counted as collected nor as deselected."""
    return items.collectable(collector.config, (yield))


def pytest_collection_finish(session: pytest.Session) -> None:
    probing.probe_selected(session)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Why the run exits as it does (crashes, reports not written, nothing collected); the verdict,
    warnings and report paths follow pytest's line (pytest/summary.py)."""
    reasons = exit_reasons(config) if config.stash.get(WRITER_KEY, None) is not None else []
    if reasons:
        terminalreporter.write_sep("-", "dualcert")
    for reason in reasons:
        terminalreporter.write_line(reason, red=True)
