"""N shard files of an estate N times the size of a served run, for timing `dualcert merge` (issue 24).

    .venv/bin/python bench/shards.py reports/whole.json 10 out/

Shard K of N is the run's results JSON (version 2, a record per line) with every node and cluster renamed
(`n01234` -> `k3n01234`, `c0123` -> `k3c0123`) and `run.shard` = [K, N]: the shards partition an estate of N
times the run's endpoints. The certificates are the run's own, unchanged: every certificate fact stays real
(host names, SANs and the certificates' table are not renamed; the same certificates then sit behind N
times as many endpoints). Prints one line per file written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

NAME = re.compile(r"(?<![\w.-])([nc])(\d{4,5})(?![\w.-]|\.\w)")   # a bench node or cluster name, not a host name


def renamed(text: str, shard: int) -> str:
    return NAME.sub(lambda m: f"k{shard}{m.group(1)}{m.group(2)}", text)


def run_line(line: str, shard: int, count: int) -> str:
    """The `"run":{...}` member: renamed, with its shard index and what the N shards cover."""
    body = json.loads("{" + line.rstrip().rstrip(",") + "}")
    run: dict[str, Any] = json.loads(renamed(json.dumps(body["run"]), shard))
    run["shard"] = [shard, count]
    coverage = body["run"].get("coverage")
    if coverage:
        estate = {f"k{k}{node}": {**entry, "cluster": f"k{k}{entry.get('cluster')}"}
                  for k in range(1, count + 1) for node, entry in coverage["estate"].items()}
        run["coverage"] = {**coverage, "selection": None, "split": [],
                           "nodes": [f"k{shard}{node}" for node in coverage["nodes"]], "estate": estate}
    return '"run":' + json.dumps(run, separators=(",", ":")) + ","


def write_shard(source: Path, target: Path, shard: int, count: int) -> None:
    certificates = False
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        for line in lines:
            if line.startswith('"run":'):
                out.write(run_line(line, shard, count) + "\n")
                continue
            if line.startswith('"certificates":') or line.startswith(',"certificates":'):
                certificates = True
            elif certificates and (line.startswith('"endpoints":') or line.startswith("}")):
                certificates = False
            out.write(line if certificates else renamed(line, shard))


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, count, directory = Path(argv[0]), int(argv[1]), Path(argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    for shard in range(1, count + 1):
        target = directory / f"bench.shard-{shard}-of-{count}.json"
        write_shard(source, target, shard, count)
        print(f"{target}: {target.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
