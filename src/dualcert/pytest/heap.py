"""The run's long-lived objects, kept out of the garbage collector's full passes.

A run keeps a few objects per probe and per test to its end: observations, cases, results records,
pytest's reports. CPython's collector walks every one of them again in each full pass, and it makes
a full pass each time the heap has grown by a quarter: at 10,000 endpoints, 52 passes cost 17.6 s
of a 174 s run (gc.callbacks, 2026-11-29). So, once in a while (after every FREEZE_EVERY
observations or tests), what is alive is collected once and moved to the permanent generation
(`gc.freeze`); later passes walk only what is new. Collecting first keeps garbage out of the frozen
part. The session's cleanup unfreezes, so a pytest process hosting the plugin gets its collector back.
"""

from __future__ import annotations

import gc

import pytest

FREEZE_EVERY = 2000  # observations or tests between two freezes: one short pass per ~2,000


class LongLived:
    """Counts what the run keeps; every FREEZE_EVERY, collects the new objects and freezes the rest."""

    def __init__(self, every: int = FREEZE_EVERY) -> None:
        self.every, self.count, self.frozen = every, 0, False

    def kept(self, count: int = 1) -> None:
        self.count += count
        if self.count >= self.every:
            self.freeze()

    def freeze(self) -> None:
        self.count = 0
        gc.collect()   # walks only what is not frozen yet
        gc.freeze()
        self.frozen = True

    def pytest_runtest_logfinish(self) -> None:
        self.kept()   # the test's item, reports and results records

    def release(self) -> None:
        """Back to the collector's normal generations: the session is over. A cleanup registered when
        the run is configured, so it runs after pytest's own last collections (which then skip the
        frozen heap: two full passes over it took over a second each at 10,000 endpoints)."""
        if self.frozen:
            gc.unfreeze()
            self.frozen = False


HEAP_PLUGIN = "dualcert-heap"


def of(config: pytest.Config) -> LongLived | None:
    found = config.pluginmanager.get_plugin(HEAP_PLUGIN)
    return found if isinstance(found, LongLived) else None
