"""`dualcert run` exit codes, observed on real runs against real TLS servers on loopback:
0 compliant, 1 policy failures, 2 interrupted, 3 internal error, 4 usage error; warnings
(expiry inside the warn window) pass but are listed everywhere, and fail with --strict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dualcert.compare.results_file import load_document
from dualcert.lab.pki import CA, KeySpec
from dualcert.lab.server import LabServer, ServedEndpoint
from dualcert.probe.tls import server_context

from .conftest import REPO, run_cli
from .peers import tcp_peer

HOST = "expiry.lab.test"
# Days of validity left for each served certificate; the default policy warns under 30, fails under 7.
LIFETIMES = {"fresh": 400, "expiring": 10, "expired-soon": 3}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    """One RSA-only TLS server per lifetime, certificates from a lab PKI; returns (trust PEM, ports)."""
    keys = tmp_path_factory.mktemp("expiry-pki")
    root = CA.root("dualcert Test RSA Root", KeySpec.rsa())
    issuing = root.sub_ca("dualcert Test RSA Issuing CA")
    trust = keys / "roots.pem"
    trust.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    served = {}
    for name, days_left in LIFETIMES.items():
        # issue() starts validity a day ago: days=N+1 leaves N days.
        leaf = issuing.issue([HOST], KeySpec.rsa(), days=days_left + 1)
        served[name] = ServedEndpoint(server_context([leaf.write(keys, name)]))
    with LabServer(list(served.values())) as server:
        assert server is not None
        yield trust, {name: endpoint.port for name, endpoint in served.items()}


def write_inventory(directory: Path, trust: Path, port: int, site: str = "expiry") -> Path:
    """One node, one RSA-only service (`ecdsa_unit: null`: ECDSA offers must be refused)."""
    path = directory / "site.yaml"
    path.write_text(f"site: {site}\ntrust: {trust}\nnodes:\n  - name: web\n    host: {HOST}\n"
                    f"    address: 127.0.0.1\n    services:\n"
                    f"      - {{name: https, port: {port}, rsa_unit: tomcat, ecdsa_unit: null}}\n")
    return path


def results(directory: Path, site: str = "expiry") -> dict:
    return load_document(directory / "reports" / f"{site}.json")


def test_compliant_site_exits_0_without_warnings(servers, tmp_path: Path) -> None:
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    result = run_cli("run", "--inventory", "site.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = results(tmp_path)
    assert data["run"]["exit_status"] == 0 and data["run"]["warnings"] == 0 and data["warnings"] == []
    assert data["run"]["counts"]["passed"] > 0 and "failed" not in data["run"]["counts"]
    assert "policy warning" not in result.stdout


def test_expiry_in_warn_window_passes_but_shows_everywhere(servers, tmp_path: Path) -> None:
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["expiring"])
    result = run_cli("run", "--inventory", "site.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    # Terminal: counted and listed, with the way to make them fail.
    assert "policy warning(s), passed; --strict makes them fail" in result.stdout
    # One finding for the one certificate, its endpoint named once, not one line per probe.
    assert "WARN expiry:" in result.stdout and "10 days left" in result.stdout and "on web: https (4 test(s))" \
        in result.stdout, result.stdout[-3000:]
    # JSON: the run counts them, the tests carry status warn, and a warnings section lists them.
    data = results(tmp_path)
    warned = [t for t in data["tests"] if t["status"] == "warn"]
    assert {t["id"] for t in warned} == {f"web:https:{o}:{v}" for o in ("rsa", "default")
                                         for v in ("tls1.2", "tls1.3")}
    assert all(t["rule"] == "expiry" and t["outcome"] == "passed" for t in warned)
    assert data["run"]["warnings"] == 4 and len(data["warnings"]) == 4 and data["run"]["strict"] is False
    assert all("warn window is 30 days" in w["message"] and w["fix"] for w in data["warnings"])
    # HTML: listed above the results table.
    html = (tmp_path / "reports" / "expiry.html").read_text()
    assert "4 policy warning(s)" in html and "web:https:default:tls1.3" in html


def test_strict_makes_warnings_fail(servers, tmp_path: Path) -> None:
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["expiring"])
    result = run_cli("run", "--inventory", "site.yaml", "--strict", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    data = results(tmp_path)
    failed = [t for t in data["tests"] if t["outcome"] == "failed"]
    # The finding is still a warning (status), made fatal (outcome) by --strict.
    assert len(failed) == 4 and all(t["rule"] == "expiry" and t["status"] == "warn" for t in failed)
    assert data["run"]["strict"] is True and data["run"]["exit_status"] == 1
    assert "policy warning(s), failed (--strict)" in result.stdout


def test_expiry_inside_fail_window_exits_1(servers, tmp_path: Path) -> None:
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["expired-soon"])
    result = run_cli("run", "--inventory", "site.yaml", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    failed = [t for t in results(tmp_path)["tests"] if t["outcome"] == "failed"]
    assert failed and {t["rule"] for t in failed} == {"expiry"}
    assert all("policy fails under 7" in t["message"] for t in failed)


def test_policy_failure_exits_1(servers, tmp_path: Path) -> None:
    """The default policy expects ECDSA where the catalog's role has a tomcat-ECDSA: none is served."""
    trust, ports = servers
    (tmp_path / "site.yaml").write_text(
        f"site: expiry\ntrust: {trust}\nnodes:\n  - name: web\n    host: {HOST}\n    address: 127.0.0.1\n"
        f"    services:\n      - {{name: https, port: {ports['fresh']}, rsa_unit: tomcat, ecdsa_unit: tomcat-ECDSA}}\n")
    result = run_cli("run", "--inventory", "site.yaml", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    failed = {(t["id"], t["rule"]) for t in results(tmp_path)["tests"] if t["outcome"] == "failed"}
    assert ("web:https:ecdsa:tls1.2", "presented_key") in failed


@pytest.mark.parametrize("items", ["rule", "probe", "endpoint"])
def test_crashed_check_exits_3_and_keeps_the_other_results(servers, tmp_path: Path, items: str) -> None:
    """A bug in one rule (injected by tests/faults.py) is an internal error, not a policy failure,
    whether a test checks one rule, a probe's rules or an endpoint's."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = run_cli("run", "--inventory", "site.yaml", "--", "-p", "tests.faults", "--dualcert-items", items,
                     cwd=tmp_path, env=env)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    assert "internal error: 4 check(s) crashed" in result.stdout
    data = results(tmp_path)
    assert data["run"]["exit_status"] == 3 and len(data["run"]["internal_errors"]) == 4
    by_rule: dict[str, set[str]] = {}
    for test in data["tests"]:
        by_rule.setdefault(test["rule"], set()).add(test["outcome"])
    # The crashed check's tests are errors (not policy failures); every other rule ran as usual.
    assert by_rule["hostname"] == {"error", "skipped"} and by_rule["trust"] == {"passed", "skipped"}


def test_sigterm_interrupts_with_exit_2_and_keeps_results(tmp_path: Path) -> None:
    """A CI job's timeout sends SIGTERM: exit 2, and the results JSON says `interrupted`."""
    accepted = threading.Event()

    def stall(conn) -> None:
        accepted.set()
        conn.recv(65536)

    with tcp_peer(stall, hold_seconds=20) as port:
        (tmp_path / "site.yaml").write_text(
            f"site: stall\nnodes:\n  - name: slow\n    host: slow.lab.test\n    address: 127.0.0.1\n"
            f"    services: [{{name: https, port: {port}}}]\n")
        process = subprocess.Popen(
            [sys.executable, "-m", "dualcert.cli", "run", "--inventory", "site.yaml", "--",
             "--handshake-timeout", "8"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert accepted.wait(30), "the run never connected"
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 2, stdout[-3000:] + stderr[-2000:]
    data = results(tmp_path, "stall")
    assert data["run"]["status"] == "interrupted" and data["run"]["exit_status"] == 2


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--inventory", "site.yaml", "--report-dir", "blocker"], "blocker is not a directory"),
    (["run", "--inventory", "site.yaml", "--html", "blocker/x/report.html"], "blocker is not a directory"),
    (["run", "--inventory", "missing.yaml"], "missing.yaml: inventory file not found"),
    (["run", "--inventory", "site.yaml", "--policy", "no-such-profile"], "no-such-profile"),
    (["run", "--inventory", "site.yaml", "--", "--offers", "dsa"], "--offers: 'dsa' is not a list of"),
    (["run", "--inventory", "site.yaml", "--", "--tls-versions", ","], "--tls-versions is empty: give one or more of"),
    (["run", "--policy", "rsa-only"], "the following arguments are required: --inventory"),
    (["run", "--inventory", "site.yaml", "--inventory-format", "csv"], "invalid choice: 'csv'"),
    (["lab", "--states", "S9"], "unknown state(s) S9"),
    (["lab", "--report-dir", "blocker/lab"], "blocker is not a directory"),
    (["init", "blocker"], "blocker exists and is not a directory"),
])
def test_usage_errors_exit_4_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "blocker").write_text("a file where a directory is expected\n")
    (tmp_path / "site.yaml").write_text("nodes:\n  - {name: a, host: a.lab.test, address: 127.0.0.1, role: uccx}\n")
    result = run_cli(*args, cwd=tmp_path, timeout=120)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "reports").exists()  # nothing was probed


