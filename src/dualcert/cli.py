"""The `dualcert` command: run the suites against a site, or against the embedded lab; compare, merge and
re-render results.

It is longer than 400 lines because each subcommand's options and help text are spelt out here, the one
place a user reads them; the work of each lives in the stage that does it (render.fanin for merge and report)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from dualcert import __version__
from dualcert.errors import UsageError
from dualcert.estate.inventory import FORMATS

EPILOG_RUN = """examples:
  dualcert run --inventory site.yaml                      best-practice policy (ec-ca-signed)
  dualcert run --inventory site.yaml --policy rsa-only    the ECDSA-disable COP is installed
  dualcert run --inventory site.yaml -- -k socketio -x    extra pytest arguments after --

writes reports/<site>.html and reports/<site>.json unless told otherwise.
exit codes: 0 compliant, 1 policy failures, 2 interrupted, 3 internal error or disk full,
  4 usage error (bad inventory/policy, unwritable report path), 5 nothing checked (e.g. -k matched no test)
warnings (expiry within the warn window, rules set to `warn`) are listed but pass; --strict makes them fail."""

EPILOG_INIT = """writes DIR/inventory.yaml and DIR/policy.yaml, commented, for a UCCX + SocialMiner site;
existing files are left alone unless --force is given. Then edit them and run:
  dualcert run --inventory DIR/inventory.yaml --policy DIR/policy.yaml"""

EXIT_INTERNAL_ERROR, EXIT_USAGE_ERROR = 3, 4
STARTER_FILES = ("inventory.yaml", "policy.yaml")

EPILOG_LAB = """the lab starts real TLS servers on 127.0.0.1 (free ports) holding a generated PKI in
each deployment state of the UCCX 11.5 ECDSA note (S1, S2, S3, S4, rsa-only), runs the
suites with the best-practice policy, and checks that the measured outcomes match the
note's table: S3 passes, every other state fails exactly the rules the note predicts.
exit code 0 means the table was reproduced (every predicted verdict measured, as predicted) and the
report written; 1 when a verdict differs or predicted verdicts were left out (-k, --deselect).

upgrade story (see docs/baseline.md):
  dualcert lab --states S4 --pki-dir lab-pki --report-dir before
  dualcert lab --states S3 --pki-dir lab-pki --baseline before/lab.json --policy fixtures/lab-s4-to-s3.policy.yaml
release upgrade story, UCCX 11.5 in S4 to 12.5 (see docs/releases.md):
  dualcert lab --states S4 --pki-dir lab-pki --release "11.5(1)" --report-dir before
  dualcert lab --states S4 --pki-dir lab-pki --release "12.5(1)" --baseline before/lab.json"""

EPILOG_DIFF = """compares two results JSON files probe by probe (node, service, offer, TLS version):
outcome, port, presented leaf SHA-256, key family, issuer, self-signed, and days left when
they cross the policy's expiry thresholds. Changes the policy's expected_changes allow are
listed as expected.
exit codes: 0 no unexpected change, 1 unexpected changes, 4 usage error"""


EPILOG_MERGE = """checks that the shards belong together (one inventory and policy, each shard I of N given
once, no probe in two shards), then writes one results JSON and one HTML report for the whole estate.
example (a CI fan-in job):
  dualcert merge reports/site.shard-*-of-4.json -o reports/site.json
