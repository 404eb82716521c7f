"""How long a 2,000-endpoint report takes to open in a browser.

Starts N real TLS endpoints on 127.0.0.1 (the lab's server; one RSA and one ECDSA chain,
both CA-signed, shared by every port), runs `dualcert run` against them as a user would
(3 offers x 2 TLS versions x 7 rules per endpoint), then opens the report in Debian's
headless Chromium and prints what it measured: run time, report size, and the time until
pytest-html and dualcert's script have rendered (performance.now() at the load event,
recorded by the report itself), for the whole report and for filtered views.

    .venv/bin/python bench/report_open.py --endpoints 2000

Only loopback is touched. Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dualcert.lab.pki import CA, KeySpec
from dualcert.lab.server import LabServer, ServedEndpoint
from dualcert.probe.tls import server_context

SERVICES = ("tomcat", "tomcat-443", "notification-bosh", "notification-xmpp", "socketio")  # the uccx role
VIEWS = (("whole report", ""), ("failed tests only", "visible=failed,error"),
         ("one matrix cell (node0007 tomcat)", "dcnode=node0007&dcservice=tomcat"),
         ("one node", "dcnode=node0007"), ("ecdsa offer over TLS 1.3", "dcoffer=ecdsa&dcversion=tls1.3"))
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def open_in_chromium(chromium: str, page: Path, query: str) -> tuple[float, str, str]:
    """(wall seconds, rendered rows, ms to rendered as the page measured it)."""
    with tempfile.TemporaryDirectory(prefix="dualcert-bench-chromium-") as profile:
        started = time.monotonic()
        result = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                                 page.resolve().as_uri() + (f"?{query}" if query else "")],
                                capture_output=True, text=True, timeout=900)
        wall = time.monotonic() - started
    rows = re.search(r'data-dc-rows="(\d+)"', result.stdout)
    ready = re.search(r'data-dc-ready-ms="(\d+)"', result.stdout)
    return wall, rows.group(1) if rows else "?", ready.group(1) if ready else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--keep", metavar="DIR", help="keep the report and JSON in DIR")
    parser.add_argument("--days", type=int, default=825,
                        help="the two shared certificates' validity: 20 puts every probe in the expiry warn window "
                             "(issue 15's 12,000 warnings about two certificates)")
    parser.add_argument("--no-open", action="store_true", help="measure the run and the report's size only")
    ns = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        print("chromium is not installed: sudo apt-get install chromium", file=sys.stderr)
        return 2
    work = Path(ns.keep) if ns.keep else Path(tempfile.mkdtemp(prefix="dualcert-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    domain = "bench.dualcert.test"
    rsa = CA.root("dualcert Bench RSA CA", KeySpec.rsa()).issue([f"*.{domain}"], KeySpec.rsa(), days=ns.days)
    ec = CA.root("dualcert Bench EC CA", KeySpec.ec()).issue([f"*.{domain}"], KeySpec.ec(), days=ns.days)
    context = server_context([rsa.write(work, "rsa"), ec.write(work, "ec")])
    nodes = (ns.endpoints + len(SERVICES) - 1) // len(SERVICES)
    endpoints = [ServedEndpoint(context, domain=domain) for _ in range(nodes * len(SERVICES))]
    with LabServer(endpoints, workers=32):
        lines = ["site: bench", "nodes:"]
        for n in range(nodes):
            lines += [f"  - name: node{n:04d}", f"    host: node{n:04d}.{domain}", "    address: 127.0.0.1",
                      "    role: uccx", f"    cluster: cluster{n // 10:03d}", "    services:"]
            lines += [f"      - {{name: {s}, port: {endpoints[n * len(SERVICES) + i].port}}}"
                      for i, s in enumerate(SERVICES)]
        (work / "bench.yaml").write_text("\n".join(lines) + "\n")
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "dualcert.cli", "run", "--inventory", "bench.yaml", "--report-dir",
                              str(work), "--", "--probe-workers", "64", "--per-node", "8"], cwd=work,
                             capture_output=True, text=True, timeout=3600)
        run_s = time.monotonic() - started
    summary = [line for line in run.stdout.splitlines() if " in " in line and ("passed" in line or "failed" in line)]
    report = work / "bench.html"
    print(f"endpoints: {nodes * len(SERVICES)} ({nodes} nodes), dualcert run: {run_s:.1f}s, exit {run.returncode}, "
          f"{summary[-1].strip('= ') if summary else '?'}")
    html_mb, json_mb = report.stat().st_size / 1e6, (work / "bench.json").stat().st_size / 1e6
    print(f"report: {html_mb:.1f} MB HTML, {json_mb:.1f} MB JSON")
    after = run.stdout[run.stdout.find("dualcert verdict"):] if "dualcert verdict" in run.stdout else \
        run.stdout[run.stdout.rfind("- dualcert -"):]
    print(f"terminal: {len(run.stdout.splitlines())} lines in all, {len(after.splitlines())} from the dualcert "
          f"section on; HTML: {report.read_text().count('<li')} list items (warnings/findings)")
    for label, query in () if ns.no_open else VIEWS:
        wall, rows, ready = open_in_chromium(chromium, report, query)
        print(f"open {label:<36} rows rendered {rows:>6}  rendered at {ready:>6} ms  chromium wall {wall:.1f}s")
    if not ns.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
