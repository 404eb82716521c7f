"""`dualcert merge`: the results JSON of `--shard I/N` and `--select` runs joined into one results JSON and HTML
report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dualcert.cli.common import optional_path, usage_error
from dualcert.errors import UsageError

EPILOG = """checks that the runs belong together (one inventory and policy, each shard I of N given
once, no node in two runs, every node in one), then writes one results JSON and one HTML report for the
whole estate. The runs are shards (-- --shard I/N), selected runs (--select site=dc1), shards of a
selection (--select site=dc1 -- --shard 1/2), or any mix of them in which no node is checked twice.
examples (a CI fan-in job):
  dualcert merge reports/site.shard-*-of-4.json -o reports/site.json
  dualcert merge reports/site.site=*.json -o reports/site.json    one run per site (docs/scale.md)
exit codes: the runs' combined code (3 if any run had an internal error, else 2 if any was
interrupted, else 1 if any had policy failures, else 0); 4 a missing, repeated or foreign shard, runs
that overlap, or nodes no run checked (named; with --allow-partial they are listed as not checked)"""


def cmd_merge(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.render.coverage import not_checked_lines
    from dualcert.render.fanin import merge_files

    command = ["dualcert", "merge", *ns.shards, *(["--allow-partial"] if ns.allow_partial else [])]
    try:
        document, results, html = merge_files([Path(p) for p in ns.shards], optional_path(ns.output),
                                              optional_path(ns.html), optional_path(ns.metrics), command,
                                              ns.allow_partial)
    except UsageError as exc:
        return usage_error(exc, "dualcert merge")
    run = document["run"]
    print(f"merged {len(ns.shards)} runs of {run['site']}: {sum(run['probe_counts'].values())} probes, "
          f"{sum(run['counts'].values())} tests, exit status {run['exit_status']}\nresults JSON: {results}\n"
          f"HTML report:  {html}", *not_checked_lines(run), sep="\n")
    return int(run["exit_status"])


def add_parser(sub: Any) -> None:
    merge = sub.add_parser("merge", help="join the results JSON of --shard I/N and --select runs into one JSON and "
                                         "HTML report",
                           formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    merge.add_argument("shards", nargs="+", metavar="RUN.json", help="every shard's or selected run's results JSON, "
                                                                     "once each")
    merge.add_argument("-o", "--output", metavar="FILE", help="merged results JSON (default: reports/<site>.json)")
    merge.add_argument("--html", metavar="FILE", help="merged HTML report (default: beside -o, .html)")
    merge.add_argument("--metrics", metavar="FILE", help="also write the merged run's metrics (--metrics of run)")
    merge.add_argument("--allow-partial", action="store_true",
                       help="merge even when no run checked some nodes (a site's runner did not report): they are "
                            "listed as not checked in the output, the JSON and the HTML; without it, exit 4")
    merge.set_defaults(handler=cmd_merge)
