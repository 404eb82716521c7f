"""Failures that cannot hide (docs/exit-codes.md): a crashed node or cluster rule or dualcert fixture is
an internal error (exit 3, `run.internal_errors`), a run that checks nothing exits 5 saying why, and a
report that cannot be written (file-size limit, disk full, a path that is not a directory) is named,
exits 3 or 4, and keeps what could be written. Real runs against lab servers on loopback; bugs are
planted by tests/faults.py, write failures made by the kernel (RLIMIT_FSIZE, /dev/full, ENOTDIR)."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dualcert.compare.results_file import load_document
from dualcert.rules.registry import Scope, rules_of

from .conftest import REPO, run_cli
from .hostile import measured
from .test_exit_codes import results, servers, write_inventory

PROBE_RULES = len(rules_of(Scope.PROBE))
# The inventory of test_exit_codes: one node, one service (6 probes), one cluster; a test per rule.
ALL_TESTS = 6 * PROBE_RULES + len(rules_of(Scope.NODE)) + len(rules_of(Scope.CLUSTER))

__all__ = ["servers"]  # the module-scoped lab servers of test_exit_codes, served here too
FAULTS = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def faulty_run(tmp_path: Path, servers: Any, items: str, *extra: str,
               **planted: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`dualcert run` over one lab node with a bug planted by tests/faults.py (env DUALCERT_CRASH_*)."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    env = {**FAULTS, **{f"DUALCERT_CRASH_{k.upper()}": v for k, v in planted.items()}}
    result = run_cli("run", "--inventory", "site.yaml", "--", "-p", "tests.faults", "--dualcert-items", items,
                     *extra, cwd=tmp_path, env=env)
    return result, results(tmp_path)


@pytest.mark.parametrize("items", ["rule", "endpoint"])
@pytest.mark.parametrize(("rule", "subject"), [("ecdsa_chain", "web"), ("deployment_state", "expiry")])
def test_crashed_node_or_cluster_rule_exits_3(servers, tmp_path: Path, items: str, rule: str, subject: str) -> None:
    """A node rule (`ecdsa_chain`) or a cluster rule (`deployment_state`) that raises is an internal error,
    in one test per rule and in one test per node; every other rule's result is kept."""
    result, data = faulty_run(tmp_path, servers, items, rule=rule)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    assert data["run"]["exit_status"] == 3 and data["run"]["internal_errors"] == [f"{subject} {rule}"]
    assert "internal error: 1 check(s) crashed" in result.stdout and "internal error" in data["run"]["exit_reason"]
    crashed = [t for t in data["tests"] if t["rule"] == rule]
    assert [t["outcome"] for t in crashed] == ["error"] and "injected bug" in crashed[0]["message"]
    others = {t["outcome"] for t in data["tests"] if t["rule"] not in (rule, None)}
    assert "passed" in others and "error" not in others
    measured("estate-rule-crash", f"exit {result.returncode}, named in internal_errors")


@pytest.mark.parametrize(("fixture", "items", "subject", "errors", "extra"), [
    ("case", "rule", "web:https:rsa:tls1.2", PROBE_RULES, []),  # the probe rules' tests of that probe, each in setup
    ("case", "rule", "web:https:rsa:tls1.2", PROBE_RULES, ["-n", "2"]),  # ... in xdist workers
    ("case", "endpoint", "web:https", 1, []),             # the endpoint's one test
    ("estate", "rule", "web", len(rules_of(Scope.NODE)), []),  # the node rules' tests (dualcert_node)
    ("estate", "rule", "expiry", len(rules_of(Scope.CLUSTER)), []),  # the cluster rules' tests (dualcert_cluster)
    ("facts", "rule", "web:https:rsa:tls1.2", PROBE_RULES, []),  # the handle raises in the test, outside the rule
])
def test_crashed_fixture_setup_exits_3(servers, tmp_path: Path, fixture: str, items: str, subject: str,
                                      errors: int, extra: list[str]) -> None:
    """A dualcert fixture that raises while building a test's handle, or the handle raising outside a rule,
    is a dualcert bug: exit 3, each such test listed in `internal_errors` as `<subject> setup` (or `check`),
    never a policy failure (exit 1)."""
    case = "web:https:rsa:tls1.2" if fixture == "case" else subject
    result, data = faulty_run(tmp_path, servers, items, *extra, fixture=fixture, case=case)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    where, how = ("check", "check crashed") if fixture == "facts" else ("setup", "fixture setup crashed")
    assert data["run"]["internal_errors"] == [f"{subject} {where}"] * errors
    errored = [t for t in data["tests"] if t["outcome"] == "error"]
    assert len(errored) == errors and all(f"dualcert {how}: RuntimeError" in t["message"] for t in errored)
    assert "failed" not in data["run"]["counts"] and data["run"]["counts"]["passed"] > 0
    measured("fixture-crash", f"exit {result.returncode}, named in internal_errors")


