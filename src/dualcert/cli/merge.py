"""`dualcert merge`: the results JSON of `--shard I/N` runs joined into one results JSON and HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dualcert.cli.common import optional_path, usage_error
from dualcert.errors import UsageError

EPILOG = """checks that the shards belong together (one inventory and policy, each shard I of N given
once, no probe in two shards), then writes one results JSON and one HTML report for the whole estate.
example (a CI fan-in job):
  dualcert merge reports/site.shard-*-of-4.json -o reports/site.json
exit codes: the shards' combined code (3 if any shard had an internal error, else 2 if any was
interrupted, else 1 if any had policy failures, else 0); 4 a missing, repeated or foreign shard"""


def cmd_merge(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.render.fanin import merge_files

    try:
        document, results, html = merge_files([Path(p) for p in ns.shards], optional_path(ns.output),
                                              optional_path(ns.html), optional_path(ns.metrics),
                                              ["dualcert", "merge", *ns.shards])
    except UsageError as exc:
        return usage_error(exc, "dualcert merge")
    run = document["run"]
    print(f"merged {len(ns.shards)} shards of {run['site']}: {len(document['probes'])} probes, "
          f"{len(document['tests'])} tests, exit status {run['exit_status']}\nresults JSON: {results}\n"
          f"HTML report:  {html}")
    return int(run["exit_status"])


def add_parser(sub: Any) -> None:
    merge = sub.add_parser("merge", help="join the results JSON of --shard I/N runs into one JSON and HTML report",
                           formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    merge.add_argument("shards", nargs="+", metavar="SHARD.json", help="every shard's results JSON, once each")
    merge.add_argument("-o", "--output", metavar="FILE", help="merged results JSON (default: reports/<site>.json)")
    merge.add_argument("--html", metavar="FILE", help="merged HTML report (default: beside -o, .html)")
    merge.add_argument("--metrics", metavar="FILE", help="also write the merged run's metrics (--metrics of run)")
    merge.set_defaults(handler=cmd_merge)
