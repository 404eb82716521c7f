"""The verdict after pytest's line, in the results JSON and at the head of the HTML report: failures and
warnings grouped by cause and by certificate, against real peers (nginx sharing one certificate pair
on many ports; the embedded lab in every deployment state)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from dualcert.compare.results_file import load_document
from dualcert.lab import Lab
from dualcert.lab.pki import CA, KeySpec

from .conftest import REPO, run_cli
from .estates import SharedEstate, nginx_shared

ENDPOINTS = 12
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedEstate]:
    """12 endpoints presenting one RSA and one ECDSA certificate that expire in 20 days (warn window 30)."""
    with nginx_shared(tmp_path_factory.mktemp("shared"), ENDPOINTS, days=20) as estate:
        yield estate


def verdict_block(stdout: str) -> str:
    return stdout[stdout.index("dualcert verdict"):]


def test_one_finding_per_shared_certificate_everywhere(shared: SharedEstate, tmp_path: Path) -> None:
    inventory = shared.inventory(tmp_path / "site.yaml")
    result = run_cli("run", "--inventory", str(inventory), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    data = load_document(tmp_path / "reports" / "shared.json")
    jsonschema.validate(json.loads((tmp_path / "reports" / "shared.json").read_text()),
                        json.loads((REPO / "schema" / "results.schema.json").read_text()))
    summary = data["summary"]
    # 12 endpoints x (RSA-only + browser-like, or ECDSA-only + browser-like) x 2 TLS versions warn; two findings.
    assert summary["warned_tests"] == len([t for t in data["tests"] if t["status"] == "warn"]) >= 4 * ENDPOINTS
    assert summary["failures"] == [] and len(summary["warnings"]) == 2, summary["warnings"]
    assert {w["certificate"]["key_type"] for w in summary["warnings"]} == {"RSA", "ECDSA"}
    assert all(w["rule"] == "expiry" and w["endpoints"] == ENDPOINTS and w["nodes"] == ENDPOINTS
               for w in summary["warnings"])
    # The fix once, in a generic server's words, for every node.
    fixes = {w["certificate"]["key_type"]: w["fix"] for w in summary["warnings"]}
    assert fixes["ECDSA"] == "on each node: renew the server's ECDSA certificate (regenerate or have the CA " \
                             "re-sign it) before it expires", fixes
    assert "tomcat" not in result.stdout and "tomcat" not in json.dumps(summary)
    # Terminal: after pytest's line, two findings with their endpoints collapsed behind a count, then the paths.
    block = verdict_block(result.stdout)
    assert result.stdout.index(" passed") < result.stdout.index("dualcert verdict")
    assert block.count("WARN expiry:") == 2 and f"{ENDPOINTS} endpoints of {ENDPOINTS} node(s)" in block
    assert "policy warning(s), passed; --strict makes them fail" in block
    assert block.rstrip().endswith("report: " + str(Path("reports") / "shared.json")), block[-500:]
    assert not ANSI.search(result.stdout)  # not a terminal: no colour
    # HTML: the verdict heads the report, two findings instead of a line per warned test.
    html = (tmp_path / "reports" / "shared.html").read_text()
    section = html[html.index('id="dc-summary"'):html.index("</section>", html.index('id="dc-summary"'))]
    assert section.count('<li class="dc-warn">') == 2
    assert html.index('id="dc-summary"') < html.index('id="dc-matrix"')


def test_colour_only_when_asked_and_never_with_no_color(shared: SharedEstate, tmp_path: Path) -> None:
    inventory = shared.inventory(tmp_path / "site.yaml")
    coloured = run_cli("run", "--inventory", str(inventory), cwd=tmp_path, env={"FORCE_COLOR": "1"})
    plain = run_cli("run", "--inventory", str(inventory), cwd=tmp_path, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert ANSI.search(verdict_block(coloured.stdout)) and not ANSI.search(plain.stdout)


def test_summary_modes_cap_and_full(lab: Lab, tmp_path: Path) -> None:
    """The lab fails in many ways: short caps the verdict and names the report, -v shows it all, off hides it."""
    args = ("run", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path))
    short = verdict_block(run_cli(*args, cwd=tmp_path).stdout)
    full = verdict_block(run_cli(*args, "-v", cwd=tmp_path).stdout)
    off = run_cli(*args, "--", "--dualcert-summary", "off", cwd=tmp_path).stdout
    data = load_document(tmp_path / "reports" / "lab.json")
    findings = data["summary"]["failures"]
    assert len(findings) > 10 and data["summary"]["failed_tests"] > len(findings)
    more = re.search(r"\.\.\. (\d+) more line\(s\) in (\S+)", short)
    assert more and more.group(2).endswith("lab.html"), short
    body = [line for line in short.splitlines()[1:] if not line.startswith("report: ")]
    assert len(body) == 40
    # Short keeps room for the failures: the clusters as intended on one line, the others in half the lines.
    folded = re.search(r"(\d+) cluster\(s\) as intended: (.*)", short)
    assert folded and {"s3", "collab"} <= set(folded.group(2).split(", ")), short
    assert "  s3  " not in short and "Failures: " in short
    assert short.count("  s1  ") == 1, short  # each cluster that is not as intended, once
    assert "more line(s)" not in full and full.count("  FAIL ") == len(findings)
    assert "Deployment state per cluster" in full and "FAIL" not in off and "report: " in off


def test_diff_groups_a_renewal_on_every_endpoint_into_one_line_per_certificate(tmp_path: Path) -> None:
    """Both shared certificates renewed (same roots, new leaves): `dualcert diff` says so in two lines."""
    roots = (CA.root("Shared RSA Root", KeySpec.rsa()), CA.root("Shared EC Root", KeySpec.ec("secp384r1")))
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    with nginx_shared(tmp_path / "old", 6, days=200, roots=roots) as old:
        inventory = old.inventory(tmp_path / "site.yaml")
        assert run_cli("run", "--inventory", str(inventory), "--json", "old.json", cwd=tmp_path).returncode == 0
    with nginx_shared(tmp_path / "new", 6, days=300, ports=old.ports, roots=roots):
        assert run_cli("run", "--inventory", str(inventory), "--json", "new.json", cwd=tmp_path).returncode == 0
    text = run_cli("diff", "old.json", "new.json", cwd=tmp_path)
    grouped = [line for line in text.stdout[text.stdout.index("grouped ("):].splitlines() if line.startswith("  ")]
    assert text.returncode == 1 and len(grouped) == 2, text.stdout
    assert all("UNEXPECTED changed: leaf_sha256" in line and "6 endpoints of 6 node(s)" in line for line in grouped)
    document = json.loads(run_cli("diff", "old.json", "new.json", "--format", "json", cwd=tmp_path).stdout)
    assert len(document["groups"]) == 2 and sum(g["probes"] for g in document["groups"]) == len(document["entries"])


def test_the_fix_is_said_once_naming_each_node_only_where_that_is_the_difference() -> None:
    from dualcert.render.summary import common_fix

    assert common_fix({"web1": "on web1: renew it", "web10": "on web10: renew it"}) == "on each node: renew it"
    # A host name that starts with the node's name is not the node: the fixes differ, the first is shown.
    assert common_fix({"web1": "on web1: see web1.example.com", "web2": "on web2: see web2.example.com"}) == \
        "on web1: see web1.example.com"
    assert common_fix({"pub": "same text", "sub": "same text"}) == "same text" and common_fix({}) == ""


def test_the_clients_that_would_break_keep_room_for_the_failures() -> None:
    """--clients: the verdict names the breaking clients after the diagnosis; short mode gives them a quarter
    of its lines, since each breaking client test is among the failures too; full shows them all."""
    from dualcert.render.clients import breaking_lines
    from dualcert.render.summary import summary_lines
    from dualcert.verdict import Status, Verdict

    failing = [Verdict("client_accepts", Status.FAIL, "self-signed leaf", subject=f"web{i}:https:client-chrome:auto")
               for i in range(30)]
    passing = Verdict("client_key", Status.PASS, "ok", subject="web0:https:client-java8:auto")
    clients = breaking_lines([*failing, passing])
    summary = {"failures": [], "warnings": [], "failed_tests": 30, "warned_tests": 0}
    short = [line.text for line in summary_lines(summary, [], strict=False, reports=["r.html"], clients=clients)]
    full = [line.text for line in summary_lines(summary, [], strict=False, reports=["r.html"], clients=clients,
                                                mode="full")]
    assert short[0] == "Clients that would break: chrome (30 endpoints)" and "java8" not in "".join(short)
    # 10 of the 40 lines: the header, 8 tests, and how many more (31 lines in all: 22 more).
    assert sum(line.startswith("  BREAKS ") for line in short) == 8 and "  ... 22 more client line(s)" in short
    assert sum(line.startswith("  BREAKS ") for line in full) == 30 and full[-1] == "report: r.html"
    off = summary_lines(summary, [], strict=False, reports=["r.html"], clients=clients, mode="off")
    assert [line.text for line in off] == ["report: r.html"]
