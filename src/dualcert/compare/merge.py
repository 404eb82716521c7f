"""`dualcert merge`: the results JSON of `--shard 1/N` ... `--shard N/N` runs joined into one document.

The shards must belong together: one inventory (same SHA-256), one policy, the same offers, TLS
versions and simulated clients (--clients), every shard index present exactly once and no probe or test
in two shards (--shard deals whole clusters, so the union is exactly the estate). Anything else is
the user's mistake, a UsageError (exit 4) naming the file. Pure: documents in, a document out; the
caller adds the summary and writes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dualcert.compare.snapshot import SCHEMA
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


def check_shards(shards: Sequence[tuple[Path, dict[str, Any]]]) -> int:
    """The shard count N, once every document is a shard of one run and 1..N are each there once."""
    if not shards:
        raise UsageError("no shard files given", fix="name the results JSON of every --shard I/N run")
    for path, doc in shards:
        if doc.get("schema") != SCHEMA or not isinstance(doc.get("run"), dict):
            raise UsageError(f"{path} is not a dualcert results JSON ({SCHEMA})", fix="give the shards' .json files")
        if not isinstance(doc["run"].get("shard"), list):
            raise UsageError(f"{path} is not a shard: its run had no --shard I/N",
                             fix="merge only the results of `dualcert run ... -- --shard I/N` runs")
    first_path, first = shards[0]
    count = int(first["run"]["shard"][1])
    seen: dict[int, Path] = {}
    for path, doc in shards:
        run = doc["run"]
        index, total = (int(v) for v in run["shard"])
        if total != count:
            raise UsageError(f"{path} is shard {index}/{total}, but {first_path} is one of {count}",
                             fix="merge the shards of one run, all split the same way")
        for field_path in MUST_AGREE:
            if _field(run, field_path) != _field(first["run"], field_path):
                raise UsageError(f"{path} belongs to another run: its {'.'.join(field_path)} is "
                                 f"{_field(run, field_path)!r}, {first_path}'s is {_field(first['run'], field_path)!r}",
                                 fix="merge the shards of one inventory and policy, from one pipeline")
        if index in seen:
            raise UsageError(f"shard {index}/{count} is given twice: {seen[index]} and {path}",
                             fix="give each shard's results once")
        seen[index] = path
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in seen]
    if missing:
        raise UsageError(f"shard(s) {', '.join(missing)} missing (given: {', '.join(str(p) for p, _ in shards)})",
                         fix="wait for every shard's job and give all N results files")
    return count


def _overlap(shards: Sequence[tuple[Path, dict[str, Any]]]) -> None:
    owner: dict[tuple[str, ...], Path] = {}
    for path, doc in shards:
        keys: list[tuple[str, ...]] = [("probe", p["node"], p["service"], p["offer"], p["tls_version"])
                                       for p in doc.get("probes", [])]
        keys += [("test", str(t.get("id")), str(t.get("test")), str(t.get("rule"))) for t in doc.get("tests", [])]
        for key in dict.fromkeys(keys):
            if key in owner:
                raise UsageError(f"{path} and {owner[key]} both hold {key[0]} {':'.join(key[1:])}: the shards overlap",
                                 fix="merge shards of one --shard I/N split, each run once")
            owner[key] = path


def combined_exit(shards: Sequence[tuple[Path, dict[str, Any]]]) -> int:
    codes = [int(doc["run"].get("exit_status", 3)) for _, doc in shards
             if not (doc["run"].get("exit_status") == NO_TESTS_COLLECTED and not doc.get("tests"))]
    return next((c for c in EXIT_PRIORITY if c in codes), max(codes, default=0))


def merge(shards: Sequence[tuple[Path, dict[str, Any]]], digests: Sequence[dict[str, Any]],
          command: list[str]) -> dict[str, Any]:
    """One document for the whole estate; `digests` are the shard files' {path, sha256} for `run.merged`."""
    check_shards(shards)
    _overlap(shards)
    ordered = [doc for _, doc in sorted(shards, key=lambda s: int(s[1]["run"]["shard"][0]))]
    runs = [doc["run"] for doc in ordered]
    probes = [p for doc in ordered for p in doc.get("probes", [])]
    tests = [t for doc in ordered for t in doc.get("tests", [])]
    counts: dict[str, int] = {}
    for test in tests:
        counts[test["outcome"]] = counts.get(test["outcome"], 0) + 1
    probe_counts: dict[str, int] = {}
    for probe in probes:
        probe_counts[probe["outcome"]] = probe_counts.get(probe["outcome"], 0) + 1
    run = {**runs[0], "command": command, "shard": None, "merged": list(digests),
           "started": min(r["started"] for r in runs), "written": dt.datetime.now(dt.UTC).isoformat(),
           "status": "interrupted" if any(r.get("status") == "interrupted" for r in runs) else "complete",
           "exit_status": combined_exit(shards), "counts": counts, "probe_counts": probe_counts,
           "warnings": sum(int(r.get("warnings", 0)) for r in runs),
           "internal_errors": [e for r in runs for e in r.get("internal_errors", [])],
           "roles": {k: v for r in runs for k, v in (r.get("roles") or {}).items()}}
    document: dict[str, Any] = {"schema": SCHEMA, "run": run, "probes": probes, "tests": tests,
                                "warnings": [w for doc in ordered for w in doc.get("warnings", [])]}
    if any("diagnosis" in doc for doc in ordered):
        document["diagnosis"] = [d for doc in ordered for d in doc.get("diagnosis", [])]
    changed = [doc["changes"] for doc in ordered if "changes" in doc]
    if changed:
        document["changes"] = {"baseline": changed[0].get("baseline"),
                               "entries": [e for c in changed for e in c.get("entries", [])]}
    document["certificates"] = {k: v for doc in ordered for k, v in doc.get("certificates", {}).items()}
    return document