exit codes: the shards' combined code (3 if any shard had an internal error, else 2 if any was
interrupted, else 1 if any had policy failures, else 0); 4 a missing, repeated or foreign shard"""


def suites_dir() -> Path:
    """The suites ship inside the package (wheel); in a checkout they sit at the top."""
    packaged = Path(str(resources.files("dualcert"))) / "suites"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "suites"
    if checkout.is_dir():
        return checkout
    raise InternalError("the suites are missing from this installation; reinstall dualcert")


class InternalError(Exception):
    """dualcert itself is broken (not the user's input): exit code 3."""


def _pytest_args(suites: Path, inventory: Path, policy: str | None, html: Path, results: Path,
                 strict: bool, extra: list[str], baseline: str | None = None) -> list[str]:
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
    if baseline:
        args += ["--baseline", baseline]
    if not _asks_for_xdist(extra):
        # pytest-xdist's hooks cost ~0.1 ms per test even when no worker is started.
        args += ["-p", "no:xdist"]
    return args + extra


def _asks_for_xdist(extra: list[str]) -> bool:
    return any(a in ("-n", "--numprocesses", "--dist", "-d") or a.startswith(("-n", "--numprocesses=", "--dist="))
               for a in extra)


def _run_pytest(args: list[str]) -> int:
    import pytest

    return int(pytest.main(args))


def cmd_run(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.errors import UsageError
    from dualcert.estate.inventory import load_inventory

    try:
        site = load_inventory(Path(ns.inventory), ns.inventory_format).site
        report_dir = Path(ns.report_dir)
        if "--shard" in extra[:-1]:  # shards of a CI matrix sharing a directory keep their own reports
            site = f"{site}.shard-{extra[extra.index('--shard') + 1].replace('/', '-of-')}"
        html = Path(ns.html) if ns.html else report_dir / f"{site}.html"
        results = Path(ns.json) if ns.json else report_dir / f"{site}.json"
        for target in (html, results, *([Path(ns.metrics)] if ns.metrics else [])):
            _check_writable(target.parent, target)
    except UsageError as exc:
        print(f"dualcert: {exc}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    operate = [*(["--dualcert-summary", "full"] if ns.verbose else []), *(["--metrics", ns.metrics] if ns.metrics
                                                                          else [])]
    clients = ["--clients", ns.clients] if ns.clients else []
    clients += ["--client-profiles", ns.client_profiles] if ns.client_profiles else []
    args = _pytest_args(suites_dir(), Path(ns.inventory), ns.policy, html, results, ns.strict,
                        [*operate, *clients, *extra], ns.baseline)
    upgrade = ["--upgrade", ns.upgrade] if ns.upgrade else []
    return _run_pytest([*args, "--inventory-format", ns.inventory_format, *upgrade])


def _check_writable(directory: Path, target: Path | None = None) -> None:
    """Find out before probing that the reports can be written: nothing measured is lost."""
    from dualcert.errors import UsageError

    if target is not None and target.exists() and not target.is_file() and not target.is_dir():
        # A device or FIFO (/dev/stdout) is written in place (render.results.atomic_write): its own mode counts.
        if not os.access(target, os.W_OK):
            raise UsageError(f"cannot write {target}: not writable", fix="choose another --html or --json")
        return
    existing = next((p for p in [directory, *directory.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"cannot write reports under {directory}: {existing} is not a directory",
                         fix="choose another --report-dir, --html or --json")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write reports under {directory}: {existing} is not writable",
                         fix="choose a writable --report-dir, --html or --json")


def cmd_init(ns: argparse.Namespace, extra: list[str]) -> int:
    """A commented starter inventory and policy for a UCCX + SocialMiner site."""
    target = Path(ns.dir)
    if target.exists() and not target.is_dir():
        print(f"dualcert: {target} exists and is not a directory\n  fix: give a directory", file=sys.stderr)
        return EXIT_USAGE_ERROR
    present = [target / name for name in STARTER_FILES if (target / name).exists()]
    if present and not ns.force:
        print(f"dualcert: not overwriting {', '.join(map(str, present))}\n"
              "  fix: edit the existing files, choose another directory, or pass --force", file=sys.stderr)
        return EXIT_USAGE_ERROR
    target.mkdir(parents=True, exist_ok=True)
    starter = resources.files("dualcert") / "data" / "starter"
    for name in STARTER_FILES:
        try:
            (target / name).write_text(starter.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
        except OSError as exc:  # write() names no file: this one failed
            exc.filename = exc.filename or str(target / name)
            raise
        print(f"wrote {target / name}")
    print(f"next: edit them, then\n  dualcert run --inventory {target / 'inventory.yaml'} "
          f"--policy {target / 'policy.yaml'}")
    return 0


def cmd_lab(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.errors import UsageError
    from dualcert.lab import Lab
    from dualcert.lab.estate import PREFERENCE_SOURCE, default_nodes, open_pki_dir, with_release
    from dualcert.lab.expected import (
        RELEASE_HEADER,
        TABLE_COLUMNS,
        deviations,
        measured_table,
        predictions,
        preference_row,
        release_table,
    )
    from dualcert.policy.states import STATES
    from dualcert.render.text import diagnosis_lines, table_lines

    states = tuple(s.strip() for s in ns.states.split(",")) if ns.states else STATES
    unknown = [s for s in states if s not in STATES]
    if unknown:
        print(f"dualcert: unknown state(s) {', '.join(unknown)}; use {', '.join(STATES)}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    report_dir = Path(ns.report_dir)
    html, results = report_dir / "lab.html", report_dir / "lab.json"
    try:
        _check_writable(report_dir)
    except UsageError as exc:
        print(f"dualcert: {exc}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    # A kept PKI with one state is one estate moved between states: names without the state.
    pki_dir = Path(ns.pki_dir) if ns.pki_dir else None
    nodes = default_nodes(states, collab=not ns.no_collab, state_names=not (pki_dir and len(states) == 1))
    if ns.release:  # the upgrade story: the UCCX and SocialMiner nodes of the states run this release
        try:
            nodes = with_release(nodes, ns.release)
        except UsageError as exc:
            print(f"dualcert: {exc}", file=sys.stderr)
            return EXIT_USAGE_ERROR
    if pki_dir is not None:
        try:
            open_pki_dir(pki_dir)
        except UsageError as exc:
            print(f"dualcert: {exc}", file=sys.stderr)
            return EXIT_USAGE_ERROR
    from dualcert.signals import sigterm_interrupts

    sigterm_interrupts()  # `kill`, a CI timeout: stop the servers and remove the keys, like Ctrl-C
    with Lab(nodes, pki_dir=pki_dir) as lab:
        print(f"dualcert lab: {len(lab.endpoints)} TLS endpoints on {lab.host} "
              f"({len(nodes)} nodes in states {', '.join(states)})", flush=True)
        if ns.serve:
            try:  # Ctrl-C may come as soon as the line below is read: the handler must already be in place
                print(f"inventory: {lab.inventory_path}\npolicy:    {lab.policy_path}\nserving until Ctrl-C ...",
                      flush=True)
                signal.pause()
            except KeyboardInterrupt:
                return 0
        predicted = predictions(lab.endpoints, nodes)
        # The lab's failures are the digest's predictions: it prints the diagnosis and deviations itself.
        quiet = [] if any(a.startswith("--dualcert-summary") for a in extra) else ["--dualcert-summary", "off"]
        code = _run_pytest(_pytest_args(suites_dir(), lab.inventory_path, ns.policy or str(lab.policy_path), html,
                                        results, False, [*quiet, *extra], ns.baseline))
    if code not in (0, 1, 5) or not results.exists():
        print(f"dualcert lab: the run ended with exit code {code}", file=sys.stderr)
        return code or 3
    data = json.loads(results.read_text(encoding="utf-8"))
    print("\nThe digest's table, measured (what a browser-like offer gets over TLS 1.2):")
    header = ["state", *[c[0] for c in TABLE_COLUMNS]]
    rows = [[state, *cells] for state, cells in measured_table(data, nodes)]
    for line in table_lines(header, [*rows, ["lab server", *preference_row()]]):
        print(line)
    print(f"  (lab server: the preference the lab configures, in {PREFERENCE_SOURCE}; RSA first throughout in S2)")
    releases = release_table(data, nodes)
    if releases:
        print("\nPer release, measured (what each offer gets over TLS 1.2, and a browser-like offer over TLS 1.3;\n"
              "unversioned: the lab's S3 nodes, which behave as the seed's UCCX 11.5):")
        for line in table_lines(list(RELEASE_HEADER), releases):
            print(line)
    diagnosis = diagnosis_lines(data.get("diagnosis") or [])
    if diagnosis:
        print("\n" + "\n".join(diagnosis))
    # The digest predicts policy rules; changes since a baseline are judged by the policy's expected_changes.
    found, missing = deviations({**data, "tests": [t for t in data["tests"] if t.get("rule") != "unchanged"]},
                                nodes, predicted)
    print(f"\nreport: {html}\nresults: {results}")
    unexpected = _print_changes(data) if ns.baseline else 0
    if missing:
        print(f"\ndualcert lab: {len(missing)} of {len(predicted)} predicted verdicts were not measured "
              f"(-k, --deselect or --offers left them out), e.g. {', '.join(missing[:5])}", file=sys.stderr)
    if found:
        print(f"\ndualcert lab: {len(found)} results differ from the digest's prediction:", file=sys.stderr)
        for dev in found[:20]:
            print(f"  {dev.test_id} {dev.rule}: predicted {dev.predicted}, measured {dev.measured}", file=sys.stderr)
    if found or missing:
        return code if code == 5 else 1
    print(f"dualcert lab: all {len(predicted)} predicted verdicts measured; every state fails exactly the rules "
          "the digest predicts (S3 passes).")
    if unexpected:
        print(f"dualcert lab: {unexpected} changes since the baseline are not allowed by the policy's "
              "expected_changes", file=sys.stderr)
        return 1
    return 0


def _print_changes(data: dict[str, Any]) -> int:
    """The lab's verdict on changes since its baseline; returns how many were unexpected."""
    from dualcert.safetext import safe

    changes = data.get("changes") or {"entries": []}
    entries = changes["entries"]
    unexpected = [e for e in entries if not e["expected"]]
    base = changes.get("baseline", {})
    print(safe(f"changes since {base.get('path')}: {len(entries)} ({len(entries) - len(unexpected)} expected, "
               f"{len(unexpected)} unexpected)"))
    for entry in unexpected[:20]:
        print(safe(f"  unexpected {entry['kind']}: {entry['id']} {', '.join(entry['fields'])}: {entry['reason']}"),
              file=sys.stderr)
    return len(unexpected)


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
        print(f"dualcert: {exc}", file=sys.stderr)
        return EXIT_USAGE_ERROR
        print(f"dualcert: {exc}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    old.roles.update(roles)
    new.roles.update(roles)
    comparison = compare(old, new, policy, upgrade=upgrade)
    sys.stdout.write(render(comparison, ns.format, show_expected=not ns.unexpected_only))
    return 1 if comparison.unexpected else 0


def cmd_merge(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.render.fanin import merge_files

    try:
        document, results, html = merge_files([Path(p) for p in ns.shards], _path(ns.output), _path(ns.html),
                                              _path(ns.metrics), ["dualcert", "merge", *ns.shards])
    except UsageError as exc:
        print(f"dualcert merge: {exc}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    run = document["run"]
    print(f"merged {len(ns.shards)} shards of {run['site']}: {len(document['probes'])} probes, "
          f"{len(document['tests'])} tests, exit status {run['exit_status']}\nresults JSON: {results}\n"
          f"HTML report:  {html}")
    return int(run["exit_status"])


def cmd_report(ns: argparse.Namespace, extra: list[str]) -> int:
    from dualcert.render.fanin import report_file

    try:
        print(f"HTML report: {report_file(Path(ns.results), _path(ns.html))}")
    except UsageError as exc:
        print(f"dualcert report: {exc}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    return 0


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


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
    run.add_argument("--inventory", required=True, metavar="FILE",
                     help="inventory YAML or an Ansible inventory (see docs/inventory.md)")
    run.add_argument("--inventory-format", default="auto",
                     choices=FORMATS,
                     help="inventory format (default: %(default)s: dualcert's YAML or an Ansible inventory, "
                          "told apart by name and content)")
    run.add_argument("--policy", metavar="FILE|PROFILE",
                     help="policy YAML or built-in profile: ec-ca-signed (default), rsa-only, self-signed")
    run.add_argument("--report-dir", default="reports", metavar="DIR", help="where reports go (default: %(default)s)")
    run.add_argument("--html", metavar="FILE", help="HTML report path (default: <report-dir>/<site>.html)")
    run.add_argument("--json", metavar="FILE", help="results JSON path (default: <report-dir>/<site>.json)")
    run.add_argument("--strict", action="store_true", help="warnings (e.g. expiry within the warn window) fail")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="the whole verdict after pytest's line, not its first 40 lines (--dualcert-summary full)")
    run.add_argument("--metrics", metavar="FILE",
                     help="OpenMetrics text for node_exporter's textfile collector (docs/scheduled-runs.md)")
    run.add_argument("--baseline", metavar="FILE",
                     help="results JSON of an earlier run: test_unchanged[...] fails on changes the policy's "
                          "expected_changes do not allow")
    run.add_argument("--upgrade", metavar="FROM:TO",
                     help="with --baseline, for an inventory without 'version:': the nodes went from release FROM "
                          "to TO (e.g. 11.5:12.5); the changes the catalog's releases explain are expected")
    run.add_argument("--clients", metavar="NAMES|all",
                     help="also probe as simulated clients: chrome,java8,... or all (docs/clients.md)")
    run.add_argument("--client-profiles", metavar="FILE", help="YAML of more client profiles, or overrides")
    run.set_defaults(handler=cmd_run)

    lab = sub.add_parser("lab", help="run the suites against the embedded lab (no cluster needed)",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_LAB)
    lab.add_argument("--states", metavar="LIST", help="comma-separated subset of S1,S2,S3,S4,rsa-only")
    lab.add_argument("--no-collab", action="store_true",
                     help="leave out the CUCM and IM&P nodes (and the release nodes: UCCX 12.5, CUCM 15SU2)")
    lab.add_argument("--release", metavar="VERSION",
                     help="give the UCCX and SocialMiner nodes this 'version:' (e.g. 11.5(1), 12.5(1)): the "
                          "upgrade story, see docs/releases.md")
    lab.add_argument("--report-dir", default="reports", metavar="DIR", help="where reports go (default: %(default)s)")
    lab.add_argument("--serve", action="store_true",
                     help="only start the lab and print its inventory, until Ctrl-C (try it with openssl s_client)")
    lab.add_argument("--pki-dir", metavar="DIR",
                     help="keep the lab's CAs, leaves and keys in DIR (created 0700; reused if present), so that "
                          "a later run changes only what its state changes; with one state, nodes are named "
                          "without it (uccx-pub, uccx-sub, sm)")
    lab.add_argument("--baseline", metavar="FILE", help="results JSON of an earlier lab run to compare with")
    lab.add_argument("--policy", metavar="FILE|PROFILE",
                     help="policy instead of the lab's generated one (e.g. one declaring expected_changes)")
    lab.set_defaults(handler=cmd_lab)

    diff = sub.add_parser("diff", help="differences between two results JSON files (before/after an upgrade)",
                          formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_DIFF)
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
    merge = sub.add_parser("merge", help="join the results JSON of --shard I/N runs into one JSON and HTML report",
                           formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_MERGE)
    merge.add_argument("shards", nargs="+", metavar="SHARD.json", help="every shard's results JSON, once each")
    merge.add_argument("-o", "--output", metavar="FILE", help="merged results JSON (default: reports/<site>.json)")
    merge.add_argument("--html", metavar="FILE", help="merged HTML report (default: beside -o, .html)")
    merge.add_argument("--metrics", metavar="FILE", help="also write the merged run's metrics (--metrics of run)")
    merge.set_defaults(handler=cmd_merge)
    report = sub.add_parser("report", help="the HTML report of a results JSON, without probing")
    report.add_argument("results", metavar="RESULTS.json")
    report.add_argument("--html", metavar="FILE", help="where (default: RESULTS.report.html beside it)")
    report.set_defaults(handler=cmd_report)
    init = sub.add_parser("init", help="write a commented starter inventory and policy (UCCX + SocialMiner)",
                          formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_INIT)
    init.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where to write them (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite existing inventory.yaml / policy.yaml")
    init.set_defaults(handler=cmd_init)
    return parser


def _file_error(exc: OSError) -> int:
    """A file dualcert could not write or read (init's starter files, the lab's --pki-dir): said, not a bug."""
    from dualcert.pytest.exitcode import PATH_ERRNOS

    print(f"dualcert: cannot use {exc.filename}: {exc.strerror or exc}\n"
          "  fix: choose a writable path, free space or raise the file-size limit", file=sys.stderr)
    return EXIT_USAGE_ERROR if exc.errno in PATH_ERRNOS else EXIT_INTERNAL_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, extra = argv[:index], argv[index + 1:]
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:  # argparse says 2 for a bad option; 2 means "interrupted" here
        return EXIT_USAGE_ERROR if exc.code == 2 else int(exc.code or 0)
    if not getattr(ns, "handler", None):
        parser.print_help()
        return EXIT_USAGE_ERROR
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    try:
        return int(ns.handler(ns, extra))
    except KeyboardInterrupt:
        print("dualcert: interrupted", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one clear line and exit code 3, the traceback on request
        if isinstance(exc, OSError) and exc.filename is not None:
            return _file_error(exc)
        if os.environ.get("DUALCERT_TRACEBACK"):
            import traceback

            traceback.print_exc()
        print(f"dualcert: internal error (a dualcert bug): {type(exc).__name__}: {exc}\n"
              "  fix: rerun with DUALCERT_TRACEBACK=1 and report the traceback", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
