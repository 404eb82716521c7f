"""`--baseline FILE` in pytest: parametrizes `suites/test_baseline.py`'s `dualcert_change`
over every (node, service, offer, version) of the run and of the baseline, compares once
after the probe phase, and puts the result in `run.sections["changes"]`.

Registered by plugin.py; the comparison itself is `baseline.py` (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dualcert.compare.comparison import Change, Comparison, Presentation, Snapshot, compare, load_snapshot
from dualcert.errors import UsageError
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.observation import ProbeKey
from dualcert.render.results import probe_record
from dualcert.run import DualcertRun
from dualcert.safetext import safe

BASELINE_KEY = pytest.StashKey[Snapshot]()
COMPARISON_KEY = pytest.StashKey[Comparison]()
FIXTURE = "dualcert_change"
DECLARE_FIX = ("if this change is intended (an upgrade, a renewal), declare it in the policy's expected_changes "
               "(README, 'Expected changes'); otherwise find out who changed the node")


def load(config: pytest.Config) -> None:
    """Called from pytest_configure once the run exists: read the baseline or stop with a usage error."""
    path = config.getoption("baseline", None)
    if not path:
        return
    try:
        config.stash[BASELINE_KEY] = load_snapshot(Path(path))
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def change_keys(run: DualcertRun, baseline: Snapshot) -> list[ProbeKey]:
    """The run's keys and the baseline's, over the offers and versions both probe (gone ones included)."""
    offers = [o for o in run.options.offers if o.value in baseline.offers]
    versions = [v for v in run.options.versions if v.value in baseline.versions]
    keys = [k for k in run.keys() if k.offer in offers and k.version in versions]  # noqa: SIM118 (a method)
    for node, service, offer, version in baseline.presentations:
        if offer in {o.value for o in offers} and version in {v.value for v in versions}:
            keys.append(ProbeKey(node, service, Offer(offer), TLSVersion(version)))
    return list(dict.fromkeys(keys))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    from dualcert.pytest.plugin import RUN_KEY

    run = metafunc.config.stash.get(RUN_KEY, None)
    baseline = metafunc.config.stash.get(BASELINE_KEY, None)
    keys = change_keys(run, baseline) if run is not None and baseline is not None else []
    # Without a baseline the empty set's placeholder item is dropped in pytest_collection_modifyitems.
    metafunc.parametrize(FIXTURE, keys, ids=[k.test_id for k in keys], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """No baseline: the change tests do not exist (not skipped: there is nothing to compare)."""
    if config.stash.get(BASELINE_KEY, None) is None:
        items[:] = [i for i in items if FIXTURE not in getattr(i, "fixturenames", ())]


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """After plugin.py probed what the selected tests need: compare once, for every selected change test."""
    from dualcert.pytest.plugin import RUN_KEY

    config = session.config
    run, baseline = config.stash.get(RUN_KEY, None), config.stash.get(BASELINE_KEY, None)
    if run is None or baseline is None:
        return
    ids = [i.callspec.params[FIXTURE].test_id for i in session.items
           if hasattr(i, "callspec") and FIXTURE in i.callspec.params]
    comparison = compare(baseline, current_snapshot(run), run.policy, ids=ids)
    config.stash[COMPARISON_KEY] = comparison
    run.sections["changes"] = comparison.section()


def current_snapshot(run: DualcertRun) -> Snapshot:
    presentations = {}
    for key, observation in run.observations.items():
        record = probe_record(observation, {})
        presentations[(key.node, key.service, key.offer.value, key.version.value)] = Presentation.from_record(record)
    return Snapshot(path="(this run)", site=run.inventory.site, written=None, now=run.now,
                    offers=tuple(o.value for o in run.options.offers),
                    versions=tuple(v.value for v in run.options.versions), presentations=presentations,
                    roles={n.name: n.role for n in run.inventory.nodes})


class ChangeHandle:
    """What `test_unchanged` receives: the comparison of its key, and `require_expected()`."""

    def __init__(self, key: ProbeKey, change: Change | None, run: DualcertRun, item: pytest.Item) -> None:
        self.key, self.change, self.run, self._item = key, change, run, item

    def require_expected(self) -> Change | None:
        change = self.change
        if change is None:
            self._record("n/a", "not compared (not probed in this run)", "")
            pytest.skip(f"{self.key.test_id}: not compared (not probed in this run)")
        if change.kind == "unchanged":
            self._record("pass", f"{change.id}: unchanged since the baseline", "")
            return change
        message = safe(f"{change.text()} ({change.reason})")
        if change.expected:
            self._record("pass", message, "")
            return change
        self._record("fail", message, DECLARE_FIX)
        pytest.fail(f"{message}\n  fix: {DECLARE_FIX}", pytrace=False)

    def _record(self, status: str, message: str, fix: str) -> None:
        """The same columns the policy tests carry (report.py, results JSON), for the 'after' side."""
        key, change = self.key, self.change
        shown = change.after if change is not None and change.after is not None else (
            change.before if change is not None else None)
        endpoint = self.run.endpoints.get((key.node, key.service))
        days = shown.days_left(self.run.now) if shown is not None else None
        props: dict[str, Any] = {
            "node": key.node, "service": key.service, "port": endpoint.port if endpoint else (shown and shown.port),
            "offer": key.offer.value, "tls_version": key.version.value,
            "presented": shown.describe() if shown is not None else "", "issuer": (shown.issuer or "") if shown else "",
            "days_left": days, "rule": "unchanged", "status": status, "message": message, "fix": fix,
            "case": key.test_id, "change": change.kind if change is not None else None,
        }
        self._item.user_properties.append(("dualcert", props))


@pytest.fixture
def dualcert_change(request: pytest.FixtureRequest) -> ChangeHandle:
    from dualcert.pytest.plugin import RUN_KEY

    run: DualcertRun = request.config.stash[RUN_KEY]
    key: ProbeKey = request.param
    comparison = request.config.stash.get(COMPARISON_KEY, None)
    change = comparison.by_id.get(key.test_id) if comparison is not None else None
    return ChangeHandle(key, change, run, request.node)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    comparison = config.stash.get(COMPARISON_KEY, None)
    if comparison is None:
        return
    terminalreporter.write_sep("-", "dualcert: changes since the baseline")
    terminalreporter.write_line(safe(comparison.summary()))
    for change in comparison.unexpected[:20]:
        terminalreporter.write_line(safe(f"  unexpected {change.kind}: {change.text()}"))
