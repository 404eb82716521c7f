"""What the runs `dualcert merge` joins covered: shards (`--shard I/N`) and selected runs (`--select KEY=VALUE`),
alone or mixed (docs/scale.md, "By count or by site").

Each run records `run.coverage` (run.py): its selection, the nodes it checked and every node of the inventory.
The runs must not share a node; the nodes none of them checked are a usage error (exit 4) naming them, unless
the user allows a partial merge, which then lists them as not checked. Shards of one selection (or of the whole
estate) must be of one split, each index at most once. Files written before runs recorded their coverage are
still merged as before: a complete set of shards of one split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dualcert.errors import UsageError
from dualcert.estate.labels import SHOWN, label_text, named
from dualcert.estate.selection import Selection

Part = tuple[Path, dict[str, Any]]
PARTIAL_FIX = ("run the missing part (the runner of that site, the shard's job), or add --allow-partial to merge what "
               "there is: the nodes no run checked are then listed as not checked in every output")


@dataclass
class Coverage:
    ordered: list[Part]                       # the runs in inventory order (their first node's)
    record: dict[str, Any] | None = None      # the merged run.coverage; None for files without one
    not_checked: list[str] = field(default_factory=list)


def selection_text(selection: dict[str, list[str]] | None) -> str:
    """A recorded selection as --select takes it (`site=dc1,site=dc2`); empty for none."""
    return Selection.from_json(selection).text()


def check(parts: Sequence[Part], allow_partial: bool = False) -> Coverage:
    """The runs in order and the merged run.coverage, once each is a part (shard, selection, merge), none shares
    a node with another and every node is checked (or `allow_partial`); a UsageError naming the files otherwise."""
    for path, doc in parts:
        run = doc["run"]
        selected = (run.get("coverage") or {}).get("selection")
        if not (isinstance(run.get("shard"), list) or selected or run.get("merged")):   # a merge of a merge too
            raise UsageError(f"{path} is not a shard nor a selected run: its run had no --shard I/N and no --select",
                             fix="merge the results of `dualcert run --select KEY=VALUE` or `dualcert run ... -- "
                                 "--shard I/N` runs (a whole run needs no merge)")
    missing = _shard_sets(parts)
    given = f"shard(s) {', '.join(missing)} missing (given: {', '.join(str(p) for p, _ in parts)})" if missing else ""
    records = [doc["run"].get("coverage") for _, doc in parts]
    if not any(records):
        if missing:
            raise UsageError(given, fix="wait for every shard's job and give all N results files")
        return Coverage(sorted(parts, key=lambda p: int(p[1]["run"]["shard"][0])))
    lacking = next((path for (path, _), record in zip(parts, records, strict=True) if not record), None)
    if lacking is not None:
        raise UsageError(f"{lacking} has no run.coverage: an older dualcert wrote it",
                         fix="rerun it with this version of dualcert (all the runs of one merge with one version)")
    owner = _owners(parts)
    estate: dict[str, Any] = records[0]["estate"]
    # Runs of one selection (its shards: a site's own fan-in) are to cover that selection, any other mix the estate.
    selections = {selection_text(r.get("selection")) for r in records}
    common = records[0].get("selection") if len(selections) == 1 else None
    wanted = Selection.from_json(common)
    expected = [node for node in estate if wanted.matches(estate[node].get("labels") or {})]
    not_checked = [node for node in expected if node not in owner]
    if not_checked and not allow_partial:
        of = f"--select {selection_text(common)}'s {len(expected)}" if common else f"the {len(expected)}"
        raise UsageError(f"{given + ': ' if given else ''}no run checked {len(not_checked)} of {of} nodes: "
                         f"{describe(not_checked, estate)}", fix=PARTIAL_FIX)
    index = {node: i for i, node in enumerate(estate)}

    def place(part: Part) -> tuple[int, int]:
        run = part[1]["run"]
        first = min((index.get(n, len(index)) for n in run["coverage"]["nodes"]), default=len(index))
        return first, int((run.get("shard") or [0])[0])

    record = {"selection": common,
              "split": [s for r in records for s in r.get("split", [])],
              "nodes": [node for node in estate if node in owner], "estate": estate,
              "parts": [{"path": str(path), "selection": doc["run"]["coverage"].get("selection"),
                         "shard": doc["run"].get("shard")} for path, doc in parts],
              "not_checked": not_checked}
    return Coverage(sorted(parts, key=place), record, not_checked)


def _shard_sets(parts: Sequence[Part]) -> list[str]:
    """Shards of each selection (or of the whole estate) come from one split, each index at most once; returns
    the indexes missing, e.g. `3/3` or `2/2 of --select site=dc1`."""
    splits: dict[str, tuple[int, Path]] = {}
    seen: dict[str, dict[int, Path]] = {}
    for path, doc in parts:
        run = doc["run"]
        if not isinstance(run.get("shard"), list):
            continue
        index, total = (int(v) for v in run["shard"])
        key = selection_text((run.get("coverage") or {}).get("selection"))
        of = f" of --select {key}" if key else ""
        count, first = splits.setdefault(key, (total, path))
        if total != count:
            raise UsageError(f"{path} is shard {index}/{total}{of}, but {first} is one of {count}",
                             fix="merge the shards of one run, all split the same way")
        if index in seen.setdefault(key, {}):
            raise UsageError(f"shard {index}/{total}{of} is given twice: {seen[key][index]} and {path}",
                             fix="give each shard's results once")
        seen[key][index] = path
    return [f"{i}/{count}{f' of --select {key}' if key else ''}" for key, (count, _) in splits.items()
            for i in range(1, count + 1) if i not in seen[key]]


def _owners(parts: Sequence[Part]) -> dict[str, Path]:
    """Which run checked each node; two runs checking one node are a usage error naming both and the nodes."""
    owner: dict[str, Path] = {}
    shared: dict[tuple[Path, Path], list[str]] = {}
    for path, doc in parts:
        for node in doc["run"]["coverage"]["nodes"]:
            if node in owner:
                shared.setdefault((owner[node], path), []).append(node)
            else:
                owner[node] = path
    for (first, second), nodes in shared.items():
        raise UsageError(f"{first} and {second} both checked {len(nodes)} node(s): {named(nodes)}: the runs overlap",
                         fix="give each node to one run: selections that share no node (--select site=dc1 and "
                             "--select site=dc2), and each shard of a split once")
    return owner


def not_checked(run: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """From a results file's `run`: the nodes no run of a merge checked, and every node of the estate (cluster,
    labels); both empty for a file without run.coverage."""
    record = run.get("coverage") or {}
    return list(record.get("not_checked") or []), dict(record.get("estate") or {})


def by_cluster(nodes: Sequence[str], estate: dict[str, Any]) -> list[tuple[str, dict[str, str], list[str]]]:
    """`nodes` grouped by their cluster, in inventory order, each with the labels all of them share."""
    groups: dict[str, list[str]] = {}
    for node in nodes:
        groups.setdefault(str(estate.get(node, {}).get("cluster", "?")), []).append(node)
    found = []
    for cluster, members in groups.items():
        labels = [dict(estate.get(n, {}).get("labels") or {}) for n in members]
        shared = {k: v for k, v in labels[0].items() if all(other.get(k) == v for other in labels[1:])}
        found.append((cluster, shared, members))
    return found


def describe(nodes: Sequence[str], estate: dict[str, Any]) -> str:
    """`cluster mixed (site=dc3): mixed-uccx-pub, mixed-sm; ...`, at most SHOWN clusters and SHOWN nodes each."""
    groups = by_cluster(nodes, estate)
    text = "; ".join(f"cluster {cluster}{f' ({label_text(labels)})' if labels else ''}: {named(members)}"
                     for cluster, labels, members in groups[:SHOWN])
    return text + (f"; and {len(groups) - SHOWN} more clusters" if len(groups) > SHOWN else "")
