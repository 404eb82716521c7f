"""Comparing with a baseline, end to end on the embedded lab, as the README shows it:
S4 (before) -> S3 (after, the admin had tomcat-ECDSA signed by the EC CA) with a kept PKI,
`dualcert diff`, and `dualcert run --baseline` across a changed inventory."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dualcert.compare.results_file import load_document
from dualcert.estate.catalog import load_catalog
from dualcert.lab import Lab
from dualcert.rules.causes import Cause

from .conftest import REPO, run_cli
from .peers import closed_port

STORY_POLICY = REPO / "fixtures" / "lab-s4-to-s3.policy.yaml"
LAB_NODES = {"uccx-pub": "uccx", "uccx-sub": "uccx", "sm": "socialminer"}


def ecdsa_presentations() -> set[str]:
    """What S4 -> S3 must change: every ECDSA offer of a service holding tomcat-ECDSA on the UCCX and
    SocialMiner nodes, and a browser's offer where the service prefers ECDSA (Socket.IO, SM Openfire)."""
    catalog = load_catalog()
    ids = set()
    for node, role in LAB_NODES.items():
        for service in catalog[role].services.values():
            if service.ecdsa_unit is None:
                continue
            offers = ["ecdsa"] + (["default"] if service.prefers == "ecdsa" else [])
            ids |= {f"{node}:{service.name}:{offer}:{version}" for offer in offers for version in ("tls1.2", "tls1.3")}
    return ids


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("story")
    before = run_cli("lab", "--states", "S4", "--pki-dir", "lab-pki", "--report-dir", "before", cwd=cwd)
    undeclared = run_cli("lab", "--states", "S3", "--pki-dir", "lab-pki", "--report-dir", "undeclared",
                         "--baseline", "before/lab.json", cwd=cwd)
    declared = run_cli("lab", "--states", "S3", "--pki-dir", "lab-pki", "--report-dir", "after",
                       "--baseline", "before/lab.json", "--policy", str(STORY_POLICY), cwd=cwd)
    return {"cwd": cwd, "before": before, "undeclared": undeclared, "declared": declared}


def results(story: dict[str, Any], name: str) -> dict[str, Any]:
    return load_document(story["cwd"] / name / "lab.json")


def test_s4_to_s3_changes_exactly_the_ecdsa_presentations(story: dict[str, Any]) -> None:
    assert story["before"].returncode == 0, story["before"].stderr[-2000:]
    changes = results(story, "undeclared")["changes"]
    assert changes["baseline"] == {"path": "before/lab.json", "site": "lab",
                                   "written": results(story, "before")["run"]["written"]}
    entries = changes["entries"]
    assert {e["id"] for e in entries} == ecdsa_presentations()
    for entry in entries:
        assert entry["kind"] == "changed" and set(entry["fields"]) == {"leaf_sha256", "issuer", "self_signed",
                                                                       "days_left"}
        assert entry["fields"]["self_signed"] == [True, False]
        assert entry["fields"]["issuer"][1] == "CN=dualcert Lab EC Issuing CA,O=dualcert lab"


def test_undeclared_change_fails_its_test_with_a_fix(story: dict[str, Any]) -> None:
    run = story["undeclared"]
    assert run.returncode == 1
    assert "not allowed by the policy's expected_changes" in run.stderr
    tests = [t for t in results(story, "undeclared")["tests"] if t["test"] == "test_unchanged"]
    failed = {t["id"] for t in tests if t["outcome"] == "failed"}
    assert failed == ecdsa_presentations()
    assert {t["outcome"] for t in tests if t["id"] not in failed} == {"passed"}
    sample = next(t for t in tests if t["outcome"] == "failed")
    assert sample["rule"] == "unchanged" and "self_signed: True -> False" in sample["message"]
    assert "expected_changes" in sample["fix"]
    assert {tuple(t["causes"]) for t in tests if t["outcome"] == "failed"} == {(Cause.UNDECLARED_CHANGE,)}
    # The policy rules are judged as before: the lab's S3 still passes them all.
    assert "every state fails exactly the rules the digest predicts" in run.stdout


