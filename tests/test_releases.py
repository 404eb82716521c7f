"""Releases: the inventory's `version:`, the catalog's release rules, the default policy that follows the
release, and an upgrade judged against the target release, against the lab's real TLS servers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from dualcert.compare.results_file import load_document
from dualcert.errors import UsageError
from dualcert.estate.catalog import load_catalog
from dualcert.estate.inventory import load_inventory
from dualcert.estate.release import parse_range, parse_release
from dualcert.lab import Lab
from dualcert.lab.estate import LabNode
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.load import load_policy
from dualcert.rules.causes import Cause

from .conftest import run_cli

UCCX_125 = [LabNode("pub", "uccx", "ccx", "S3", "12.5(1)"), LabNode("sub", "uccx", "ccx", "S3", "12.5(1)"),
            LabNode("sm", "socialminer", "ccx", "S3", "12.5(1)")]


@pytest.mark.parametrize(("text", "key", "train"), [
    ("11.5(1)SU1", ("vos", 11, 5, 1), "11.5"), ("12.5(1)", ("vos", 12, 5, 0), "12.5"),
    (" 12.5(1) SU 3 ", ("vos", 12, 5, 3), "12.5"), ("14SU3", ("vos", 14, 0, 3), "14"),
    ("15SU2", ("vos", 15, 0, 2), "15"), (15, ("vos", 15, 0, 0), "15"), (12.5, ("vos", 12, 5, 0), "12.5"),
    ("12.5.1", ("vos", 12, 5, 0), "12.5"), ("X14.2", ("expressway", 14, 2, 0), "X14.2"),
    ("x15.0.1", ("expressway", 15, 0, 1), "X15.0"),
])
def test_releases_are_read_leniently(text: object, key: tuple[str, int, int, int], train: str) -> None:
    release = parse_release(text)
    assert release.key() == key and release.train == train


@pytest.mark.parametrize("text", ["fifteen", "12.5.1.12900-115", "", "SU2", "1.2"])
def test_an_unreadable_release_names_the_known_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r'write it like "11.5\(1\)SU1", "12.5\(1\)"'):
        parse_release(text)


@pytest.mark.parametrize(("spec", "inside", "outside"), [
    (">=11.6", ["11.6(1)", "12.5(1)SU3", "15"], ["11.5(1)SU1", "10.6"]),
    ("11.5", ["11.5(1)", "11.5(1)SU1"], ["11.6", "12.5"]),
    (">=14 <15SU2", ["14", "14SU3", "15SU1"], ["15SU2", "12.5(1)SU8", "X14.2"]),
    (">=X14.2", ["X14.2", "X15.0"], ["X14.0", "15SU2"]),
])
def test_release_ranges(spec: str, inside: list[str], outside: list[str]) -> None:
    allowed = parse_range(spec)
    assert all(parse_release(r) in allowed for r in inside)
    assert not any(parse_release(r) in allowed for r in outside)


def test_every_release_rule_of_the_catalog_cites_a_source() -> None:
    for role in load_catalog().values():
        for rule in role.releases:
            assert rule.sources and all(s.title for s in rule.sources), (role.name, rule.label)
            assert rule.confidence in ("documented", "secondary", "inferred", "uncertain")
            # A source is a document one can open; only "no document found" has no URL, and it is uncertain.
            assert all(s.url or rule.confidence == "uncertain" for s in rule.sources), (role.name, rule.label)
    assert {"uccx", "socialminer", "ccp", "finesse", "cuic", "cucm", "imp", "cuc", "expressway"} <= set(load_catalog())


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unknown_release_names_file_line_and_trains(tmp_path: Path) -> None:
    inventory = write(tmp_path / "inv.yaml", "nodes:\n  - name: cm\n    host: cm.example.com\n    role: cucm\n"
                                             "    version: 16SU1\n")
    with pytest.raises(UsageError) as caught:
        load_inventory(inventory)
    assert caught.value.line == 5 and str(inventory) in str(caught.value)
    assert "not one the catalog knows for role 'cucm'" in str(caught.value) and "14, 15" in str(caught.value)


def test_an_unparseable_defaults_version_names_its_line(tmp_path: Path) -> None:
    inventory = write(tmp_path / "inv.yaml", "defaults:\n  version: twelve\nnodes:\n  - name: pub\n"
                                             "    host: pub.example.com\n    role: uccx\n")
    with pytest.raises(UsageError) as caught:
        load_inventory(inventory)
    assert caught.value.line == 2 and '"15SU2"' in str(caught.value)


def test_defaults_version_applies_unless_the_node_sets_its_own(tmp_path: Path) -> None:
    inventory = write(tmp_path / "inv.yaml", "defaults:\n  version: \"12.5(1)\"\nnodes:\n"
                      "  - {name: a, host: a.example.com, role: uccx}\n"
                      "  - {name: b, host: b.example.com, role: uccx, version: \"11.5(1)SU1\"}\n"
                      "  - {name: c, host: c.example.com, role: generic, services: [{name: web, port: 443}]}\n")
    inv = load_inventory(inventory)
    assert inv.releases() == {"a": "12.5(1)", "b": "11.5(1)SU1", "c": "12.5(1)"}
    a, b = inv.node("a"), inv.node("b")
    assert a.release is not None and a.release.design == "RSA only by design (11.6+)"
    assert all(s.ecdsa_unit is None for s in a.services)
    assert all(s.ecdsa_unit == "tomcat-ECDSA" for s in b.services)


def test_ansible_group_var_version_error_points_at_the_group_var(tmp_path: Path) -> None:
    hosts = write(tmp_path / "hosts.ini", "[uccx]\npub ansible_host=10.0.0.1\n\n[uccx:vars]\n"
                                          "dualcert_version=13.5\n")
    with pytest.raises(UsageError) as caught:
        load_inventory(hosts)
    assert caught.value.line == 5
    write(hosts, "[cucm]\ncm ansible_host=10.0.0.3 version=15SU2\n")
    assert load_inventory(hosts).releases() == {"cm": "15SU2"}


def test_default_policy_follows_the_release_an_explicit_one_does_not(tmp_path: Path) -> None:
    inventory = write(tmp_path / "inv.yaml", "nodes:\n  - {name: cm, host: cm.example.com, role: cucm, "
                      "version: 15SU2}\n  - {name: old, host: old.example.com, role: cucm, version: 14SU3}\n")
    inv = load_inventory(inventory)
    ends = {(e.node, e.service.name): e for e in inv.endpoints()}
    auto, explicit = load_policy(None), load_policy("ec-ca-signed")
    https, sip = ends[("cm", "tomcat")], ends[("cm", "sip-tls")]
    assert auto.expectation(https, Offer.ECDSA, TLSVersion.TLS1_2).presents == "rsa-or-refused"
    assert auto.expectation(https, Offer.DEFAULT, TLSVersion.TLS1_2).presents == "rsa"
    assert auto.expectation(sip, Offer.ECDSA, TLSVersion.TLS1_3).presents == "ecdsa"
    assert auto.expectation(sip, Offer.ECDSA, TLSVersion.TLS1_3).version_required
    assert not auto.expectation(ends[("old", "sip-tls")], Offer.ECDSA, TLSVersion.TLS1_3).version_required
    assert explicit.expectation(https, Offer.ECDSA, TLSVersion.TLS1_2).presents == "ecdsa"
    # The inventory says the HTTPS Ciphers parameter was changed: HTTPS is judged as dual again.
    write(inventory, "nodes:\n  - {name: cm, host: cm.example.com, role: cucm, version: 15SU2, "
                     "parameters: {http_ciphers: rsa-and-ecdsa}}\n")
    changed = load_inventory(inventory).endpoints()[0]
    assert auto.expectation(changed, Offer.ECDSA, TLSVersion.TLS1_2).presents == "ecdsa"


def run_lab_site(tmp_path: Path, lab: Lab, version: str) -> tuple[int, dict[str, Any], str]:
    text = lab.inventory_path.read_text(encoding="utf-8")
    assert text.count("version: 12.5(1)\n") == len(UCCX_125)  # the same servers, only the release differs
    text = text.replace("version: 12.5(1)\n", f"version: '{version}'\n")
    inventory = write(tmp_path / f"site-{version}.yaml", text)
    done = run_cli("run", "--inventory", str(inventory), "--report-dir", str(tmp_path / version), cwd=tmp_path)
    results = load_document(tmp_path / version / f"{lab.site}.json")
    return done.returncode, results, done.stdout + done.stderr


def test_uccx_125_rsa_only_passes_by_design_and_115_is_rsa_only_against_s3(tmp_path: Path) -> None:
    with Lab(UCCX_125, site="ccx") as lab:
        code, results, output = run_lab_site(tmp_path, lab, "12.5(1)")
        assert code == 0, output[-3000:]
        assert not [t for t in results["tests"] if t["outcome"] in ("failed", "error")]
        ecdsa = [p for p in results["probes"] if p["offer"] == "ecdsa"]
        assert ecdsa and {p["outcome"] for p in ecdsa} <= {"refused", "error", "no-certificate"}  # RSA only, really
        (diagnosis,) = results["diagnosis"]
        assert diagnosis["state"] == "rsa-only" and diagnosis["intended"] == "rsa-only"
        assert diagnosis["design"] == "RSA only by design (11.6+)"
        assert "COP" not in json.dumps(diagnosis) and diagnosis["remediation"] == []
        state = next(t for t in results["tests"] if t["test"] == "test_deployment_state")
        assert state["outcome"] == "passed" and "RSA only by design (11.6+)" in state["message"]

        code, results, output = run_lab_site(tmp_path, lab, "11.5(1)")
    assert code == 1
    (diagnosis,) = results["diagnosis"]
    assert (diagnosis["state"], diagnosis["intended"]) == ("rsa-only", "S3") and "design" not in diagnosis
    assert "COP installed" in diagnosis["agent_experience"]
    assert any("install the rollback COP" in step for step in diagnosis["remediation"])
    failed = {t["rule"] for t in results["tests"] if t["outcome"] == "failed"}
    assert failed == {"presented_key", "deployment_state"}


def test_upgrade_story_is_expected_and_a_reissued_certificate_is_not(tmp_path: Path) -> None:
    lab = ("lab", "--states", "S4", "--no-collab", "--pki-dir", "lab-pki")
    before = run_cli(*lab, "--release", "11.5(1)", "--report-dir", "before", cwd=tmp_path)
    assert before.returncode == 0, before.stderr[-2000:]
    after = run_cli(*lab, "--release", "12.5(1)", "--report-dir", "after", "--baseline", "before/lab.json",
                    cwd=tmp_path)
    assert after.returncode == 0, after.stdout[-3000:] + after.stderr[-2000:]
    entries = load_document(tmp_path / "after" / "lab.json")["changes"]["entries"]
    assert entries and all(e["expected"] for e in entries)
    assert {e["id"].split(":")[2] for e in entries if e["id"].split(":")[3] == "tls1.2"} == {"ecdsa", "default"}
    assert all("uccx 11.5(1) -> 12.5(1)" in e["reason"] or "socialminer 11.5(1) -> 12.5(1)" in e["reason"]
               for e in entries)
    assert "RSA only by design (11.6+)" in next(e["reason"] for e in entries if e["id"].endswith(":ecdsa:tls1.2"))
    # An unrelated change: uccx-pub's tomcat re-issued (the lab makes a new leaf when the kept one is gone).
    for stale in (tmp_path / "lab-pki").glob("leaf-uccx-pub-tomcat-rsa-*"):
        stale.unlink()
    diff = run_cli(*lab, "--release", "12.5(1)", "--report-dir", "reissued", "--baseline", "before/lab.json",
                   cwd=tmp_path)
    assert diff.returncode == 1
    entries = load_document(tmp_path / "reissued" / "lab.json")["changes"]["entries"]
    unexpected = [e for e in entries if not e["expected"]]
    assert unexpected and {e["id"].split(":")[0] for e in unexpected} == {"uccx-pub"}
    assert all("leaf_sha256" in e["fields"] and e["id"].split(":")[2] in ("rsa", "default") for e in unexpected)
    offline = run_cli("diff", "before/lab.json", "reissued/lab.json", "--format", "json", cwd=tmp_path)
    assert offline.returncode == 1
    # `dualcert diff` reads the releases from the two results files, as the run did.
    assert run_cli("diff", "before/lab.json", "after/lab.json", cwd=tmp_path).returncode == 0


def test_the_docs_release_table_is_the_catalogs() -> None:
    from dualcert.render.releases import markdown

    from .conftest import REPO

    page = (REPO / "docs" / "releases.md").read_text(encoding="utf-8")
    table = page.split("<!-- release-table:start -->\n", 1)[1].split("<!-- release-table:end -->", 1)[0]
    assert table == markdown(), "regenerate the table: python -c 'from dualcert.render.releases import markdown'"
    assert "| uccx | 11.6 to 15.0 |" in table and "RSA only by design (11.6+)" in table
    assert "| cucm | 15SU2 |" in table and "required: sip-tls" in table


def test_upgrade_changes_come_from_the_catalog_with_reason_and_source() -> None:
    from dualcert.compare.releases import release_changes

    roles = {"pub": "uccx", "cm": "cucm"}
    changes = release_changes({"pub": "11.5(1)SU1", "cm": "12.5(1)SU8"}, {"pub": "12.5(1)", "cm": "15SU2"}, roles)
    by_node = {(c.nodes, c.services, c.offers, c.tls_versions): c for c in changes}
    socketio = by_node[(("pub",), ("socketio",), ("default",), None)]
    assert socketio.after == ("rsa",) and socketio.before is None
    assert "RSA only by design (11.6+)" in (socketio.reason or "") and "118855" in (socketio.reason or "")
    assert by_node[(("pub",), ("tomcat",), ("ecdsa",), None)].after == ("rsa", "refused")
    assert (("pub",), ("tomcat",), ("rsa",), None) not in by_node      # RSA stays RSA: a change there is news
    tls13 = by_node[(("cm",), ("sip-tls",), None, ("tls1.3",))]
    assert tls13.before == ("unsupported",) and tls13.after is None
    assert by_node[(("cm",), ("tomcat",), ("ecdsa",), None)].after == ("rsa", "refused")   # HTTPS stays RSA
    assert (("cm",), ("sip-tls",), ("ecdsa",), None) not in by_node
    assert all(c.label == "release upgrade" for c in changes)
    # An unversioned inventory: --upgrade FROM:TO stands in; the same release twice explains nothing.
    assert release_changes({}, {}, {"pub": "uccx"}, ("11.5", "12.5")) != ()
    assert release_changes({"pub": "12.5(1)"}, {"pub": "12.5(1)SU2"}, {"pub": "uccx"}) == ()
    # The HTTPS Ciphers parameter is documented from 14SU2: HTTPS turns RSA only there, not at 15SU2.
    https = {(c.services, c.offers): c for c in release_changes({"cm": "14SU1"}, {"cm": "14SU2"}, {"cm": "cucm"})}
    assert https[(("tomcat",), ("ecdsa",))].after == ("rsa", "refused")
    assert release_changes({"cm": "14SU2"}, {"cm": "15SU1"}, {"cm": "cucm"}) == ()


def test_a_policy_file_can_turn_release_on_for_one_node(tmp_path: Path) -> None:
    inventory = write(tmp_path / "inv.yaml", "nodes:\n"
                      "  - {name: a, host: a.example.com, role: uccx, version: \"12.5(1)\"}\n"
                      "  - {name: b, host: b.example.com, role: uccx, version: \"12.5(1)\"}\n")
    policy = write(tmp_path / "policy.yaml", "extends: ec-ca-signed\nnodes:\n  a:\n    release: auto\n")
    inv, pol = load_inventory(inventory), load_policy(policy)
    ends = {e.node: e for e in inv.endpoints() if e.service.name == "socketio"}
    assert pol.expectation(ends["a"], Offer.ECDSA, TLSVersion.TLS1_2).presents == "rsa-or-refused"
    assert pol.expectation(ends["b"], Offer.ECDSA, TLSVersion.TLS1_2).presents == "refused"  # no ECDSA unit
    assert pol.expectation(ends["b"], Offer.DEFAULT, TLSVersion.TLS1_2).presents == "rsa"   # so browsers get RSA
    assert pol.intended_for(inv.node("a")) == "rsa-only" and pol.intended_for(inv.node("b")) == "S3"
    write(policy, "release: sometimes\n")
    with pytest.raises(UsageError) as caught:
        load_policy(policy)
    assert caught.value.line == 1 and "auto, off" in str(caught.value)


def test_malformed_upgrade_is_a_usage_error(tmp_path: Path) -> None:
    for name in ("a.json", "b.json"):
        write(tmp_path / name, json.dumps({"schema": "dualcert-results/1", "run": {}, "probes": []}))
    assert run_cli("diff", "a.json", "b.json", "--upgrade", "11.5:12.5", cwd=tmp_path).returncode == 0
    done = run_cli("diff", "a.json", "b.json", "--upgrade", "11.5", cwd=tmp_path)
    assert done.returncode == 4 and "FROM:TO" in done.stderr


def test_cucm_15su2_https_rsa_only_sip_by_signature_algorithms(tmp_path: Path) -> None:
    with Lab([LabNode("cm", "cucm", "cm", "S3", "15SU2")], site="cm") as lab:
        site = tmp_path / "site.yaml"
        write(site, lab.inventory_path.read_text(encoding="utf-8"))
        done = run_cli("run", "--inventory", str(site), "--report-dir", "plain", cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-3000:]
        results = load_document(tmp_path / "plain" / "cm.json")
        probes = {(p["service"], p["offer"], p["tls_version"]): p for p in results["probes"]}
        # TLS 1.3 on 5061: the certificate follows the client's signature_algorithms.
        assert probes[("sip-tls", "ecdsa", "tls1.3")]["chain"][0]["key_type"] == "ECDSA"
        assert probes[("sip-tls", "rsa", "tls1.3")]["chain"][0]["key_type"] == "RSA"
        assert probes[("tomcat", "ecdsa", "tls1.2")]["outcome"] != "ok"       # HTTPS: RSA only
        # The inventory says HTTPS Ciphers was changed to allow ECDSA: the RSA-only HTTPS now fails, and the
        # fix names the parameter.
        write(site, site.read_text().replace("version: 15SU2\n",
                                             "version: 15SU2\n  parameters: {http_ciphers: rsa-and-ecdsa}\n"))
        done = run_cli("run", "--inventory", str(site), "--report-dir", "changed", cwd=tmp_path)
    assert done.returncode == 1
    tests = load_document(tmp_path / "changed" / "cm.json")["tests"]
    failed = [t for t in tests if t["outcome"] == "failed"]
    assert failed and {t["id"].split(":")[1] if ":" in t["id"] else t["rule"] for t in failed} <= {
        "tomcat", "tomcat-443", "tftp-https-6972", "deployment_state"}  # HTTPS RSA only beside dual SIP: mixed
    sample = next(t for t in failed if t["rule"] == "presented_key" and t["id"].endswith(":ecdsa:tls1.2"))
    assert "TLS 1.3 Certificate Preference Order" in sample["fix"] or "HTTPS Ciphers" in sample["fix"]


def test_inventory_units_win_over_the_release_and_defaults_parameters_fit_each_role(tmp_path: Path) -> None:
    inventory = write(tmp_path / "inv.yaml", "defaults:\n  version: \"12.5(1)\"\n"
                      "  parameters: {http_ciphers: rsa-only}\n"
                      "nodes:\n  - name: a\n    host: a.example.com\n    role: uccx\n"
                      "    services: [{name: socketio, ecdsa_unit: tomcat-ECDSA}]\n"
                      "  - {name: cm, host: cm.example.com, role: cucm, version: 15SU2}\n")
    inv = load_inventory(inventory)
    ends = {(e.node, e.service.name): e for e in inv.endpoints()}
    assert ends[("a", "socketio")].service.ecdsa_unit == "tomcat-ECDSA" and ends[("a", "socketio")].release is None
    assert ends[("a", "tomcat")].release is not None and ends[("a", "tomcat")].release.rsa_only_by_design
    assert inv.node("cm").release is not None and inv.node("cm").release.parameters == {"http_ciphers": "rsa-only"}
    write(inventory, "nodes:\n  - name: a\n    host: a.example.com\n    role: uccx\n    version: \"12.5(1)\"\n"
                     "    parameters: {http_ciphers: rsa-only}\n")
    with pytest.raises(UsageError) as caught:
        load_inventory(inventory)
    assert caught.value.line == 6 and "unknown parameter 'http_ciphers' for role 'uccx'" in str(caught.value)


@pytest.mark.parametrize(("release", "says"), [("16", "not a UCCX release the catalog knows"),
                                               ("sixteen", "is not a release dualcert can read")])
def test_lab_release_must_be_a_known_uccx_release(tmp_path: Path, release: str, says: str) -> None:
    done = run_cli("lab", "--release", release, "--report-dir", "r", cwd=tmp_path)
    assert done.returncode == 4 and says in done.stderr and "Traceback" not in done.stderr


def test_a_release_that_presents_ecdsa_anyway_asks_to_check_the_version(tmp_path: Path) -> None:
    """A node recorded as 12.5 that presents an EC-CA-signed tomcat-ECDSA (really an 11.5): the fix is about the
    inventory's version, not the COP; the release's words do not describe it. "RSA only by design (11.6+)" is
    secondary (no primary source found), so what only it fails is a warning naming its source; --strict fails."""
    with Lab([LabNode("pub", "uccx", "ccx", "S3")], site="ccx") as lab:   # served as 11.5 S3: both certificates
        site = write(tmp_path / "site.yaml", lab.inventory_path.read_text(encoding="utf-8").replace(
            "  role: uccx\n", "  role: uccx\n  version: 12.5(1)\n"))
        done = run_cli("run", "--inventory", str(site), "--report-dir", "r", cwd=tmp_path)
        strict = run_cli("run", "--inventory", str(site), "--report-dir", "strict", "--strict", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    results = load_document(tmp_path / "r" / "ccx.json")
    (diagnosis,) = results["diagnosis"]
    assert (diagnosis["state"], diagnosis["intended"]) == ("S3", "rsa-only") and "design" not in diagnosis
    assert diagnosis["remediation"] and all("check the node's 'version:'" in step and "COP" not in step
                                            for step in diagnosis["remediation"])
    assert not [t for t in results["tests"] if t["status"] == "fail"]
    warned = [t for t in results["tests"] if t["status"] == "warn"]
    presented = [t for t in warned if t["rule"] == "presented_key"]
    assert presented and all(":ecdsa:" in t["id"] or ":default:" in t["id"] for t in presented)
    assert "RSA only by design (11.6+)" in presented[0]["message"] and "COP" not in presented[0]["fix"]
    state = next(t for t in warned if t["rule"] == "deployment_state")
    for test in (presented[0], state):
        assert "'Configure UCCX for self-signed and signed certificates (Cisco document 118855" in test["message"]
        assert "confidence: secondary: the available copy did not show the sentence" in test["message"]
    assert strict.returncode == 1
    judged = load_document(tmp_path / "strict" / "ccx.json")["tests"]
    assert {t["id"] for t in judged if t["outcome"] == "failed"} == {t["id"] for t in warned}


def test_a_release_that_requires_tls13_warns_without_it_with_the_release_fix(tmp_path: Path) -> None:
    from dualcert.probe.observation import Observation, Outcome, ProbeKey
    from dualcert.rules.probe_rules import Case, presented_key
    from dualcert.verdict import Status

    inventory = write(tmp_path / "inv.yaml", "nodes:\n"
                      "  - {name: cm, host: cm.example.com, role: cucm, version: 15SU2}\n"
                      "  - {name: old, host: old.example.com, role: cucm, version: 15SU1}\n")
    ends = {(e.node, e.service.name): e for e in load_inventory(inventory).endpoints()}
    policy = load_policy(None)

    def judged(node: str, policy: Any = policy) -> tuple[Status, str, str]:
        endpoint = ends[(node, "sip-tls")]
        key = ProbeKey(node, "sip-tls", Offer.ECDSA, TLSVersion.TLS1_3)
        seen = Observation(key, endpoint.host, None, endpoint.port, Outcome.UNSUPPORTED, phase="handshake")
        case = Case(endpoint, Offer.ECDSA, TLSVersion.TLS1_3, policy.expectation(endpoint, Offer.ECDSA,
                    TLSVersion.TLS1_3), seen, None, dt.datetime.now(dt.UTC), lambda offer: None)
        verdict = presented_key(case)
        return verdict.status, verdict.message, verdict.fix

    status, message, fix = judged("cm")
    # SIP requiring TLS 1.3 from 15SU2 is secondary: a warning, with the release's fix and the source named.
    assert status is Status.WARN and "Common Criteria" in fix and "TLS 1.3 Certificate Preference Order" in fix
    assert "'Security Guide for Cisco Unified Communications Manager, Release 15: TLS 1.3 Setup" in message
    assert "confidence: secondary" in message
    assert judged("old")[0] is Status.NA    # before 15SU2 TLS 1.3 is absent: not offering it is right
    # A policy that requires TLS 1.3 itself fails it: the failure is the policy's, not the release's.
    own = write(tmp_path / "tls13.yaml", "extends: ec-ca-signed\nrelease: auto\nrules:\n"
                                         "  versions: {tls1.2: required, tls1.3: required}\n")
    status, message, _ = judged("cm", load_policy(own))
    assert status is Status.FAIL and "confidence" not in message


def cucm_node(tmp_path: Path, port: int, roots: Path, version: str, service: str, parameters: str = "") -> Path:
    """A CUCM node of this release whose one probed service is the peer on 127.0.0.1 (the others disabled)."""
    others = "".join(f"      - {{name: {name}, enabled: false}}\n" for name in load_catalog()["cucm"].services
                     if name != service)
    return write(tmp_path / f"cm-{version}-{len(parameters)}.yaml", f"site: cm\ntrust: {roots}\nnodes:\n  - name: cm\n"
                 f"    host: dual.example.test\n    address: 127.0.0.1\n    role: cucm\n    version: {version}\n"
                 f"{parameters}    services:\n      - {{name: {service}, port: {port}}}\n{others}")


def judged(tmp_path: Path, inventory: Path, report: str, *options: str) -> tuple[int, list[dict[str, Any]], str]:
    done = run_cli("run", "--inventory", str(inventory), "--report-dir", report, *options, cwd=tmp_path)
    tests = load_document(tmp_path / report / "cm.json")["tests"]
    return done.returncode, tests, done.stdout[-3000:] + done.stderr[-2000:]


def test_cucm_15su2_sip_without_tls13_is_a_warning_naming_the_secondary_source(tmp_path: Path) -> None:
    """A real TLS 1.2-only server (gnutls-serv, RSA and EC-CA-signed ECDSA) as the SIP port of a CUCM 15SU2:
    the release says SIP requires TLS 1.3, but that rule's source is secondary, so the TLS 1.3 probes are
    warnings naming the source and its confidence; the run passes, and fails under --strict."""
    from .thirdparty import gnutls_serv, make_pki

    pki = make_pki(tmp_path)
    with gnutls_serv(pki, "NORMAL:-VERS-TLS1.3") as port:
        inventory = cucm_node(tmp_path, port, pki.roots, "15SU2", "sip-tls")
        code, tests, output = judged(tmp_path, inventory, "plain")
        strict, strict_tests, _ = judged(tmp_path, inventory, "strict", "--strict")
    assert code == 0, output
    assert not [t for t in tests if t["status"] == "fail"], output
    warned = [t for t in tests if t["status"] == "warn"]
    assert {t["id"] for t in warned} == {f"cm:sip-tls:{offer}:tls1.3" for offer in ("ecdsa", "rsa", "default")}
    for test in warned:
        assert test["rule"] == "presented_key" and "the node's release should offer TLS 1.3" in test["message"]
        assert ("per 'Security Guide for Cisco Unified Communications Manager, Release 15: TLS 1.3 Setup (From "
                "Release 15SU2 Onwards)', confidence: secondary: the available copy did not show the sentence"
                in test["message"])
        assert "TLS 1.3 Certificate Preference Order" in test["fix"]
        assert test["causes"] == [Cause.RELEASE_VERSION], test
    assert strict == 1
    assert {t["id"] for t in strict_tests if t["outcome"] == "failed"} == {t["id"] for t in warned}


def test_cucm_https_presenting_ecdsa_at_the_documented_default_still_fails(tmp_path: Path) -> None:
    """The HTTPS Ciphers rule is documented (the 14SU2 administration guide): a real dual-certificate server as
    a CUCM 14SU2 Tomcat, presenting tomcat-ECDSA to the ECDSA offer, fails; with the parameter changed in the
    inventory it passes; and before 14SU2 no release rule constrains HTTPS (the policy's S3 holds)."""
    from .thirdparty import gnutls_serv, make_pki

    pki = make_pki(tmp_path)
    changed = "    parameters: {http_ciphers: rsa-and-ecdsa}\n"
    with gnutls_serv(pki, "NORMAL:-VERS-TLS1.3") as port:
        code, tests, output = judged(tmp_path, cucm_node(tmp_path, port, pki.roots, "14SU2", "tomcat"), "default")
        changed_code, _, changed_output = judged(
            tmp_path, cucm_node(tmp_path, port, pki.roots, "14SU2", "tomcat", changed), "changed")
        older_code, _, older_output = judged(
            tmp_path, cucm_node(tmp_path, port, pki.roots, "14SU1", "tomcat"), "older")
    assert code == 1, output
    failed = {t["id"]: t for t in tests if t["status"] == "fail"}
    assert "cm:tomcat:ecdsa:tls1.2" in failed, output
    assert set(failed) <= {"cm:tomcat:ecdsa:tls1.2", "cm:tomcat:default:tls1.2"}, output   # a browser may get ECDSA
    assert all(t["rule"] == "presented_key" and "confidence" not in t["message"] for t in failed.values())
    assert "HTTPS Ciphers" in failed["cm:tomcat:ecdsa:tls1.2"]["fix"]
    assert not [t for t in tests if t["status"] == "warn"]
    assert changed_code == 0, changed_output
    assert older_code == 0, older_output