def test_crashed_probe_phase_exits_3_and_is_listed(servers, tmp_path: Path) -> None:
    """A bug in dualcert's own hooks (the probe phase, before any test) is pytest's internal error: exit 3,
    and the results JSON still says which, in internal_errors and exit_reason."""
    result, data = faulty_run(tmp_path, servers, "rule", fixture="probe")
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    assert data["run"]["internal_errors"] == ["session RuntimeError: injected bug in the probe phase"]
    assert "injected bug in the probe phase" in data["run"]["exit_reason"] and data["run"]["exit_status"] == 3


@pytest.mark.parametrize(("extra", "reason"), [
    (["-k", "no_such_test"], f"-k 'no_such_test' left none of the {ALL_TESTS} dualcert tests"),
    (["-n", "2", "-k", "no_such_test"], "-k 'no_such_test' left none of the dualcert tests"),  # workers deselect
    (["--deselect", "suites/test_certificate_policy.py", "--deselect", "suites/test_estate.py"],
     f"--deselect left none of the {ALL_TESTS} dualcert tests"),
    (["--shard", "2/2"], "shard 2/2 of the inventory has no endpoint to probe (more shards than clusters)"),
])
def test_nothing_checked_exits_5_saying_why(servers, tmp_path: Path, extra: list[str], reason: str) -> None:
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    if "--deselect" in extra:  # node ids as pytest sees them under `dualcert run` (rootdir: the suites)
        extra = ["--deselect", "test_certificate_policy.py", "--deselect", "test_estate.py"]
    result = run_cli("run", "--inventory", "site.yaml", "--", *extra, cwd=tmp_path)
    assert result.returncode == 5, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"nothing was checked (exit code 5): {reason}" in result.stdout
    name = "expiry.shard-2-of-2" if "--shard" in extra else "expiry"
    data = load_document(tmp_path / "reports" / f"{name}.json")
    assert data["run"]["exit_status"] == 5 and reason in data["run"]["exit_reason"]
    if extra[0] == "-k":
        measured("nothing-selected", f"exit {result.returncode}, reason named")


