"""`--baseline FILE`: one `test_unchanged` per (node, service, offer, version) of the run and of the
baseline, and per simulated client both probed (--clients), judged by one comparison made after the
probe phase (dualcert.compare)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dualcert.compare.comparison import Change, compare
from dualcert.compare.snapshot import Presentation, Snapshot, client_of, load_snapshot
from dualcert.errors import UsageError
from dualcert.estate.release import parse_upgrade
from dualcert.offers import ClientOffer, ClientRange, Offer, TLSVersion
from dualcert.probe.observation import ProbeKey
from dualcert.pytest.items import CHANGE_FIXTURE
from dualcert.pytest.state import BASELINE_KEY, COMPARISON_KEY, RUN_KEY, VERDICT_KEY, run_of
from dualcert.render.text import change_lines
from dualcert.rules.causes import Cause, fix_for
from dualcert.run import DualcertRun
from dualcert.safetext import safe
from dualcert.verdict import Status, Verdict

UPGRADE_KEY = pytest.StashKey[tuple[str, str]]()   # --upgrade FROM:TO, read once with the baseline


def load(config: pytest.Config) -> None:
    """Called from pytest_configure once the run exists: read the baseline or stop with a usage error."""
    path = config.getoption("baseline", None)
    if not path:
        return
    try:
        config.stash[BASELINE_KEY] = load_snapshot(Path(path))
        upgrade = config.getoption("upgrade", None)
        if upgrade:
            config.stash[UPGRADE_KEY] = parse_upgrade(upgrade)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    except ValueError as exc:
        raise pytest.UsageError(f"dualcert: {exc}") from None


def change_keys(run: DualcertRun, baseline: Snapshot) -> list[ProbeKey]:
    """The run's keys and the baseline's, over the offers and versions both probe and the client profiles
    both probe (gone ones included); compare() names the profiles only one run probed."""
    offers = [o for o in run.options.offers if o.value in baseline.offers]
    versions = [v for v in run.options.versions if v.value in baseline.versions]
    clients = {name for name in run.clients if name in baseline.clients}
    keys = [k for k in run.keys() if k.offer in offers and k.version in versions]  # noqa: SIM118 (a method)
    keys += [k for k in run.client_keys() if isinstance(k.offer, ClientOffer) and k.offer.profile in clients]
    offer_names, version_names = {o.value for o in offers}, {v.value for v in versions}
    for key in baseline.presentations:
        node, service, offer, version = key
        if run.elsewhere(node):   # another shard or --select of the inventory checks it: not gone
            continue
        profile = client_of(key)
        if profile is not None and profile in clients:
            keys.append(ProbeKey(node, service, ClientOffer(profile), ClientRange.AUTO))
        elif offer in offer_names and version in version_names:
            keys.append(ProbeKey(node, service, Offer(offer), TLSVersion(version)))
    return list(dict.fromkeys(keys))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CHANGE_FIXTURE not in metafunc.fixturenames:
        return
    run = run_of(metafunc.config)
    baseline = metafunc.config.stash.get(BASELINE_KEY, None)
    keys = change_keys(run, baseline) if run is not None and baseline is not None else []
    # Without a baseline the empty set's placeholder item is dropped in pytest_collection_modifyitems.
    metafunc.parametrize(CHANGE_FIXTURE, keys, ids=[k.test_id for k in keys], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """No baseline: the change tests do not exist (not skipped: there is nothing to compare)."""
    if config.stash.get(BASELINE_KEY, None) is None:
        items[:] = [i for i in items if CHANGE_FIXTURE not in getattr(i, "fixturenames", ())]


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """After the probe phase: compare once, for every selected change test."""
    config = session.config
    run, baseline = run_of(config), config.stash.get(BASELINE_KEY, None)
    if run is None or baseline is None:
        return
    ids = [i.callspec.params[CHANGE_FIXTURE].test_id for i in session.items
           if hasattr(i, "callspec") and CHANGE_FIXTURE in i.callspec.params]
    current = Snapshot.from_observations(
        run.observations.values(), site=run.inventory.site, now=run.now,
        offers=tuple(o.value for o in run.options.offers), versions=tuple(v.value for v in run.options.versions),
        roles={n.name: n.role for n in run.inventory.nodes}, releases=run.inventory.releases(),
        clients=tuple(run.clients))
    config.stash[COMPARISON_KEY] = compare(baseline, current, run.policy, ids=ids,
                                           upgrade=config.stash.get(UPGRADE_KEY, None))


class ChangeHandle:
    """What `test_unchanged` receives: the comparison of its key, and `require_expected()`."""

    def __init__(self, key: ProbeKey, change: Change | None, run: DualcertRun, item: pytest.Item) -> None:
        self.key, self.change, self.run, self._item = key, change, run, item

    def require_expected(self) -> Change | None:
        change = self.change
        if change is None:
            self._record(Status.NA, "not compared (not probed in this run)", "")
            pytest.skip(f"{self.key.test_id}: not compared (not probed in this run)")
        if change.kind == "unchanged":
            self._record(Status.PASS, f"{change.id}: unchanged since the baseline", "")
            return change
        message = safe(f"{change.text()} ({change.reason})")
        if change.expected:
            self._record(Status.PASS, message, "")
            return change
        fix = fix_for(Cause.UNDECLARED_CHANGE)
        self._record(Status.FAIL, message, fix, (Cause.UNDECLARED_CHANGE,))
        pytest.fail(f"{message}\n  fix: {fix}", pytrace=False)

    def _record(self, status: Status, message: str, fix: str, causes: tuple[str, ...] = ()) -> None:
        """The verdict, with the same columns the policy tests carry (the 'after' side)."""
        key, change = self.key, self.change
        shown: Presentation | None = None
        if change is not None:
            shown = change.after if change.after is not None else change.before
        endpoint = self.run.endpoints.get((key.node, key.service))
        facts: dict[str, Any] = {
            "node": key.node, "service": key.service, "port": endpoint.port if endpoint else (shown and shown.port),
            "offer": key.offer.value, "tls_version": key.version.value,
            "presented": shown.describe() if shown is not None else "", "issuer": (shown.issuer or "") if shown else "",
            "days_left": shown.days_left(self.run.now) if shown is not None else None,
            "scope": "change", "change": change.kind if change is not None else None,
        }
        self._item.stash[VERDICT_KEY] = Verdict("unchanged", status, message, fix, key.test_id, facts, causes=causes)


@pytest.fixture
def dualcert_change(request: pytest.FixtureRequest) -> ChangeHandle:
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
    for line in change_lines(comparison):
        terminalreporter.write_line(line)