def test_declared_change_passes_and_is_listed_as_expected(story: dict[str, Any]) -> None:
    run = story["declared"]
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = results(story, "after")
    entries = data["changes"]["entries"]
    assert {e["id"] for e in entries} == ecdsa_presentations()
    assert all(e["expected"] and "S4 -> S3" in e["reason"] and "expected_changes[0]" in e["reason"] for e in entries)
    unchanged = [t for t in data["tests"] if t["test"] == "test_unchanged"]
    assert len(unchanged) == len(data["probes"]) and {t["outcome"] for t in unchanged} == {"passed"}
    assert f"changes since before/lab.json: {len(entries)} ({len(entries)} expected, 0 unexpected)" in run.stdout


def test_kept_pki_is_private(story: dict[str, Any]) -> None:
    pki = story["cwd"] / "lab-pki"
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    files = list(pki.iterdir())
    assert any(f.name.endswith(".key.pem") for f in files)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_pki_dir_readable_by_others_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    result = run_cli("lab", "--states", "S3", "--pki-dir", str(shared), cwd=tmp_path)
    assert result.returncode == 4
    assert "accessible by other users" in result.stderr and "chmod 700" in result.stderr
    assert "Traceback" not in result.stderr and list(shared.iterdir()) == []


def test_diff_formats_and_exit_codes(story: dict[str, Any]) -> None:
    cwd = story["cwd"]
    text = run_cli("diff", "before/lab.json", "after/lab.json", cwd=cwd)
    assert text.returncode == 1
    assert text.stdout.splitlines()[1].split() == ["kind", "expected", "probe", "field", "before", "after"]
    assert "changed  NO        uccx-pub:socketio:default:tls1.2" in text.stdout
    count = len(ecdsa_presentations())
    assert f"{count} changed, 0 new, 0 gone" in text.stdout and f"0 expected, {count} unexpected" in text.stdout
    declared = run_cli("diff", "before/lab.json", "after/lab.json", "--policy", str(STORY_POLICY), cwd=cwd)
    assert declared.returncode == 0 and f"{count} expected, 0 unexpected" in declared.stdout
    as_json = run_cli("diff", "before/lab.json", "after/lab.json", "--format", "json", cwd=cwd)
    document = json.loads(as_json.stdout)
    assert document["counts"]["changed"] == count and document["unexpected"] == count
    assert {e["id"] for e in document["entries"]} == ecdsa_presentations()
    markdown = run_cli("diff", "before/lab.json", "after/lab.json", "--format", "markdown", cwd=cwd).stdout
    assert "| kind | expected | probe | field | before | after | reason |" in markdown
    assert "| changed | NO | sm:openfire:default:tls1.2 | leaf_sha256 |" in markdown
    same = run_cli("diff", "after/lab.json", "after/lab.json", cwd=cwd)
    assert same.returncode == 0 and "no differences" in same.stdout
    missing = run_cli("diff", "before/lab.json", "nope.json", cwd=cwd)
    assert missing.returncode == 4 and "nope.json: baseline file not found" in missing.stderr


