"""`dualcert lab` end to end, as the README's first command runs it: report, JSON, the digest's table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_cli

RULES = {"presented_key", "chain_algorithm", "issuer", "trust", "hostname", "key_strength", "expiry"}
# The digest's table, row by row (UCCX Tomcat, UCCX Openfire, Socket.IO, SM Tomcat, SM Openfire).
DIGEST_TABLE = {
    "S1": ["self-signed"] * 5,
    "S2": ["RSA"] * 5,
    "S3": ["RSA", "RSA", "ECDSA", "RSA", "ECDSA"],
    "S4": ["RSA", "RSA", "self-signed", "RSA", "self-signed"],
}


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory):
    cwd = tmp_path_factory.mktemp("labrun")
    result = run_cli("lab", cwd=cwd)
    return cwd, result


def test_lab_exits_zero_and_writes_reports(lab_run) -> None:
    cwd, result = lab_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (cwd / "reports" / "lab.html").stat().st_size > 10_000
    assert "every state fails exactly the rules the digest predicts" in result.stdout


def test_lab_prints_the_digest_table_measured(lab_run) -> None:
    _, result = lab_run
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()
             if line.strip().split(" ")[0] in DIGEST_TABLE}
    for state, cells in DIGEST_TABLE.items():
        assert lines[state] == cells, f"{state}: {lines.get(state)}"


def test_results_json_has_one_row_per_node_service_offer_version_rule(lab_run) -> None:
    cwd, _ = lab_run
    data = json.loads((cwd / "reports" / "lab.json").read_text())
    assert data["schema"] == "dualcert-results/1" and data["run"]["status"] == "complete"
    probe_ids = {f'{p["node"]}:{p["service"]}:{p["offer"]}:{p["tls_version"]}' for p in data["probes"]}
    assert len(probe_ids) == len(data["probes"])
    rows = {(t["id"], t["rule"]) for t in data["tests"]}
    assert rows == {(pid, rule) for pid in probe_ids for rule in RULES}
    probe = next(p for p in data["probes"] if p["outcome"] == "ok")
    assert {"subject", "issuer", "sha256", "key_type", "signature_algorithm", "not_before", "not_after",
            "self_signed"} <= set(probe["chain"][0])
    assert all(p["chain"][0]["sha256"] in data["certificates"] for p in data["probes"] if p["chain"])


def test_s3_passes_everything_and_other_states_fail_with_fixes(lab_run) -> None:
    cwd, _ = lab_run
    tests = json.loads((cwd / "reports" / "lab.json").read_text())["tests"]
    s3 = [t for t in tests if t["id"].startswith("s3-")]
    assert s3 and all(t["outcome"] in ("passed", "skipped") for t in s3)
    failed = [t for t in tests if t["outcome"] == "failed"]
    assert {t["id"].split("-")[0] for t in failed} == {"s1", "s2", "s4", "rsa"}
    assert all(t["message"] and "expected" in t["message"] and t["fix"] for t in failed)
    s2_chain = [t for t in failed if t["id"].startswith("s2-") and t["rule"] == "chain_algorithm"]
    assert s2_chain and all(":ecdsa:" in t["id"] and "CSCvb58580" in t["fix"] for t in s2_chain)


def test_html_report_has_the_estate_columns(lab_run) -> None:
    cwd, _ = lab_run
    html = (cwd / "reports" / "lab.html").read_text()
    for column in ("Node", "Service", "Port", "Offer", "TLS", "Presented key", "Issuer", "Days left"):
        assert f">{column}</th>" in html


def test_usage_error_exit_code(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("nodes:\n  - name: a\n    host: a.example.com\n    role: nope\n")
    result = run_cli("run", "--inventory", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 4
    assert "bad.yaml:4: unknown role 'nope'" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
