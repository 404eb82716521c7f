"""The `dualcert` command: run the suites against a site, or against the embedded lab."""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import resources
from pathlib import Path

from . import __version__

EPILOG_RUN = """examples:
  dualcert run --inventory site.yaml                      best-practice policy (ec-ca-signed)
  dualcert run --inventory site.yaml --policy rsa-only    the ECDSA-disable COP is installed
  dualcert run --inventory site.yaml -- -k socketio -x    extra pytest arguments after --

writes reports/<site>.html and reports/<site>.json unless told otherwise.
exit codes: 0 compliant, 1 policy failures, 2 interrupted, 3 internal error, 4 usage error (bad inventory/policy)"""

EPILOG_LAB = """the lab starts real TLS servers on 127.0.0.1 (free ports) holding a generated PKI in
each deployment state of the UCCX 11.5 ECDSA note (S1, S2, S3, S4, rsa-only), runs the
suites with the best-practice policy, and checks that the measured outcomes match the
note's table: S3 passes, every other state fails exactly the rules the note predicts.
exit code 0 means the table was reproduced and the report written."""


def suites_dir() -> Path:
    """The suites ship inside the package (wheel); in a checkout they sit at the top."""
    packaged = Path(str(resources.files("dualcert"))) / "suites"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "suites"
    if checkout.is_dir():
        return checkout
    raise SystemExit("dualcert: the suites are missing from this installation; reinstall dualcert")


def _pytest_args(suites: Path, inventory: Path, policy: str | None, html: Path, results: Path,
                 strict: bool, extra: list[str]) -> list[str]:
    args = [str(suites), "--inventory", str(inventory), "--html", str(html), "--self-contained-html",
            "--results-json", str(results), "-p", "no:cacheprovider", "--rootdir", str(suites),
            "-q", "--tb=no", "-rN", "-W", "ignore::pytest.PytestAssertRewriteWarning",
            # The suites assert through CaseHandle.require, not `assert`: rewriting the suites and
            # every plugin's modules on each run (no bytecode cache) cost ~0.5 s. Hypothesis'
            # plugin (a dev dependency) imports hypothesis at the summary: another ~0.3 s, unused.
            "--assert=plain", "-p", "no:hypothesispytest"]
    if policy:
        args += ["--policy", policy]
    if strict:
        args.append("--dualcert-strict")
    return args + extra


def _run_pytest(args: list[str]) -> int:
    import pytest

    return int(pytest.main(args))


def cmd_run(ns: argparse.Namespace, extra: list[str]) -> int:
    from .errors import UsageError
    from .inventory import load_inventory

    try:
        site = load_inventory(Path(ns.inventory)).site
    except UsageError as exc:
        print(f"dualcert: {exc}", file=sys.stderr)
        return 4
    report_dir = Path(ns.report_dir)
    if "--shard" in extra[:-1]:  # shards of a CI matrix sharing a directory keep their own reports
        site = f"{site}.shard-{extra[extra.index('--shard') + 1].replace('/', '-of-')}"
    html = Path(ns.html) if ns.html else report_dir / f"{site}.html"
    results = Path(ns.json) if ns.json else report_dir / f"{site}.json"
    return _run_pytest(_pytest_args(suites_dir(), Path(ns.inventory), ns.policy, html, results, ns.strict, extra))


def cmd_lab(ns: argparse.Namespace, extra: list[str]) -> int:
    from .lab import STATES, Lab
    from .lab.estate import default_nodes
    from .lab.expected import TABLE_COLUMNS, deviations, measured_table

    states = tuple(s.strip() for s in ns.states.split(",")) if ns.states else STATES
    unknown = [s for s in states if s not in STATES]
    if unknown:
        print(f"dualcert: unknown state(s) {', '.join(unknown)}; use {', '.join(STATES)}", file=sys.stderr)
        return 4
    report_dir = Path(ns.report_dir)
    html, results = report_dir / "lab.html", report_dir / "lab.json"
    nodes = default_nodes(states, collab=not ns.no_collab)
    with Lab(nodes) as lab:
        print(f"dualcert lab: {len(lab.endpoints)} TLS endpoints on {lab.host} "
              f"({len(nodes)} nodes in states {', '.join(states)})", flush=True)
        if ns.serve:
            print(f"inventory: {lab.inventory_path}\npolicy:    {lab.policy_path}\nserving until Ctrl-C ...",
                  flush=True)
            try:
                import signal

                signal.pause()
            except KeyboardInterrupt:
                return 0
        code = _run_pytest(_pytest_args(suites_dir(), lab.inventory_path, str(lab.policy_path), html, results,
                                        False, extra))
    if code not in (0, 1) or not results.exists():
        print(f"dualcert lab: the run ended with exit code {code}", file=sys.stderr)
        return code or 3
    data = json.loads(results.read_text(encoding="utf-8"))
    print("\nThe digest's table, measured (what a browser-like offer gets over TLS 1.2):")
    header = ["state", *[c[0] for c in TABLE_COLUMNS]]
    rows = [[state, *cells] for state, cells in measured_table(data, nodes)]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    found = deviations(data, nodes)
    print(f"\nreport: {html}\nresults: {results}")
    if found:
        print(f"\ndualcert lab: {len(found)} results differ from the digest's prediction:", file=sys.stderr)
        for dev in found[:20]:
            print(f"  {dev.test_id} {dev.rule}: predicted {dev.predicted}, measured {dev.measured}", file=sys.stderr)
        return 1
    print("dualcert lab: every state fails exactly the rules the digest predicts (S3 passes).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualcert",
        description="TLS certificate-policy compliance for dual RSA/ECDSA deployments: handshakes with every "
                    "node and service offering ECDSA only, RSA only and both, over TLS 1.2 and 1.3, and checks "
                    "the chain each offer gets against the intended policy.")
    parser.add_argument("--version", action="version", version=f"dualcert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="check a site's inventory against a policy",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_RUN)
    run.add_argument("--inventory", required=True, metavar="FILE", help="inventory YAML (see README)")
    run.add_argument("--policy", metavar="FILE|PROFILE",
                     help="policy YAML or built-in profile: ec-ca-signed (default), rsa-only, self-signed")
    run.add_argument("--report-dir", default="reports", metavar="DIR", help="where reports go (default: %(default)s)")
    run.add_argument("--html", metavar="FILE", help="HTML report path (default: <report-dir>/<site>.html)")
    run.add_argument("--json", metavar="FILE", help="results JSON path (default: <report-dir>/<site>.json)")
    run.add_argument("--strict", action="store_true", help="warnings (e.g. expiry within the warn window) fail")
    run.set_defaults(handler=cmd_run)

    lab = sub.add_parser("lab", help="run the suites against the embedded lab (no cluster needed)",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_LAB)
    lab.add_argument("--states", metavar="LIST", help="comma-separated subset of S1,S2,S3,S4,rsa-only")
    lab.add_argument("--no-collab", action="store_true", help="leave out the CUCM and IM&P nodes")
    lab.add_argument("--report-dir", default="reports", metavar="DIR", help="where reports go (default: %(default)s)")
    lab.add_argument("--serve", action="store_true",
                     help="only start the lab and print its inventory, until Ctrl-C (try it with openssl s_client)")
    lab.set_defaults(handler=cmd_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, extra = argv[:index], argv[index + 1:]
    parser = build_parser()
    ns = parser.parse_args(argv)
    if not getattr(ns, "handler", None):
        parser.print_help()
        return 4
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    try:
        return int(ns.handler(ns, extra))
    except KeyboardInterrupt:
        print("dualcert: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
