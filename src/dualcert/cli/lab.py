"""`dualcert lab`: the suites against the embedded lab, checked against the digest's predicted table."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from dualcert.cli.common import EXIT_USAGE_ERROR, check_writable, pytest_args, run_pytest, suites_dir, usage_error
from dualcert.errors import UsageError

EPILOG = """the lab starts real TLS servers on 127.0.0.1 (free ports) holding a generated PKI in
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


def cmd_lab(ns: argparse.Namespace, extra: list[str]) -> int:
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
        check_writable(report_dir)
    except UsageError as exc:
        return usage_error(exc)
    # A kept PKI with one state is one estate moved between states: names without the state.
    pki_dir = Path(ns.pki_dir) if ns.pki_dir else None
    nodes = default_nodes(states, collab=not ns.no_collab, state_names=not (pki_dir and len(states) == 1))
    if ns.release:  # the upgrade story: the UCCX and SocialMiner nodes of the states run this release
        try:
            nodes = with_release(nodes, ns.release)
        except UsageError as exc:
            return usage_error(exc)
    if pki_dir is not None:
        try:
            open_pki_dir(pki_dir)
        except UsageError as exc:
            return usage_error(exc)
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
        code = run_pytest(pytest_args(suites_dir(), lab.inventory_path, ns.policy or str(lab.policy_path), html,
                                      results, False, [*quiet, *extra], ns.baseline))
    if code not in (0, 1, 5) or not results.exists():
        print(f"dualcert lab: the run ended with exit code {code}", file=sys.stderr)
        return code or 3
    from dualcert.compare.results_file import load_document

    data = load_document(results)   # the lab's own run: a small file, read whole
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


def add_parser(sub: Any) -> None:
    lab = sub.add_parser("lab", help="run the suites against the embedded lab (no cluster needed)",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
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
