"""What the plugin's modules share through pytest's stash: the run, its writer, and what the tests said."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from dualcert.compare.comparison import Comparison
from dualcert.compare.snapshot import Snapshot
from dualcert.estate.model import Inventory
from dualcert.render.results import ResultsWriter
from dualcert.run import DualcertRun
from dualcert.verdict import Verdict

RUN_KEY = pytest.StashKey[DualcertRun]()
WRITER_KEY = pytest.StashKey[ResultsWriter | None]()          # None on xdist workers
WARNINGS_KEY = pytest.StashKey[list[Verdict]]()                # warned parts, with their outcome
CRASHES_KEY = pytest.StashKey[list[str]]()                     # "subject rule" of each crashed check
WRITE_FAILURES_KEY = pytest.StashKey[list[tuple[str, int]]]()  # (message, exit code) of each failed report write
EXIT_REASON_KEY = pytest.StashKey[str]()                       # one line: why the run exits 3, 4 or 5
BASELINE_KEY = pytest.StashKey[Snapshot]()
COMPARISON_KEY = pytest.StashKey[Comparison]()
VERDICT_KEY = pytest.StashKey[Verdict]()                       # on an item: what its test judged


def run_of(config: pytest.Config) -> DualcertRun | None:
    """The run of this session, None when no --inventory was given."""
    return config.stash.get(RUN_KEY, None)


def strict(config: pytest.Config) -> bool:
    return bool(config.getoption("dualcert_strict", False))


@dataclass(frozen=True, eq=False)   # pluggy keeps plugins by hash: an inventory's dicts have none
class ReadInventory:
    """A pytest plugin object `dualcert run` passes to pytest.main: the inventory it has already read
    (to name the reports), so that the plugin does not parse a 10,000-node file a second time (~1 s)."""

    path: Path
    fmt: str
    inventory: Inventory


def read_inventory(config: pytest.Config, path: Path, fmt: str) -> Inventory | None:
    """The inventory `dualcert run` read, when it is the one this session names; else None (read it)."""
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, ReadInventory) and plugin.path == path and plugin.fmt == fmt:
            return plugin.inventory
    return None
