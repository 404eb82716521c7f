"""`dualcert merge`: the results JSON of `--shard 1/N` ... `--shard N/N` runs (and `--select` runs) joined into one.

The shards must belong together: one inventory (same SHA-256), one policy, the same offers, TLS
versions and simulated clients (--clients), every shard index present exactly once and no probe or test
in two shards (--shard deals whole clusters, so the union is exactly the estate); selected runs and their
shards are checked node by node (compare/coverage.py). Anything else is
the user's mistake, a UsageError (exit 4) naming the file. Pure: the files' small members (their heads) in,
the merged head out; render.join streams the records past Owners and adds the counts, the summary and the records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dualcert.compare import coverage
from dualcert.compare.coverage import Coverage
from dualcert.compare.results_file import SCHEMA, SCHEMAS
from dualcert.errors import UsageError

EXIT_PRIORITY = (3, 2, 1)     # internal error, interrupted, policy failures: the worst shard decides
NO_TESTS_COLLECTED = 5        # pytest's code for a shard left without clusters (more shards than clusters)
MUST_AGREE = (("inventory", "sha256"), ("policy", "name"), ("policy", "sha256"), ("site",), ("offers",),
              ("tls_versions",), ("clients",), ("intended_state",), ("strict",))


def _field(run: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = run
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def check_shards(shards: Sequence[tuple[Path, dict[str, Any]]], allow_partial: bool = False) -> Coverage:
    """What the runs covered, once every document is a part (shard, selection) of one run of one inventory and
    no node is in two of them (compare/coverage.py)."""
    if not shards:
        raise UsageError("no shard files given", fix="name the results JSON of every --shard I/N or --select run")
    for path, doc in shards:
        if doc.get("schema") not in SCHEMAS or not isinstance(doc.get("run"), dict):
            raise UsageError(f"{path} is not a dualcert results JSON ({SCHEMA})", fix="give the shards' .json files")
    first_path, first = shards[0]
    for path, doc in shards:
        run = doc["run"]
        for field_path in MUST_AGREE:
            if _field(run, field_path) != _field(first["run"], field_path):
                raise UsageError(f"{path} belongs to another run: its {'.'.join(field_path)} is "
                                 f"{_field(run, field_path)!r}, {first_path}'s is {_field(first['run'], field_path)!r}",
                                 fix="merge the shards of one inventory and policy, from one pipeline")
    return coverage.check(shards, allow_partial)


class Owners:
    """Which file holds each probe and each rule of each test subject (probe, node, cluster): a probe, or a rule
    of one subject, in two files means the shards overlap. Rules are kept as shared sets, not per test."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self._probes: dict[str, int] = {}
        self._tests: dict[str, tuple[int, frozenset[str]]] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}

    def _overlap(self, index: int, other: int, what: str) -> UsageError:
        return UsageError(f"{self.paths[index]} and {self.paths[other]} both hold {what}: the shards overlap",
                          fix="merge shards of one --shard I/N split, each run once")

    def probe(self, index: int, probe_id: str) -> None:
        other = self._probes.setdefault(probe_id, index)
        if other != index:
            raise self._overlap(index, other, f"probe {probe_id}")

    def tests(self, index: int, subject: str, rules: frozenset[str]) -> None:
        rules = self._sets.setdefault(rules, rules)
        seen = self._tests.get(subject)
        if seen is None or seen[0] == index:
            self._tests[subject] = (index, rules | seen[1] if seen is not None else rules)
        elif seen[1] & rules:
            raise self._overlap(index, seen[0], f"test {subject}:{min(seen[1] & rules)}")


def combined_exit(shards: Sequence[tuple[Path, dict[str, Any]]]) -> int:
    codes = [int(doc["run"].get("exit_status", 3)) for _, doc in shards
             if not (doc["run"].get("exit_status") == NO_TESTS_COLLECTED and not doc["run"].get("counts"))]
    return next((c for c in EXIT_PRIORITY if c in codes), max(codes, default=0))


def merged_head(covered: Coverage, digests: Sequence[dict[str, Any]], command: list[str], counts: dict[str, int],
                probe_counts: dict[str, int]) -> dict[str, Any]:
    """The merged document's small members (run, warnings, diagnosis, changes) from the files' heads in
    `covered`'s order; `digests` are the files' {path, sha256} for `run.merged`, the counts the records'."""
    ordered = [doc for _, doc in covered.ordered]
    runs = [doc["run"] for doc in ordered]
    run = {**runs[0], "command": command, "shard": None, "merged": list(digests),
           "started": min(r["started"] for r in runs), "written": dt.datetime.now(dt.UTC).isoformat(),
           "status": "interrupted" if any(r.get("status") == "interrupted" for r in runs) else "complete",
           "exit_status": combined_exit(covered.ordered), "counts": counts, "probe_counts": probe_counts,
           "warnings": sum(int(r.get("warnings", 0)) for r in runs),
           "internal_errors": [e for r in runs for e in r.get("internal_errors", [])],
           "roles": {k: v for r in runs for k, v in (r.get("roles") or {}).items()},
           **({"coverage": covered.record} if covered.record is not None else {})}
    head: dict[str, Any] = {"run": run, "warnings": [w for doc in ordered for w in doc.get("warnings") or []]}
    if any(doc.get("diagnosis") is not None for doc in ordered):
        head["diagnosis"] = [d for doc in ordered for d in doc.get("diagnosis") or []]
    changed = [doc["changes"] for doc in ordered if doc.get("changes") is not None]
    if changed:
        head["changes"] = {"baseline": changed[0].get("baseline"),
                           "entries": [e for c in changed for e in c.get("entries", [])]}
    return head
