"""`dualcert report`: the HTML report of a results JSON, without probing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dualcert.cli.common import optional_path, usage_error
from dualcert.errors import UsageError


def cmd_report(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.render.fanin import report_file

    try:
        print(f"HTML report: {report_file(Path(ns.results), optional_path(ns.html))}")
    except UsageError as exc:
        return usage_error(exc, "dualcert report")
    return 0


def add_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="the HTML report of a results JSON, without probing")
    report.add_argument("results", metavar="RESULTS.json")
    report.add_argument("--html", metavar="FILE", help="where (default: RESULTS.report.html beside it)")
    report.set_defaults(handler=cmd_report)
