"""The part of the estate one run checks: `--shard I/N` (by count) and `--select KEY=VALUE` (by label, where
the runner is), their options, the run's default report name and its header line (docs/scale.md)."""

from __future__ import annotations

from typing import Any

import pytest

from dualcert.errors import UsageError
from dualcert.estate.labels import named
from dualcert.estate.selection import Selection, report_stem
from dualcert.pytest import helptext
from dualcert.run import DualcertRun


def add_options(group: Any) -> None:
    group.addoption("--shard", metavar="I/N",
                    help="run only the I-th of N shards of the estate (clusters dealt round-robin in inventory order), "
                         "for CI matrices; the N shards together are the whole estate (of --select, with it)")
    group.addoption("--select", metavar="KEY=VALUE[,...]", action="append", help=helptext.SELECT)
    group.addoption("--split-clusters", action="store_true", help=helptext.SPLIT_CLUSTERS)


def shard(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        index = count = 0
    if not 1 <= index <= count:
        raise pytest.UsageError(f"--shard {value!r}: write I/N with 1 <= I <= N, e.g. --shard 2/4")
    return index, count


def selection(config: pytest.Config) -> Selection | None:
    texts = config.getoption("select", None)
    if not texts:
        return None
    try:
        return Selection.parse(texts, bool(config.getoption("split_clusters", False)))
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def stem(run: DualcertRun) -> str:
    """Parts of one estate run side by side (a CI matrix, runners in several sites): each writes its own files."""
    return report_stem(run.inventory.site, run.options.shard, run.options.select)


def header(run: DualcertRun) -> list[str]:
    """What the run leaves to other runs, in pytest's header: the selection and the clusters it split."""
    select = run.options.select
    if select is None:
        return []
    lines = [f"dualcert: --select {select.text()}: {len(run.inventory.nodes)} of the {len(run.estate.nodes)} "
             "nodes of the inventory"]
    lines += [f"dualcert: cluster {s.cluster} is split (--split-clusters): its cluster rules and diagnosis here see "
              f"only {named(list(s.nodes))}, as cluster {s.part}; {named(list(s.elsewhere))} left to other runs"
              for s in run.splits]
    return lines
