"""Typed outcomes within the timeouts: closed port, a port that never answers, a port that is not TLS.
The run completes around them and the report is written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dualcert.compare.results_file import load_document
from dualcert.estate.inventory import load_inventory
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.connection import Timeouts
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Outcome

from .conftest import missing_capability, run_cli
from .peers import closed_port, http_plaintext, tarpit, tcp_peer


def inventory(tmp_path: Path, ports: dict[str, int]) -> Path:
    services = "\n".join(f"      - {{name: {name}, port: {port}}}" for name, port in ports.items())
    path = tmp_path / "bad.yaml"
    path.write_text(f"site: badhosts\nnodes:\n  - name: box\n    host: box.example.test\n    address: 127.0.0.1\n"
                    f"    services:\n{services}\n")
    return path


def test_each_misbehaviour_has_its_outcome_within_the_timeout(tmp_path: Path) -> None:
    with tcp_peer(tarpit) as silent, tcp_peer(http_plaintext) as plain:
        path = inventory(tmp_path, {"closed": closed_port(), "silent": silent, "plain": plain})
        endpoints = load_inventory(path).endpoints()
        runner = ProbeRunner(timeouts=Timeouts(connect=1.0, starttls=1.0, handshake=1.0))
        started = time.monotonic()
        results = runner.run([ProbeTask(e, o, v) for e in endpoints for o in Offer for v in TLSVersion])
        elapsed = time.monotonic() - started
    by_service = {}
    for key, observation in results.items():
        by_service.setdefault(key.service, set()).add(observation.outcome)
    assert by_service == {"closed": {Outcome.CONNECTION_REFUSED}, "silent": {Outcome.TIMEOUT},
                          "plain": {Outcome.NOT_TLS}}
    # The first probe of a dead endpoint stands for the other five: one timeout, not six.
    assert elapsed < 2.5, elapsed
    silent_probes = [o for k, o in results.items() if k.service == "silent"]
    assert sum(o.probed for o in silent_probes) == 1
    assert all("not probed" in o.detail for o in silent_probes if not o.probed)
    assert next(o for o in silent_probes if o.probed).phase == "handshake"


def test_run_completes_and_writes_reports_around_dead_endpoints(tmp_path: Path) -> None:
    with tcp_peer(tarpit) as silent:
        path = inventory(tmp_path, {"closed": closed_port(), "silent": silent})
        result = run_cli("run", "--inventory", str(path), "--", "--handshake-timeout", "1", cwd=tmp_path)
    assert result.returncode == 1
    data = load_document(tmp_path / "reports" / "badhosts.json")
    assert data["run"]["status"] == "complete"
    assert {p["outcome"] for p in data["probes"]} == {"connection-refused", "timeout"}
    failed = [t for t in data["tests"] if t["outcome"] == "failed"]
    # Every probe failed its presented_key; the cluster's deployment state cannot be measured.
    assert {t["rule"] for t in failed} == {"presented_key", "deployment_state"}
    assert all("reachable" in t["fix"] for t in failed)
    [state] = [t for t in failed if t["rule"] == "deployment_state"]
    assert "measured state unknown" in state["message"]
    assert (tmp_path / "reports" / "badhosts.html").exists()


def test_unresolvable_host_is_typed(tmp_path: Path) -> None:
    """Name resolution runs inside a network namespace of our own (`unshare -n`): the lookup
    fails there without a single packet leaving this machine."""
    if not shutil.which("unshare") or os.geteuid() != 0:
        missing_capability("needs root and unshare(1) to isolate the DNS lookup in a private network namespace")
    path = tmp_path / "dns.yaml"
    path.write_text("nodes:\n  - name: ghost\n    host: ghost.invalid\n    services: [{name: https, port: 443}]\n")
    script = (
        "import sys; from pathlib import Path\n"
        "from dualcert.estate.inventory import load_inventory\n"
        "from dualcert.offers import Offer, TLSVersion\n"
        "from dualcert.probe.engine import ProbeRunner, ProbeTask\n"
        "e = load_inventory(Path(sys.argv[1])).endpoints()[0]\n"
        "(o,) = ProbeRunner().run([ProbeTask(e, Offer.RSA, TLSVersion.TLS1_2)]).values()\n"
        "print(o.outcome.value, o.detail)\n"
    )
    result = subprocess.run(["unshare", "-n", sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("unresolved ") and "ghost.invalid" in result.stdout
