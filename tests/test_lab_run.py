"""`dualcert lab` end to end, as the README's first command runs it: report, JSON, the digest's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualcert.compare.results_file import load_document
from dualcert.rules.causes import Cause
from dualcert.rules.registry import Scope, rules_of

from .conftest import run_cli

RULES = {rule.name for rule in rules_of(Scope.PROBE)}
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
    data = load_document(cwd / "reports" / "lab.json")
    assert data["schema"] == "dualcert-results/2" and data["run"]["status"] == "complete"
    probe_ids = {f'{p["node"]}:{p["service"]}:{p["offer"]}:{p["tls_version"]}' for p in data["probes"]}
    assert len(probe_ids) == len(data["probes"])
    rows = {(t["id"], t["rule"]) for t in data["tests"] if t["id"].count(":") == 3}
    assert rows == {(pid, rule) for pid in probe_ids for rule in RULES}
    probe = next(p for p in data["probes"] if p["outcome"] == "ok")
    assert {"subject", "issuer", "sha256", "key_type", "signature_algorithm", "not_before", "not_after",
            "self_signed"} <= set(probe["chain"][0])
    assert all(p["chain"][0]["sha256"] in data["certificates"] for p in data["probes"] if p["chain"])


def test_s3_passes_everything_and_other_states_fail_with_fixes(lab_run) -> None:
    cwd, _ = lab_run
    tests = load_document(cwd / "reports" / "lab.json")["tests"]
    s3 = [t for t in tests if t["id"].startswith("s3-")]
    assert s3 and all(t["outcome"] in ("passed", "skipped") for t in s3)
    failed = [t for t in tests if t["outcome"] == "failed"]
    assert {t["id"].split("-")[0] for t in failed} == {"s1", "s2", "s4", "rsa", "mixed"}
    assert all(t["message"] and t["fix"] for t in failed)
    assert all("expected" in t["message"] for t in failed if t["id"].count(":") == 3)
    s2_chain = [t for t in failed if t["id"].startswith("s2-") and t["rule"] == "chain_algorithm"]
    assert s2_chain and all(":ecdsa:" in t["id"] and "CSCvb58580" in t["fix"] for t in s2_chain)


# The causes each state's failures record (rules/causes.py), as the digest's row explains them.
STATE_CAUSES = {
    "s1": {Cause.SELF_SIGNED, Cause.SELF_SIGNED_UNTRUSTED, Cause.STATE},
    "s2": {Cause.ECDSA_UNDER_RSA_CA, Cause.WRONG_ISSUER, Cause.BROWSER_GETS_RSA, Cause.STATE},
    "s4": {Cause.SELF_SIGNED, Cause.SELF_SIGNED_UNTRUSTED, Cause.SELF_SIGNED_TWIN, Cause.STATE},
    "rsa": {Cause.ECDSA_NOT_PRESENTED, Cause.BROWSER_GETS_RSA, Cause.STATE},
    "mixed": {Cause.SELF_SIGNED, Cause.SELF_SIGNED_UNTRUSTED, Cause.SELF_SIGNED_TWIN, Cause.ROOTS_DIFFER,
              Cause.STATE},
}


def test_each_state_fails_with_the_causes_of_its_row(lab_run) -> None:
    cwd, _ = lab_run
    tests = load_document(cwd / "reports" / "lab.json")["tests"]
    seen: dict[str, set[str]] = {}
    for test in tests:
        if test["outcome"] == "failed":
            assert test["causes"], test   # every failure says why, by a cause of the table
            seen.setdefault(test["id"].split("-")[0], set()).update(test["causes"])
    assert seen == STATE_CAUSES


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


# What the diagnosis must name for each lab cluster (the mixed one: publisher S3, subscriber S4).
LAB_STATES = {"s1": "S1", "s2": "S2", "s3": "S3", "s4": "S4", "rsa-only": "rsa-only", "collab": "S3",
              "mixed": "mixed"}
# The release nodes (docs/releases.md): UCCX 12.5 presents RSA only by design, CUCM 15SU2 is S3 on SIP/CTI.
RELEASE_STATES = {"r125": "rsa-only", "cucm15": "S3"}


def test_diagnosis_names_every_clusters_state(lab_run) -> None:
    cwd, _ = lab_run
    diagnosis = load_document(cwd / "reports" / "lab.json")["diagnosis"]
    assert {d["cluster"]: d["state"] for d in diagnosis} == LAB_STATES | RELEASE_STATES
    released = [d for d in diagnosis if d["cluster"] in RELEASE_STATES]
    assert all(d["as_intended"] and not d["remediation"] for d in released)
    assert next(d for d in released if d["cluster"] == "r125")["design"] == "RSA only by design (11.6+)"
    for d in (d for d in diagnosis if d["cluster"] in LAB_STATES):
        assert set(d) == {"cluster", "state", "intended", "nodes", "differs", "agent_experience", "remediation"}
        assert d["intended"] == "S3" and d["agent_experience"]
        assert bool(d["remediation"]) == (d["state"] != "S3"), d
    mixed = next(d for d in diagnosis if d["cluster"] == "mixed")
    assert mixed["nodes"] == {"mixed-uccx-pub": "S3", "mixed-uccx-sub": "S4", "mixed-sm": "S3"}
    assert [line.split(" ")[0] for line in mixed["differs"]] == ["mixed-uccx-sub"]
    assert mixed["remediation"] and all(step.startswith("mixed-uccx-sub: tomcat-ECDSA") for step in
                                        mixed["remediation"])


def test_deployment_state_tests_name_the_measured_state_experience_and_fix(lab_run) -> None:
    cwd, result = lab_run
    tests = load_document(cwd / "reports" / "lab.json")["tests"]
    states = {t["id"]: t for t in tests if t["test"] == "test_deployment_state"}
    assert set(states) == set(LAB_STATES) | set(RELEASE_STATES)
    assert all(states[cluster]["outcome"] == "passed" for cluster in RELEASE_STATES)
    for cluster, state in LAB_STATES.items():
        test = states[cluster]
        if state == "S3":
            assert test["outcome"] == "passed", test
            continue
        assert test["outcome"] == "failed", test
        assert f"measured state {state}," in test["message"] and "agent experience:" in test["message"]
        assert test["fix"] and cluster.split("-")[0] in test["fix"]
    assert "CSCvb58580" in states["s2"]["message"]
    assert "cannot be accepted in the Live Data gadget" in states["s4"]["message"]
    html = (cwd / "reports" / "lab.html").read_text()
    assert "test_deployment_state[mixed]" in html and "mixed-uccx-sub is S4" in html
    assert "Deployment state per cluster" in result.stdout
    assert "mixed-uccx-sub is S4" in result.stdout


def test_pair_rules_fail_where_the_digest_says(lab_run) -> None:
    cwd, _ = lab_run
    tests = load_document(cwd / "reports" / "lab.json")["tests"]
    failed = {(t["test"], t["id"]) for t in tests if t["outcome"] == "failed" and t["id"].count(":") != 3}
    assert {i for r, i in failed if r == "test_twin_signing"} == {"s4-uccx-pub", "s4-uccx-sub", "s4-sm",
                                                                  "mixed-uccx-sub"}
    assert {i for r, i in failed if r == "test_ecdsa_chain"} == {"s2-uccx-pub", "s2-uccx-sub", "s2-sm"}
    assert {i for r, i in failed if r == "test_cluster_roots"} == {"mixed"}
    assert not {i for r, i in failed if r in ("test_unit_consistency", "test_plaintext_listener")}


def test_lab_prints_the_per_release_table(lab_run) -> None:
    _, result = lab_run
    table = result.stdout.split("Per release, measured", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    rows = {(line.split()[0], line.split()[1], line.split()[3]): line.split()[4:] for line in table}
    # UCCX 12.5: the ECDSA-only offer gets no certificate, RSA and browsers get RSA; 11.5 (S3) presents both.
    assert rows[("uccx", "12.5(1)", "socketio")] == ["refused", "RSA", "RSA", "RSA"]
    assert rows[("uccx", "unversioned", "socketio")] == ["ECDSA", "RSA", "ECDSA", "ECDSA"]
    # CUCM 15SU2: HTTPS RSA only (HTTPS Ciphers' default), SIP both, TLS 1.3 answered.
    assert rows[("cucm", "15SU2", "tomcat")][:2] == ["refused", "RSA"]
    assert rows[("cucm", "15SU2", "sip-tls")][:2] == ["ECDSA", "RSA"] and rows[("cucm", "15SU2", "sip-tls")][3] != "-"
