"""The HTML report's estate view and the results JSON's schema, from a real lab run and
from stored certificates (pure rendering, hostile strings)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dualcert import __version__
from dualcert.compare.comparison import Change, Comparison
from dualcert.compare.results_file import load_document
from dualcert.compare.snapshot import Snapshot
from dualcert.estate.inventory import load_inventory
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.load import load_policy
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.pytest.html import COLUMNS, NO_LOG, expanded_cells, relocate_test_list, with_test_list
from dualcert.render.document import TestTable, document_chunks
from dualcert.render.html import (
    PEM_LIMIT,
    changes_html,
    detail_data,
    json_for_script,
    matrix_html,
)
from dualcert.render.tally import OutcomeTally
from dualcert.render.timeline import TIMELINE_MAX_CERTS, distinct_certs, timeline_svg
from dualcert.rules.diagnosis import ClusterDiagnosis, NodeDiagnosis
from dualcert.rules.registry import Scope, rules_of
from dualcert.run import DualcertRun
from dualcert.verdict import Status

from .conftest import FIXED_NOW, REPO, chain_der, run_cli

SCHEMA = json.loads((REPO / "schema" / "results.schema.json").read_text())
HOSTILE = '<script>document.title="PWNED"</script>"quoted" & <b>tag</b>'


def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def lab_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("labreport")
    junit = cwd / "junit.xml"
    result = run_cli("lab", "--states", "S2,S3", "--no-collab", "--", "--junitxml", str(junit), cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = (cwd / "reports" / "lab.html").read_text()
    return {"cwd": cwd, "html": html, "json": load_document(cwd / "reports" / "lab.json"),
            "raw": json.loads((cwd / "reports" / "lab.json").read_text()), "junit": junit}


def cell(html: str, node: str, service: str) -> tuple[str, str]:
    """(class, text) of the matrix cell linking to node/service."""
    match = re.search(r'<td class="dc-cell (dc-\w+)"><a class="dc-link" href="\?dcnode=' + re.escape(node)
                      + r"&amp;dcservice=" + re.escape(service) + r'#results-table"[^>]*>(.*?)</a></td>', html)
    assert match, f"no matrix cell for {node} {service}"
    return match.group(1), re.sub(r"<[^>]+>", " ", match.group(2))


# ------------------------------------------------------------------ from the lab

def pytest_html_tests(html: str) -> dict[str, Any]:
    """pytest-html's embedded test list (what its script renders), moved out of its attribute into a data
    block (pytest/html.py's relocate_test_list): the attribute is left empty."""
    assert '<div id="data-container" data-jsonblob=""></div>' in html
    blob = re.search(r'<script type="application/json" id="dc-tests">(.*?)</script>', html, re.S)
    assert blob
    tests = json.loads(blob.group(1))["tests"]
    return {test_id: [expanded(test_id, row) for row in rows] for test_id, rows in tests.items()}


def expanded(test_id: str, row: Any) -> Any:
    """A compact row (pytest/html.py's compact_row) as pytest-html's, as report.js's expand() makes it."""
    if not isinstance(row, list):
        return row
    return {"result": row[0], "duration": row[1], "testId": test_id, "log": row[4] if len(row) > 4 else NO_LOG,
            "extras": [{"content": content} for content in row[3]], "resultsTableRow": expanded_cells(test_id, row),
            **{f"dc{key}": text for (key, _), text in zip(COLUMNS, row[2], strict=True)}}


def test_results_json_validates_against_the_schema(lab_report: dict[str, Any]) -> None:
    check = validator()
    data = lab_report["raw"]
    assert not list(check.iter_errors(data))
    broken = json.loads(json.dumps(data))
    broken["endpoints"][0]["probes"][0]["offer"] = "both"
    del broken["verdicts"][0]["outcome"]
    assert len(list(check.iter_errors(broken))) == 2


def test_matrix_reads_like_the_digest_table(lab_report: dict[str, Any]) -> None:
    html = lab_report["html"]
    assert html.index('id="dc-matrix"') < html.index('id="results-table"')
    for title in ("UCCX Tomcat", "UCCX Socket.IO", "SM Tomcat", "SM Openfire"):
        assert f">{title}</th>" in html
    # S3: Socket.IO presents ECDSA, EC-CA-signed, to a browser; every test passes.
    status, text = cell(html, "s3-uccx-pub", "socketio")
    assert status == "dc-pass"
    assert re.search(r"default\s+ECDSA CA-signed · dualcert Lab EC Issuing CA · \d+d", text), text
    # S2: the ECDSA certificate is signed by the RSA CA (CSCvb58580): the ecdsa offer line fails.
    status, text = cell(html, "s2-sm", "openfire")
    assert status == "dc-fail"
    assert "ECDSA CA-signed · dualcert Lab RSA Issuing CA" in text
    assert re.search(r'<div class="dc-offer dc-fail"><b>ecdsa</b> ECDSA CA-signed · dualcert Lab RSA', html)


def test_timeline_has_every_distinct_certificate_and_the_thresholds(lab_report: dict[str, Any]) -> None:
    html, data = lab_report["html"], lab_report["json"]
    svg = html[html.index('<svg class="dc-timeline"'):html.index("</svg>")]
    distinct = {c["sha256"] for p in data["probes"] for c in p["chain"]}
    assert len(distinct) == len(data["certificates"])
    assert svg.count("<g><title>") == min(len(distinct), TIMELINE_MAX_CERTS)
    for sha in distinct:
        assert sha in svg
    assert ">now</text>" in svg and ">fail 7d</text>" in svg and ">warn 30d</text>" in svg
    assert f"{len(distinct)} distinct certificates" in html


def test_metadata_names_version_files_digests_command_and_counts(lab_report: dict[str, Any]) -> None:
    html, run = lab_report["html"], lab_report["json"]["run"]
    meta = html[html.index('id="dc-meta"'):]
    meta = meta[:meta.index("</details>")]
    assert f"<td>{__version__}</td>" in meta
    assert run["inventory"]["sha256"] in meta and run["policy"]["sha256"] in meta
    assert "__main__.py lab --states S2,S3 --no-collab -- --junitxml" in meta  # python -m dualcert.cli
    counts = run["counts"]
    assert f"{counts['passed']} passed" in meta and f"{counts['failed']} failed" in meta
    assert f"{len(lab_report['json']['probes'])} of {len(lab_report['json']['probes'])}" in meta


def test_each_test_has_its_finding_and_one_shared_detail_per_probe(lab_report: dict[str, Any]) -> None:
    html = lab_report["html"]
    blob = html[html.index('id="dualcert-data">') + len('id="dualcert-data">'):]
    detail = json.loads(blob[:blob.index("</script>")])
    data = lab_report["json"]
    assert len(detail["probes"]) == len(data["probes"])
    assert sorted(c["h"] for c in detail["certs"]) == sorted(data["certificates"])
    # Each PEM appears once in the whole report, whatever the number of rules and probes.
    pem = detail["certs"][0]["p"].splitlines()[1]
    assert html.count(pem) == 1
    tests = pytest_html_tests(html)
    extras = [e["content"] for nodeid, runs in tests.items() if nodeid.endswith("[s2-sm:openfire:ecdsa:tls1.3]")
              for e in runs[0]["extras"]]
    assert len(extras) == len(rules_of(Scope.PROBE))   # one finding per probe rule
    assert all("<details class=dc-probe data-case=s2-sm:openfire:ecdsa:tls1.3>" in e for e in extras)
    assert all("BEGIN CERTIFICATE" not in e for e in extras)
    # A failure's message and fix are in its log; a pass says what was seen in its detail.
    chain_test = tests["test_certificate_policy.py::test_chain_algorithm[s2-sm:openfire:ecdsa:tls1.3]"][0]
    assert "fix: s2-sm: tomcat-ECDSA is signed by an RSA CA (CSCvb58580)" in chain_test["log"]
    passed = tests["test_certificate_policy.py::test_presented_key[s3-sm:openfire:ecdsa:tls1.3]"][0]
    assert "<b>pass:</b> s3-sm openfire" in passed["extras"][0]["content"]


@pytest.fixture(scope="module")
def endpoint_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same lab states as lab_report, one test per endpoint (--dualcert-items endpoint)."""
    cwd = tmp_path_factory.mktemp("endpointreport")
    result = run_cli("lab", "--states", "S2,S3", "--no-collab", "--", "--dualcert-items", "endpoint", cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"html": (cwd / "reports" / "lab.html").read_text(), "json": load_document(cwd / "reports" / "lab.json"),
            "raw": json.loads((cwd / "reports" / "lab.json").read_text())}


def test_endpoint_items_keep_the_report_and_json_of_rule_items(lab_report: dict[str, Any],
                                                               endpoint_report: dict[str, Any]) -> None:
    html, data = endpoint_report["html"], endpoint_report["json"]
    assert not list(validator().iter_errors(endpoint_report["raw"]))

    def facts(records: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        # Two lab runs: the same certificates on other ports.
        return {(t["id"], t["rule"], t["outcome"], t["status"], re.sub(r"[: (]\d{4,5}\)", "PORT)", t["message"]),
                 t["fix"]) for t in records}

    assert facts(data["tests"]) == facts(lab_report["json"]["tests"])
    # Every matrix cell and every offer line of it has the colour it has with one test per rule.
    colours = re.compile(r'class="dc-(?:cell|offer) (dc-\w+)"')
    assert colours.findall(html) == colours.findall(lab_report["html"])
    assert "dc-fail" in colours.findall(html) and "dc-pass" in colours.findall(html)
    tests = pytest_html_tests(html)
    runs = tests["test_certificate_policy.py::test_endpoint_rules[s2-sm:openfire]"][0]
    assert runs["result"].lower() == "failed"
    assert "[ecdsa tls1.3 chain_algorithm]" in runs["log"]
    # One chain/TLS detail per probe of the endpoint, coloured by that probe's worst finding.
    extras = [e["content"] for e in runs["extras"]]
    assert len(extras) == 6
    assert any(e.startswith("<div class=dc-fail>") and "data-case=s2-sm:openfire:ecdsa:tls1.3>" in e for e in extras)
    assert any(e.startswith("<div class=dc-pass>") and "data-case=s2-sm:openfire:rsa:tls1.2>" in e for e in extras)
    # An endpoint where no rule fails or warns has one placeholder for its six probes (node:service).
    passing = {t["nodeid"] for t in data["tests"] if "test_endpoint_rules[" in t["nodeid"]} - {
        t["nodeid"] for t in data["tests"] if t["status"] in ("fail", "warn")}
    assert passing
    for nodeid in passing:
        endpoint = nodeid[nodeid.index("[") + 1:-1]
        (extra,) = [e["content"] for e in tests[nodeid][0]["extras"]]
        assert extra.startswith("<div class=dc-pass>") and f"data-case={endpoint}>" in extra


def test_junitxml_has_node_service_offer_version_properties(lab_report: dict[str, Any]) -> None:
    root = ET.parse(lab_report["junit"]).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(lab_report["json"]["tests"])
    case = next(c for c in cases if c.get("name") == "test_chain_algorithm[s2-sm:openfire:ecdsa:tls1.3]")
    props = {p.get("name"): p.get("value") for p in case.findall("properties/property")}
    assert props == {"node": "s2-sm", "service": "openfire", "offer": "ecdsa", "tls_version": "tls1.3",
                     "rule": "chain_algorithm", "status": "fail"}
    assert case.find("failure") is not None


def test_report_written_atomically_leaves_no_temp_files(lab_report: dict[str, Any]) -> None:
    left = sorted(p.name for p in (lab_report["cwd"] / "reports").iterdir())
    assert left == ["lab.html", "lab.json"]


# ------------------------------------------------------------------ pure rendering

def stored_run(tmp_path: Path) -> DualcertRun:
    (tmp_path / "inv.yaml").write_text(
        "site: stored\nnodes:\n"
        "  - {name: pub, host: pub.example.test, address: 127.0.0.1, role: uccx, cluster: c1}\n"
        "  - {name: sm, host: sm.example.test, address: 127.0.0.1, role: socialminer, cluster: c1}\n")
    run = DualcertRun(load_inventory(tmp_path / "inv.yaml"), load_policy(None))
    run.now = FIXED_NOW
    for (node, service), endpoint in run.endpoints.items():
        for offer in Offer:
            for version in TLSVersion:
                key = ProbeKey(node, service, offer, version)
                chain = chain_der("ec_by_ec_ca" if offer is Offer.ECDSA else "rsa_by_rsa_ca")
                outcome = Outcome.REFUSED if (service == "openfire" and offer is Offer.ECDSA) else Outcome.OK
                run.observations[key] = Observation(key, endpoint.host, "127.0.0.1", 443, outcome,
                                                    negotiated_version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256",
                                                    chain_der=chain if outcome is Outcome.OK else ())
    return run


def test_matrix_colours_cells_from_test_statuses(tmp_path: Path) -> None:
    run = stored_run(tmp_path)
    tally = OutcomeTally()
    tally.add("pub:tomcat:ecdsa:tls1.2", "passed", "pass")
    tally.add("pub:tomcat:rsa:tls1.3", "passed", "warn")
    tally.add("sm:openfire:ecdsa:tls1.2", "failed", "fail")
    html = matrix_html(run, tally)
    assert cell(html, "pub", "tomcat")[0] == "dc-warn"
    status, text = cell(html, "sm", "openfire")
    assert status == "dc-fail" and "ecdsa refused" in " ".join(text.split())
    assert cell(html, "pub", "socketio")[0] == "dc-none"


def test_diagnosis_and_changes_render_escaped_and_only_when_present(tmp_path: Path) -> None:
    run = stored_run(tmp_path)
    assert "dc-diagnosis" not in matrix_html(run, OutcomeTally()) and changes_html(None) == ""
    nodes = (NodeDiagnosis("pub", "uccx", "S4", "pub: S4", ()), NodeDiagnosis("sm", "socialminer", "S4", "sm: S4", ()))
    diagnosis = ClusterDiagnosis("c1", "S4", "S3", nodes, differs=(HOSTILE,), agent_experience=HOSTILE,
                                 remediation=("sign tomcat-ECDSA", HOSTILE))
    baseline = Snapshot(path="old.json", site=HOSTILE, written="2026-01-01", now=FIXED_NOW, offers=(), versions=(),
                        presentations={})
    change = Change(("pub", "socketio", "default", "tls1.2"), "changed",
                    {"issuer": (HOSTILE, "EC CA"), "days_left": (30, 700)}, None, None, False, HOSTILE)
    matrix = matrix_html(run, OutcomeTally(), [diagnosis])
    changes = changes_html(Comparison(baseline, baseline, (change,), (), ()))
    assert "Diagnosed state" in matrix and '<span class="dc-state">S4</span>' in matrix
    assert "Changes since baseline" in changes and "<td>days_left</td><td>30</td><td>700</td>" in changes
    for html in (matrix, changes):
        assert "<script>" not in html and "<b>tag</b>" not in html
        assert "&lt;script&gt;document.title=&quot;PWNED&quot;&lt;/script&gt;&quot;quoted&quot; &amp;" in html


def test_timeline_marks_expiring_certificates(tmp_path: Path) -> None:
    run = stored_run(tmp_path)
    key = ProbeKey("pub", "tomcat", Offer.ECDSA, TLSVersion.TLS1_2)
    run.observations[key] = Observation(key, "pub.example.test", "127.0.0.1", 443, Outcome.OK,
                                        chain_der=chain_der("ec_expiring"))
    certs = distinct_certs(run.observations.values())
    svg = timeline_svg(certs, FIXED_NOW, 30, 7)
    soonest = min(certs, key=lambda c: c.facts.not_after)
    assert soonest.facts.days_left(FIXED_NOW) < 30
    first = svg[svg.index("<g><title>"):svg.index("</g>")]
    assert soonest.facts.sha256 in first and ('fill="#ffc107"' in first or 'fill="#dc3545"' in first)
    assert {c.role for c in certs} == {"leaf", "CA"}


def test_detail_json_cannot_close_its_script_element() -> None:
    text = json_for_script({"s": "</script><script>alert(1)</script><!--", "a": "&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"s": "</script><script>alert(1)</script><!--", "a": "&"}


def test_detail_data_stores_each_certificate_once(tmp_path: Path) -> None:
    run = stored_run(tmp_path)
    detail = detail_data(run)
    assert len(detail["probes"]) == len(run.observations)
    assert len(detail["certs"]) == len({c.facts.sha256 for c in distinct_certs(run.observations.values())})
    assert detail["nodes"] == ["pub", "sm"] and "socketio" in detail["services"]


def test_detail_data_keeps_pems_of_flagged_certificates_above_the_limit(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run = stored_run(tmp_path)
    tally = OutcomeTally()
    tally.add("pub:tomcat:ecdsa:tls1.2", "failed", Status.FAIL)
    assert all("p" in c for c in detail_data(run, tally)["certs"])   # under the limit: every PEM
    monkeypatch.setattr("dualcert.render.html.PEM_LIMIT", 1)
    detail = detail_data(run, tally)
    kept = {detail["certs"][ref]["h"] for ref in detail["probes"]["pub:tomcat:ecdsa:tls1.2"][5]}
    assert kept and {c["h"] for c in detail["certs"] if "p" in c} == kept
    assert all(c["p"].startswith("-----BEGIN CERTIFICATE-----") for c in detail["certs"] if "p" in c)
    assert PEM_LIMIT >= 1000


def test_test_list_moves_out_of_the_attribute_and_cannot_close_its_script() -> None:
    from markupsafe import escape

    tests = {"tests": {"t[a:b]": [{"extras": [{"content": "<div class=dc-pass>x</div>"}],
                                   "log": HOSTILE + "</SCRIPT><!-- &lt;/script&gt; 'single' \\ \u2028"}]}}
    page = f'<html><body>x<div id="data-container" data-jsonblob="{escape(json.dumps(tests))}"></div></body></html>'
    text = "".join(relocate_test_list(page))
    block = re.search(r'<script type="application/json" id="dc-tests">(.*?)</script>', text, re.S)
    assert block and json.loads(block.group(1)) == tests
    assert "</" not in block.group(1) and "<!--" not in block.group(1)
    assert '<div id="data-container" data-jsonblob=""></div></body>' in text
    assert list(relocate_test_list("<html>no container</html>")) == ["<html>no container</html>"]


def test_test_list_streamed_into_the_page_is_the_relocated_one() -> None:
    """pytest-html renders without its test list (pytest/html.py takes it out) and the list is streamed
    into the same dc-tests block relocate_test_list() makes from a page rendered with it."""
    from markupsafe import escape

    tests = {f"t[a:{i}]": [{"extras": [{"content": "<div class=dc-pass>x</div>"}],
                            "log": HOSTILE + "</SCRIPT><!-- &lt;/script&gt; 'q' \\ \u2028" * i}] for i in range(5)}
    rest = {"environment": {"Python": "3</script>"}, "title": "t <!-- x"}
    whole = {**rest, "tests": tests}
    block = re.compile(r'<script type="application/json" id="dc-tests">(.*?)</script>', re.S)

    def page(document: dict) -> str:
        blob = escape(json.dumps(document))
        return f'<html><body>x<div id="data-container" data-jsonblob="{blob}"></div></body></html>'

    streamed = "".join(with_test_list(page({**rest, "tests": {}}), tests))
    relocated = "".join(relocate_test_list(page(whole)))
    found = block.search(streamed)
    assert found and json.loads(found.group(1)) == whole == json.loads(block.search(relocated).group(1))
    assert "</" not in found.group(1) and "<!--" not in found.group(1)
    assert streamed.replace(found.group(1), "") == relocated.replace(block.search(relocated).group(1), "")
    assert list(with_test_list("<html>no container</html>", tests)) == ["<html>no container</html>"]


@pytest.mark.parametrize("window", [16, 17, 19, 23, 64])
def test_test_list_is_unescaped_the_same_a_window_at_a_time(monkeypatch: pytest.MonkeyPatch, window: int) -> None:
    from markupsafe import escape

    tests = {"tests": {f"t[a:{i}]": [{"log": HOSTILE + "</x><!--y--> & &amp; <" * i}] for i in range(12)}}
    page = f'<p>x</p><div id="data-container" data-jsonblob="{escape(json.dumps(tests))}"></div>'
    whole = "".join(relocate_test_list(page))
    monkeypatch.setattr("dualcert.pytest.html.RELOCATE_WINDOW", window)
    assert "".join(relocate_test_list(page)) == whole
    block = re.search(r'<script type="application/json" id="dc-tests">(.*?)</script>', whole, re.S)
    assert block and json.loads(block.group(1)) == tests


def test_each_verdict_is_kept_once_and_the_tests_refer_to_it() -> None:
    """One verdict per distinct (rule, outcome, status, message without its subject, fix, causes); the tests of
    one pytest item by subject; counts, failing and warning records kept as they come."""
    table = TestTable()
    outcomes = ["passed", "failed", "passed", "passed", "skipped", "passed", "error"]
    for i, outcome in enumerate(outcomes):
        subject = f"n{i}:s:ecdsa:tls1.2"
        table.add_row((subject, "test_trust", "t[n:s]", "trust", outcome, "warn" if i == 3 else "pass",
                       f"n{i} s (n{i}.test:443), ecdsa offer over TLS 1.2: {HOSTILE}", "", [], {}, 0.001))
    table.append({"id": "n", "test": "test_x", "nodeid": "x[n]", "message": "n: boom", "fix": "f"})
    assert len(table) == 8 and len(table.verdicts) == 6   # passes of seven subjects share one verdict
    assert table.verdicts[0] == {"rule": "trust", "outcome": "passed", "status": "pass", "message": HOSTILE}
    assert table.verdicts[-1] == {"rule": None, "outcome": None, "status": None, "message": "boom", "test": "test_x",
                                  "fix": "f"}
    items = list(table.items())
    assert [i["nodeid"] for i in items] == ["t[n:s]", "x[n]"] and items[0]["duration_s"] == 0.007
    assert items[0]["results"]["n2:s:ecdsa:tls1.2"] == [0] and items[1]["results"] == {"n": [5]}
    assert [r["id"] for r in table.notable] == ["n1:s:ecdsa:tls1.2", "n3:s:ecdsa:tls1.2", "n6:s:ecdsa:tls1.2"]
    assert table.outcomes == {"passed": 4, "failed": 1, "skipped": 1, "error": 1, "None": 1}
    assert table.rule_status[("trust", "pass")] == 6 and table.rule_status[("test_x", "None")] == 1
    text = "".join(document_chunks({"run": {"s": HOSTILE}}, [("a" * 64, {"subject": "é"})], [{"node": "x"}] * 3,
                                   table.verdicts, table.items()))
    document = json.loads(text)
    assert document["schema"] == "dualcert-results/2" and document["certificates"] == {"a" * 64: {"subject": "é"}}
    assert len(document["endpoints"]) == 3 and document["tests"] == json.loads(json.dumps(items))
    assert len(text.splitlines()) > 10   # a record per line
    concerned = {"certificate": "b" * 64, "check": "nameConstraints"}   # a trust failure's finding, kept as data
    table.append({"id": "n9", "test": "test_trust", "nodeid": "t[n9]", "rule": "trust", "outcome": "failed",
                  "status": "fail", "message": "n9: no trusted path", "causes": ["profile"], "concerns": concerned})
    assert table.verdicts[-1]["concerns"] == concerned and table.notable[-1]["concerns"] == concerned
    empty = json.loads("".join(document_chunks({}, [], [], [], [])))
    assert empty == {"schema": "dualcert-results/2", "certificates": {}, "endpoints": [], "verdicts": [], "tests": []}
