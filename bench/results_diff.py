"""Compare two results JSON documents once what differs between any two runs is normalised away:
run times and durations, the order probes landed in, ports, host, command, the dualcert/python
versions, and the embedded lab's temporary directory (its inventory names it, so the inventory's
digest differs too).

    .venv/bin/python bench/results_diff.py before/reports/lab.json after/reports/lab.json

Prints each path whose value differs (at most 40) and exits 1 if any does, 0 if the documents are
identical after normalisation. Used to show that a refactoring changed no result.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from dualcert.compare.results_file import load_document

VOLATILE_RUN = ("started", "written", "command", "host", "python", "dualcert_version")
VOLATILE_KEYS = ("connect_ms", "handshake_ms", "duration_s", "port")


def normalised(path: Path) -> Any:
    data = load_document(path)   # either schema version, as version 1 lays it out
    ports = {str(p["port"]) for p in data.get("probes", [])}
    for key in VOLATILE_RUN:
        data.get("run", {}).pop(key, None)
    data.get("run", {}).pop("inventory", None)   # the lab writes it anew each run, naming its temporary directory
    if isinstance(data.get("run", {}).get("policy"), dict):
        data["run"]["policy"].pop("path", None)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items() if k not in VOLATILE_KEYS}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            value = re.sub(r"dualcert-lab-[A-Za-z0-9_]+", "dualcert-lab-<tmp>", value)
            return re.sub(r"\b(" + "|".join(sorted(ports)) + r")\b", "<port>", value) if ports else value
        return value

    # Probes are journaled as they land, in an order that concurrency decides: compare them by key.
    data["probes"] = sorted(data.get("probes", []), key=lambda p: (p["node"], p["service"], p["offer"],
                                                                   p["tls_version"]))
    return walk(data)


def differences(a: Any, b: Any, where: str = "$") -> list[str]:
    if type(a) is not type(b):
        return [f"{where}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        found = [f"{where}.{k}: only in one document" for k in sorted(set(a) ^ set(b))]
        for key in a.keys() & b.keys():
            found += differences(a[key], b[key], f"{where}.{key}")
        return found
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = differences(normalised(Path(argv[0])), normalised(Path(argv[1])))
    for line in found[:40]:
        print(line[:300])
    print(f"{len(found)} difference(s) after normalising times, durations, ports and paths")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
