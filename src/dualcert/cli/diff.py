"""`dualcert diff`: the differences between two results JSON files, judged by the policy's expected_changes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dualcert.cli.common import EXIT_USAGE_ERROR, usage_error
from dualcert.errors import UsageError

EPILOG = """compares two results JSON files probe by probe (node, service, offer, TLS version, and the
simulated clients of --clients both runs probed; the summary names those only one probed):
outcome, port, presented leaf SHA-256, key family, issuer, self-signed, and days left when
they cross the policy's expiry thresholds. Changes the policy's expected_changes allow are
listed as expected.
exit codes: 0 no unexpected change, 1 unexpected changes, 4 usage error"""


def cmd_diff(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.compare.comparison import compare
    from dualcert.compare.snapshot import load_snapshot
    from dualcert.estate.inventory import load_inventory
    from dualcert.estate.release import parse_upgrade
    from dualcert.policy.load import load_policy
    from dualcert.render.diff import render

    if extra:
        print(f"dualcert diff: unexpected arguments after --: {' '.join(extra)}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    try:
        old, new = load_snapshot(Path(ns.old)), load_snapshot(Path(ns.new))
        policy = load_policy(ns.policy)
        roles = {n.name: n.role for n in load_inventory(Path(ns.inventory)).nodes} if ns.inventory else {}
        upgrade = parse_upgrade(ns.upgrade) if ns.upgrade else None
    except (UsageError, ValueError) as exc:  # ValueError: --upgrade
        return usage_error(exc)
    old.roles.update(roles)
    new.roles.update(roles)
    comparison = compare(old, new, policy, upgrade=upgrade)
    sys.stdout.write(render(comparison, ns.format, show_expected=not ns.unexpected_only))
    return 1 if comparison.unexpected else 0


def add_parser(sub: Any) -> None:
    diff = sub.add_parser("diff", help="differences between two results JSON files (before/after an upgrade)",
                          formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    diff.add_argument("old", metavar="OLD.json", help="the baseline (earlier run)")
    diff.add_argument("new", metavar="NEW.json", help="the later run")
    diff.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                      help="text table (default), JSON, or a Markdown table for a change ticket")
    diff.add_argument("--policy", metavar="FILE|PROFILE",
                      help="policy whose expected_changes and expiry thresholds apply (default: ec-ca-signed)")
    diff.add_argument("--inventory", metavar="FILE", help="inventory giving node roles, for expected_changes' role:")
    diff.add_argument("--upgrade", metavar="FROM:TO", help="nodes without 'version:' went from release FROM to TO: "
                      "the changes the catalog's releases explain are expected")
    diff.add_argument("--unexpected-only", action="store_true", help="list only the unexpected changes")
    diff.set_defaults(handler=cmd_diff)