def limited_run(tmp_path: Path, max_bytes: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`dualcert ARGS` (default: run) under RLIMIT_FSIZE: a write past `max_bytes` fails with EFBIG (root included;
    Python ignores SIGXFSZ, so the write returns the error instead of killing the process)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return subprocess.run([sys.executable, "-m", "dualcert.cli", *(args or ("run", "--inventory", "site.yaml"))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, preexec_fn=limit)


def test_html_over_the_file_size_limit_keeps_the_json_and_exits_3(servers, tmp_path: Path) -> None:
    """The HTML report (~140 KB) passes a 64 KiB limit, the results JSON (~26 KB) does not: the JSON is
    written and says why the run failed, the HTML is named on stderr and nothing claims it exists."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    result = limited_run(tmp_path, 64 * 1024)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    html = tmp_path / "reports" / "expiry.html"
    assert f"dualcert: cannot write the HTML report {html}: File too large" in result.stderr
    assert "report: reports/expiry.html (NOT written)" in result.stdout
    assert "Generated html report" not in result.stdout and not html.exists()
    assert not list((tmp_path / "reports").glob(".expiry.html.*"))  # no temp file left behind
    data = results(tmp_path)
    assert data["run"]["exit_status"] == 3 and "cannot write the HTML report" in data["run"]["exit_reason"]
    assert data["run"]["counts"]["passed"] > 0  # the policy passed: only the write failed
    assert "Traceback" not in result.stdout + result.stderr
    measured("file-size-limit", f"exit {result.returncode}, HTML named, JSON kept")


def test_every_write_over_the_limit_exits_3_naming_each_and_keeps_the_journal(servers, tmp_path: Path) -> None:
    """Under a 3,000-byte limit the journal stops mid-run, then the JSON and the HTML fail: each is named,
    the run still completes its checks, and the journal keeps the probes it could hold."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    result = limited_run(tmp_path, 3000)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    for what, name in (("results journal", "expiry.json.partial.jsonl"), ("results JSON", "expiry.json"),
                       ("HTML report", "expiry.html")):
        assert f"cannot write the {what} " in result.stderr and name in result.stderr
    assert "report: reports/expiry.json (NOT written)" in result.stdout
    assert re.search(r"\d+ passed", result.stdout)  # the checks themselves ran
    journal = (tmp_path / "reports" / "expiry.json.partial.jsonl").read_bytes()
    assert 0 < len(journal) <= 3000 and json.loads(journal.splitlines()[0])["node"] == "web"
    assert not (tmp_path / "reports" / "expiry.json").exists()
    assert "Traceback" not in result.stdout + result.stderr


def test_json_to_a_full_disk_exits_3_and_keeps_the_html(servers, tmp_path: Path) -> None:
    """--json /dev/full: every write fails with ENOSPC (disk full). The device is written, never replaced."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    before = os.stat("/dev/full")
    result = run_cli("run", "--inventory", "site.yaml", "--json", "/dev/full", cwd=tmp_path)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    assert "dualcert: cannot write the results JSON /dev/full: No space left on device" in result.stderr
    assert (tmp_path / "reports" / "expiry.html").stat().st_size > 10_000
    after = os.stat("/dev/full")
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert not Path("/dev/full.partial.jsonl").exists()  # no journal beside a device
    measured("disk-full", f"exit {result.returncode}, JSON named, HTML kept")


def test_json_under_a_file_exits_4_and_keeps_the_html(servers, tmp_path: Path) -> None:
    """A --results-json path under a plain file (ENOTDIR, what a read-only directory is for root): the
    user's path cannot be written, exit 4; the HTML report is still written."""
    trust, ports = servers
    write_inventory(tmp_path, trust, ports["fresh"])
    (tmp_path / "blocker").write_text("a file where a directory is expected\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "suites"), "--inventory", "site.yaml",
         "--results-json", "blocker/results.json", "--html", "report.html", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-2000:]
    assert "dualcert: cannot write the results journal blocker/results.json.partial.jsonl: Not a directory" \
        in result.stderr
    assert "dualcert: cannot write the results JSON blocker/results.json: Not a directory" in result.stderr
    assert "report: blocker/results.json (NOT written)" in result.stdout
    assert (tmp_path / "report.html").stat().st_size > 10_000


@pytest.mark.parametrize(("args", "limit", "file"), [
    (["init", "starter"], 100, "starter/inventory.yaml"),
    (["lab", "--states", "S3", "--no-collab", "--pki-dir", "kept"], 1500, "kept/rsa-root.key.pem"),
])
def test_init_or_lab_over_the_file_size_limit_names_the_file_and_exits_3(tmp_path: Path, args: list[str],
                                                                          limit: int, file: str) -> None:
    """Outside the run's reports too (`dualcert init`'s starter files, the lab's kept PKI): a failed write
    names its file and is not reported as a dualcert bug."""
    result = limited_run(tmp_path, limit, *args)
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"dualcert: cannot use {file}: File too large" in result.stderr
    assert "internal error" not in result.stderr and f"wrote {file}" not in result.stdout