def _s3_inventory(lab: Lab, path: Path, edit: bool) -> Path:
    """The lab's S3 nodes; `edit`: uccx-sub renamed, SocialMiner's openfire removed, uccx-pub's tomcat moved."""
    data = yaml.safe_load(lab.inventory_path.read_text())
    data["nodes"] = [n for n in data["nodes"] if n["name"].startswith("s3-")]
    if edit:
        for node in data["nodes"]:
            ports = {s["name"]: s["port"] for s in node["services"]}
            if node["name"] == "s3-uccx-sub":
                node["name"] = "s3-uccx-sub-renamed"
            if node["name"] == "s3-sm":
                node["services"] = [s for s in node["services"] if s["name"] != "openfire"]
                node["services"].append({"name": "openfire", "enabled": False})
            if node["name"] == "s3-uccx-pub":  # tomcat now answers where tomcat-443 does: same certificates
                next(s for s in node["services"] if s["name"] == "tomcat")["port"] = ports["tomcat-443"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_run_with_a_baseline_from_another_inventory(lab: Lab, tmp_path: Path) -> None:
    quick = ["--", "--tls-versions", "tls1.2"]
    old = _s3_inventory(lab, tmp_path / "old.yaml", edit=False)
    new = _s3_inventory(lab, tmp_path / "new.yaml", edit=True)
    policy = str(lab.policy_path)
    first = run_cli("run", "--inventory", str(old), "--policy", policy, "--json", "old.json", *quick, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:]
    second = run_cli("run", "--inventory", str(new), "--policy", policy, "--json", "new.json",
                     "--baseline", "old.json", *quick, cwd=tmp_path)
    assert second.returncode == 1 and "Traceback" not in second.stdout + second.stderr
    entries = load_document(tmp_path / "new.json")["changes"]["entries"]
    kinds: dict[str, set[str]] = {}
    for entry in entries:
        kinds.setdefault(entry["kind"], set()).add(entry["id"].rsplit(":", 2)[0])
    assert kinds["new"] == {f"s3-uccx-sub-renamed:{s}" for s in load_catalog()["uccx"].services}
    assert kinds["gone"] == {f"s3-uccx-sub:{s}" for s in load_catalog()["uccx"].services} | {"s3-sm:openfire"}
    assert kinds["changed"] == {"s3-uccx-pub:tomcat"}
    moved = next(e for e in entries if e["kind"] == "changed")
    assert set(moved["fields"]) == {"port", "days_left"}
    summary = next(line for line in second.stdout.splitlines() if line.startswith("compared "))
    n_new, n_gone = len(kinds["new"]) * 3, len(kinds["gone"]) * 3
    assert f": 3 changed, {n_new} new, {n_gone} gone," in summary and f"{3 + n_new + n_gone} unexpected" in summary


# --- simulated clients (--clients) in comparisons --------------------------------------------------------------

CHROME_SOCKETIO = "s3-uccx-pub:socketio:client-chrome:auto"
CHROME_TOMCAT_443 = "s3-uccx-pub:tomcat-443:client-chrome:auto"


def _client_inventories(lab: Lab, tmp_path: Path) -> tuple[Path, Path]:
    """s3-uccx-pub alone; in the second, its Socket.IO answers where s4-uccx-pub's does (a self-signed ECDSA
    leaf) and nothing listens on its tomcat-443 any more."""
    data = yaml.safe_load(lab.inventory_path.read_text())
    nodes = {n["name"]: n for n in data["nodes"]}
    old = {**data, "nodes": [nodes["s3-uccx-pub"]]}
    moved = yaml.safe_load(yaml.safe_dump(nodes["s3-uccx-pub"]))
    s4_socketio = next(s["port"] for s in nodes["s4-uccx-pub"]["services"] if s["name"] == "socketio")
    for service in moved["services"]:
        service["port"] = {"socketio": s4_socketio, "tomcat-443": closed_port()}.get(service["name"], service["port"])
    paths = (tmp_path / "old.yaml", tmp_path / "new.yaml")
    for path, document in zip(paths, (old, {**data, "nodes": [moved]}), strict=True):
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return paths


def _leaf(document: dict[str, Any], probe_id: str) -> str:
    return next(p["chain"][0]["sha256"] for p in document["probes"]
                if f"{p['node']}:{p['service']}:{p['offer']}:{p['tls_version']}" == probe_id)


def test_client_probes_are_compared_and_a_profile_one_run_probed_is_named(lab: Lab, tmp_path: Path) -> None:
    """Chrome, probed by both runs, now gets the self-signed leaf on Socket.IO and no connection on tomcat-443:
    two changes `--baseline` and `dualcert diff` report; java8 and firefox, each probed by one run only, are
    no server change: the summary names them with their probe counts."""
    old, new = _client_inventories(lab, tmp_path)
    policy = str(lab.policy_path)
    first = run_cli("run", "--inventory", str(old), "--policy", policy, "--json", "old.json",
                    "--clients", "chrome,java8", cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    second = run_cli("run", "--inventory", str(new), "--policy", policy, "--json", "new.json",
                     "--clients", "chrome,firefox", "--baseline", "old.json", cwd=tmp_path)
    assert second.returncode == 1 and "Traceback" not in second.stdout + second.stderr
    before, after = (load_document(tmp_path / name) for name in ("old.json", "new.json"))
    services = [s["name"] for s in yaml.safe_load(old.read_text())["nodes"][0]["services"]]

    tests = {t["id"]: t for t in after["tests"] if t["test"] == "test_unchanged" and ":client-" in t["id"]}
    assert set(tests) == {f"s3-uccx-pub:{s}:client-chrome:auto" for s in services}
    assert {i for i, t in tests.items() if t["outcome"] == "failed"} == {CHROME_SOCKETIO, CHROME_TOMCAT_443}
    entries = {e["id"]: e for e in after["changes"]["entries"]}
    assert entries[CHROME_SOCKETIO]["fields"]["leaf_sha256"] == [_leaf(before, CHROME_SOCKETIO),
                                                                 _leaf(after, CHROME_SOCKETIO)]
    assert entries[CHROME_SOCKETIO]["fields"]["self_signed"] == [False, True]
    assert entries[CHROME_TOMCAT_443]["fields"]["outcome"] == ["ok", "connection-refused"]
    assert not [i for i in entries if "java8" in i or "firefox" in i]
    left_out = [{"profile": "java8", "only_in": "old", "probes": len(services)},
                {"profile": "firefox", "only_in": "new", "probes": len(services)}]
    assert after["changes"]["not_compared"]["clients"] == left_out
    jsonschema.validate(json.loads((tmp_path / "new.json").read_text()),
                        json.loads((REPO / "schema" / "results.schema.json").read_text()))
    assert "Not compared, client profiles probed by one run only" in (tmp_path / "reports" / "lab.html").read_text()
    summary = next(line for line in second.stdout.splitlines() if line.startswith("compared "))
    assert f"({len(services)} of them simulated clients' probes: chrome)" in summary
    assert (f"java8 ({len(services)} probe(s), old.json only), firefox ({len(services)} probe(s), this run only)"
            in summary)

    text = run_cli("diff", "old.json", "new.json", cwd=tmp_path)
    assert text.returncode == 1
    rows = [line.split()[:3] for line in text.stdout.splitlines()]
    assert ["changed", "NO", CHROME_SOCKETIO] in rows and ["changed", "NO", CHROME_TOMCAT_443] in rows
    assert f"firefox ({len(services)} probe(s), new.json only)" in text.stdout
    document = json.loads(run_cli("diff", "old.json", "new.json", "--format", "json", cwd=tmp_path).stdout)
    assert document["compared"]["clients"] == ["chrome"] and document["not_compared"]["clients"] == left_out
    assert {e["id"] for e in document["entries"] if ":client-" in e["id"]} == {CHROME_SOCKETIO, CHROME_TOMCAT_443}

    # Declaring what the offers were expected to do covers the clients that made the very same change.
    (tmp_path / "declared.yaml").write_text(
        "expected_changes:\n"
        "  - {services: [socketio], offers: [ecdsa, rsa, default], any: true, reason: moved to the S4 server}\n"
        "  - {services: [tomcat-443], offers: [ecdsa, rsa, default], to: unreachable, reason: tomcat-443 closed}\n")
    declared = run_cli("diff", "old.json", "new.json", "--policy", "declared.yaml", "--format", "json", cwd=tmp_path)
    assert declared.returncode == 0, declared.stdout[-3000:]
    reasons = {e["id"]: e["reason"] for e in json.loads(declared.stdout)["entries"] if ":client-" in e["id"]}
    assert reasons[CHROME_SOCKETIO].startswith("the same change as s3-uccx-pub:socketio:")
    assert reasons[CHROME_TOMCAT_443].startswith("the same change as s3-uccx-pub:tomcat-443:")
