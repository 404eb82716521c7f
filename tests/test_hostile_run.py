"""Nothing lost: a real `dualcert run` subprocess against slow peers, interrupted by SIGINT,
SIGTERM or SIGKILL, keeps every probe that finished; a check that crashes errors alone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualcert.compare.results_file import load_document
from dualcert.lab.pki import KeySpec, self_signed
from dualcert.rules.registry import Scope, rules_of

from . import peers
from .conftest import REPO
from .hostile import measured
from .test_hostile_servers import inventory_text, tls_server

GOOD_PROBES = 6  # 3 offers x 2 TLS versions on the good endpoint


@pytest.fixture
def slow_estate(tmp_path: Path) -> Iterator[Path]:
    """A good dual-certificate server that answers at once, and two tarpits that hold their
    probes for the whole (30 s) handshake timeout: a run that is surely mid-way when signalled."""
    good = [self_signed(["good.example.test"], KeySpec.ec()), self_signed(["good.example.test"], KeySpec.rsa())]
    (tmp_path / "certs").mkdir()
    with tls_server(good, tmp_path / "certs") as port, peers.tcp_peer(peers.tarpit) as slow_a, \
            peers.tcp_peer(peers.tarpit) as slow_b:
        path = tmp_path / "slow.yaml"
        path.write_text("site: slow\nnodes:\n" + inventory_text({"https": (port, None)}, name="good",
                                                                host="good.example.test")
                        + inventory_text({"a": (slow_a, None), "b": (slow_b, None)}, name="slow"))
        yield path


def start_run(inventory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dualcert.cli", "run", "--inventory", str(inventory),
                             "--policy", "self-signed", "--", "--handshake-timeout", "30"],
                            cwd=inventory.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def journal_lines(journal: Path, at_least: int, timeout: float = 30) -> list[dict[str, object]]:
    """Wait (bounded) until the journal holds `at_least` probes; return them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists():
            lines = [json.loads(line) for line in journal.read_text().splitlines() if line.endswith("}")]
            if len(lines) >= at_least:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"the journal never reached {at_least} probes")


def keys(probes: list[dict[str, object]]) -> set[tuple[object, ...]]:
    return {(p["node"], p["service"], p["offer"], p["tls_version"]) for p in probes}


@pytest.mark.parametrize(("case_id", "signum"), [("sigint", signal.SIGINT), ("sigterm", signal.SIGTERM)])
def test_signal_mid_run_keeps_finished_probes(case_id: str, signum: int, slow_estate: Path) -> None:
    reports = slow_estate.parent / "reports"
    process = start_run(slow_estate)
    try:
        finished = journal_lines(reports / "slow.json.partial.jsonl", GOOD_PROBES)
        process.send_signal(signum)
        signalled = time.monotonic()
        stdout, stderr = process.communicate(timeout=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    ended_after = time.monotonic() - signalled
    assert "Traceback" not in stdout + stderr, stdout + stderr
    assert ended_after < 10, f"the run took {ended_after:.1f}s to end after the signal (probes in flight hold it?)"
    data = load_document(reports / "slow.json")
    assert data["schema"] == "dualcert-results/2" and data["run"]["exit_status"] == 2
    assert all({"outcome", "chain", "chain_error", "probed"} <= set(p) for p in data["probes"])
    assert keys(finished) <= keys(data["probes"]), "a finished probe is missing from the results JSON"
    assert {p["node"] for p in data["probes"]} >= {"good"}
    assert not (reports / "slow.json.partial.jsonl").exists()  # the JSON replaces the journal
    html = (reports / "slow.html").read_text()
    assert "dualcert compliance: slow" in html
    parts = [f"exit {process.returncode}"]
    if data["run"]["status"] == "interrupted" and len(data["probes"]) >= GOOD_PROBES:
        parts.append("JSON interrupted with finished probes")
    parts.append("HTML")
    measured(case_id, ", ".join(parts))


def test_sigkill_leaves_the_journal(slow_estate: Path) -> None:
    reports = slow_estate.parent / "reports"
    process = start_run(slow_estate)
    try:
        journal_lines(reports / "slow.json.partial.jsonl", GOOD_PROBES)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert not (reports / "slow.json").exists()
    kept = [json.loads(line) for line in (reports / "slow.json.partial.jsonl").read_text().splitlines()]
    good = [p for p in kept if p["node"] == "good"]
    assert len(good) == GOOD_PROBES and all(p["outcome"] == "ok" and p["chain"] for p in good)
    measured("sigkill", "journal holds the finished probes")


def test_a_crashing_check_errors_alone(slow_estate: Path) -> None:
    """Only the good endpoint is run (-k good): its expiry check is made to raise for one case."""
    crash = "good:https:rsa:tls1.2"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "suites"), "--inventory", str(slow_estate),
         "--policy", "self-signed", "-p", "tests.faults", "-p", "no:cacheprovider", "-k", "good",
         "--results-json", "crash.json", "-q"],
        cwd=slow_estate.parent, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DUALCERT_CRASH_RULE": "expiry", "DUALCERT_CRASH_CASE": crash,
             "PYTHONPATH": str(REPO)})
    # A check that raises is a dualcert bug: pytest's internal-error code, not a policy failure.
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    data = load_document(slow_estate.parent / "crash.json")
    tests = data["tests"]
    errored = [t for t in tests if t["outcome"] == "error"]
    assert [(t["id"], t["rule"]) for t in errored] == [(crash, "expiry")]
    assert "crashed: RuntimeError: injected bug" in errored[0]["message"]
    others = [t for t in tests if t is not errored[0]]
    per_probe = [t for t in others if t["id"].startswith("good:")]
    assert len(per_probe) == GOOD_PROBES * len(rules_of(Scope.PROBE)) - 1
    assert all(t["outcome"] in ("passed", "skipped") for t in others)
    assert sum(t["rule"] == "expiry" and t["outcome"] == "passed" for t in others) == GOOD_PROBES - 1
    measured("check-crash", "that test errors, the others run")


