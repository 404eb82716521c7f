"""`dualcert run`: the suites against a site's inventory, through pytest."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dualcert.cli.common import asks_for_xdist, check_writable, pytest_args, run_pytest, suites_dir, usage_error
from dualcert.errors import UsageError
from dualcert.estate.inventory import FORMATS
from dualcert.estate.model import Inventory
from dualcert.pytest import helptext

EPILOG = """examples:
  dualcert run --inventory site.yaml                      best-practice policy (ec-ca-signed)
  dualcert run --inventory site.yaml --policy rsa-only    the ECDSA-disable COP is installed
  dualcert run --inventory site.yaml --clients chrome,java8,expressway   what each real client gets
  dualcert run --inventory site.yaml --baseline before.json              after an upgrade: what changed
  dualcert run --inventory site.yaml -- -k socketio -x    extra pytest arguments after --
  dualcert run --inventory site.yaml --select site=dc1 -- --shard 1/2   dc1's nodes, half of them

writes reports/<site>.html and reports/<site>.json unless told otherwise (a part of the estate:
  <site>.site=dc1.json, <site>.shard-1-of-4.json, <site>.site=dc1.shard-1-of-2.json; `dualcert merge` joins them).
exit codes: 0 compliant, 1 policy failures, 2 interrupted, 3 internal error or disk full,
  4 usage error (bad inventory/policy, unwritable report path), 5 nothing checked (e.g. -k matched no test)
warnings (expiry within the warn window, rules set to `warn`) are listed but pass; --strict makes them fail."""


def cmd_run(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.estate.inventory import load_inventory

    try:
        inventory = load_inventory(Path(ns.inventory), ns.inventory_format)
    except UsageError as exc:
        return usage_error(exc)
    try:
        if not asks_for_xdist(extra):   # xdist's workers run the tests: this process validates nothing
            _validate_early(inventory)
        return _run(ns, extra, inventory)
    finally:
        from dualcert.facts import prevalidation

        prevalidation.close_early()


def _validate_early(inventory: Inventory) -> None:
    """A large estate's chains are validated in a second process (facts/prevalidation.py), started now: its start
    takes the core that pytest's start, single-threaded, leaves idle."""
    from dualcert.facts import prevalidation

    if inventory.trust is not None and sum(len(n.services) for n in inventory.nodes) >= prevalidation.EARLY_ENDPOINTS:
        from dualcert.facts.trust import validate_in_child

        prevalidation.start_early(validate_in_child)


def _run(ns: argparse.Namespace, extra: list[str], inventory: Inventory) -> int:
    import pytest

    from dualcert.estate.selection import Selection, report_stem
    from dualcert.pytest.parts import shard
    from dualcert.pytest.state import ReadInventory

    try:
        select = Selection.parse(ns.select, ns.split_clusters) if ns.select else None
        if select is not None:
            select.apply(inventory)   # a selection that cannot be run is said now, as dualcert's usage error
        # Parts of one estate (a CI matrix, runners in several sites) sharing a directory keep their own reports.
        part = shard(extra[extra.index("--shard") + 1]) if "--shard" in extra[:-1] else None
        site = report_stem(inventory.site, part, select)
        report_dir = Path(ns.report_dir)
        html = Path(ns.html) if ns.html else report_dir / f"{site}.html"
        results = Path(ns.json) if ns.json else report_dir / f"{site}.json"
        for target in (html, results, *([Path(ns.metrics)] if ns.metrics else [])):
            check_writable(target.parent, target)
    except (UsageError, pytest.UsageError) as exc:
        return usage_error(exc)
    operate = [*(["--dualcert-summary", "full"] if ns.verbose else []), *(["--metrics", ns.metrics] if ns.metrics
                                                                          else [])]
    clients = ["--clients", ns.clients] if ns.clients else []
    clients += ["--client-profiles", ns.client_profiles] if ns.client_profiles else []
    selected = [arg for text in ns.select or () for arg in ("--select", text)]
    selected += ["--split-clusters"] if ns.split_clusters else []
    args = pytest_args(suites_dir(), Path(ns.inventory), ns.policy, html, results, ns.strict,
                       [*operate, *clients, *selected, *extra], ns.baseline)
    upgrade = ["--upgrade", ns.upgrade] if ns.upgrade else []
    read = ReadInventory(Path(ns.inventory), ns.inventory_format, inventory)
    return run_pytest([*args, "--inventory-format", ns.inventory_format, *upgrade], plugins=[read])


def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="check a site's inventory against a policy",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    run.add_argument("--inventory", required=True, metavar="FILE",
                     help="inventory YAML or an Ansible inventory (see docs/inventory.md)")
    run.add_argument("--inventory-format", default="auto",
                     choices=FORMATS,
                     help="inventory format (default: %(default)s: dualcert's YAML or an Ansible inventory, "
                          "told apart by name and content)")
    run.add_argument("--policy", metavar="FILE|PROFILE",
                     help="policy YAML or built-in profile: ec-ca-signed (default; a node with `version:` is "
                          "judged by what its release presents, docs/releases.md), rsa-only, self-signed")
    run.add_argument("--report-dir", default="reports", metavar="DIR", help="where reports go (default: %(default)s)")
    run.add_argument("--html", metavar="FILE", help="HTML report path (default: <report-dir>/<site>.html)")
    run.add_argument("--json", metavar="FILE", help="results JSON path (default: <report-dir>/<site>.json)")
    run.add_argument("--strict", action="store_true", help="warnings (e.g. expiry within the warn window) fail")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="the whole verdict after pytest's line, not its first 40 lines (--dualcert-summary full)")
    run.add_argument("--metrics", metavar="FILE", help=helptext.METRICS)
    run.add_argument("--baseline", metavar="FILE", help=helptext.BASELINE)
    run.add_argument("--upgrade", metavar="FROM:TO", help=helptext.UPGRADE)
    run.add_argument("--clients", metavar="NAMES|all",
                     help=f"also probe as simulated clients: {', '.join(_client_names())}, or all "
                          "(docs/clients.md)")
    run.add_argument("--client-profiles", metavar="FILE", help=helptext.CLIENT_PROFILES)
    run.add_argument("--select", metavar="KEY=VALUE[,...]", action="append", help=helptext.SELECT)
    run.add_argument("--split-clusters", action="store_true", help=helptext.SPLIT_CLUSTERS)
    run.set_defaults(handler=cmd_run)


def _client_names() -> list[str]:
    from dualcert.policy.clients import builtin_clients

    return sorted(builtin_clients())