def test_ansible_inventory_with_its_own_catalog_runs_end_to_end(servers, tmp_path: Path) -> None:
    """An Ansible INI inventory whose group names a role of a custom catalog: real probes, exit 0."""
    trust, ports = servers
    (tmp_path / "catalog.yaml").write_text(
        "roles:\n  webfarm:\n    description: test role\n    services:\n"
        f"      https: {{port: {ports['fresh']}, rsa_unit: tomcat, ecdsa_unit: null}}\n")
    (tmp_path / "hosts").write_text(
        f"[all:vars]\ndualcert_site=ansible-site\ndualcert_trust={trust}\ndualcert_catalog=catalog.yaml\n\n"
        f"[webfarm]\nweb1 ansible_host=127.0.0.1 dualcert_host={HOST}\n\n[other]\nunrelated ansible_host=127.0.0.1\n")
    result = run_cli("run", "--inventory", "hosts", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = results(tmp_path, "ansible-site")
    assert {p["node"] for p in data["probes"]} == {"web1"}
    assert {p["outcome"] for p in data["probes"]} == {"ok", "refused"}  # RSA served, ECDSA refused as intended


@pytest.mark.parametrize("items", ["rule", "endpoint"])
def test_warnings_and_crashes_are_counted_under_xdist(servers, tmp_path: Path, items: str) -> None:
    """With `-n 2` the tests run in workers; the controller still lists warnings and exits 3 on a crash."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["expiring"])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = run_cli("run", "--inventory", "site.yaml", "--", "-n", "2", "-p", "tests.faults",
                     "--dualcert-items", items, cwd=tmp_path, env=env)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    data = results(tmp_path)
    assert data["run"]["warnings"] == 4 and len(data["run"]["internal_errors"]) == 4
    warned = [t for t in data["tests"] if t["status"] == "warn"]   # their causes crossed from the workers
    assert warned and all(t["causes"] == ["leaf-expiring"] for t in warned), warned
    assert "4 policy warning(s)" in result.stdout and "internal error: 4 check(s) crashed" in result.stdout


def test_pytest_log_and_capture_options_after_the_separator_still_work(servers, tmp_path: Path) -> None:
    """`dualcert run` leaves pytest's logging plugin and output capture out (the suites use neither), unless
    an option after `--` asks for them: then they are there, and the run is the same."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    result = run_cli("run", "--inventory", "site.yaml", "--", "--log-level=INFO", "--capture=fd", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "unrecognized arguments" not in result.stderr
    assert results(tmp_path)["run"]["counts"]["passed"] > 0


def test_the_inventory_is_read_once(servers, tmp_path: Path) -> None:
    """`dualcert run` reads the inventory to name its reports and hands it to the plugin (a 10,000-node
    file took ~1 s to parse); a plain `pytest --inventory` session still reads it itself."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    counting = ("import sys, dualcert.estate.inventory as inv\n"
                "calls = []\n"
                "real = inv._load\n"
                "inv._load = lambda *a: calls.append(a) or real(*a)\n"
                "from dualcert.cli import main\n"
                "code = main(sys.argv[1:])\n"
                "print('inventory reads:', len(calls))\n"
                "sys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", counting, "run", "--inventory", "site.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "inventory reads: 1" in result.stdout
    assert results(tmp_path)["probes"], "the run probed the inventory it was handed"