def _state_and_parent(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent from /proc/<pid>/stat; None once it is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        state, ppid = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        return state, int(ppid)
    return None


def _alive(pid: int) -> bool:
    found = _state_and_parent(pid)
    return found is not None and found[0] != "Z"


def _children(pid: int) -> dict[int, str]:
    """The live (not zombie) processes whose parent is `pid`, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        stat = _state_and_parent(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and stat[0] != "Z" and stat[1] == pid:
            with contextlib.suppress(OSError):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    return found


def test_an_interrupted_large_run_leaves_no_second_process(tmp_path: Path) -> None:
    """From EARLY_ENDPOINTS endpoints with a trust bundle, `dualcert run` starts the path-validation process as
    pytest starts (facts/prevalidation.py). A Ctrl-C while the probes are out ends it with the run: no process
    is left, no child prints a traceback, the finished probes are kept."""
    from dualcert.facts.prevalidation import EARLY_ENDPOINTS

    good = [self_signed(["good.example.test"], KeySpec.ec()), self_signed(["good.example.test"], KeySpec.rsa())]
    (tmp_path / "certs").mkdir()
    (tmp_path / "roots.pem").write_bytes(b"".join(g.chain_pem() for g in good))
    with tls_server(good, tmp_path / "certs") as port, peers.tcp_peer(peers.tarpit) as slow:
        path = tmp_path / "large.yaml"
        path.write_text(f"site: large\ntrust: {tmp_path / 'roots.pem'}\nnodes:\n"
                        + inventory_text({"https": (port, None)}, name="good", host="good.example.test")
                        + inventory_text({f"s{i}": (slow, None) for i in range(EARLY_ENDPOINTS)}, name="slow"))
        process = start_run(path)
        try:
            journal_lines(tmp_path / "reports" / "large.json.partial.jsonl", GOOD_PROBES)
            children = _children(process.pid)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=20)
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    assert any("spawn_main" in command for command in children.values()), children   # the validation process
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [children[pid] for pid in children if _alive(pid)], "a child outlived the interrupted run"
    assert process.returncode == 2 and "Traceback" not in stdout + stderr, stdout + stderr
    data = load_document(tmp_path / "reports" / "large.json")
    assert data["run"]["status"] == "interrupted" and {p["node"] for p in data["probes"]} >= {"good"}
