"""Version-1 results files (`dualcert-results/1`, each probe with its chain's facts, each test whole) are still
read by every reader: `dualcert diff`, `--baseline`, `dualcert merge`, `dualcert report`, the metrics and the HTML.

tests/data/results-v1/ holds the two shards of a real lab run written by dualcert before schema 2 (commit
2f2ca9f plus the work tree of 2026-12-06: `Lab([mixed-uccx-sub S4, s1-sm S1])`, `dualcert run --clients chrome
--baseline whole.json -- --shard I/2`); they are kept as written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from dualcert.compare.results_file import SCHEMA, SCHEMA_V1, ResultsFile, load_document
from dualcert.compare.snapshot import load_snapshot
from dualcert.lab import Lab
from dualcert.render.fanin import write_views

from .conftest import REPO, run_cli

V1 = Path(__file__).parent / "data" / "results-v1"
SHARDS = [V1 / "lab.shard-1-of-2.json", V1 / "lab.shard-2-of-2.json"]


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("v1")
    result = run_cli("merge", *map(str, SHARDS), "-o", "merged.json", "--metrics", "merged.prom", cwd=directory)
    assert result.returncode == 1, result.stderr   # the shards failed policy rules (S4, S1)
    return directory


def test_the_stored_files_are_version_1() -> None:
    for path in SHARDS:
        raw = json.loads(path.read_text())
        assert raw["schema"] == SCHEMA_V1 and raw["probes"][0]["chain"][0]["sha256"] and "endpoints" not in raw


def test_merge_writes_version_2_with_every_record_of_the_version_1_shards(merged: Path) -> None:
    raw = json.loads((merged / "merged.json").read_text())
    assert raw["schema"] == SCHEMA
    jsonschema.validate(raw, json.loads((REPO / "schema" / "results.schema.json").read_text()))
    old = [load_document(path) for path in SHARDS]
    new = load_document(merged / "merged.json")

    def probes(doc: dict[str, object]) -> set[str]:
        return {json.dumps({k: v for k, v in p.items() if not k.endswith("_ms")}, sort_keys=True)
                for p in doc["probes"]}  # type: ignore[attr-defined]

    def tests(doc: dict[str, object]) -> list[tuple[object, ...]]:
        return sorted((t["id"], t["test"], t["nodeid"], t["rule"], t["outcome"], t["status"], t["message"], t["fix"])
                      for t in doc["tests"])  # type: ignore[attr-defined]

    assert probes(new) == probes(old[0]) | probes(old[1]) and len(new["probes"]) == 49
    assert tests(new) == sorted(tests(old[0]) + tests(old[1]))
    assert new["certificates"] == {**old[0]["certificates"], **old[1]["certificates"]}
    assert [d["cluster"] for d in new["diagnosis"]] == ["mixed", "s1"]
    # Each certificate once: the chains are keys into the table, which holds the facts and the DER.
    assert all(len(key) == 64 and entry["der"] for key, entry in raw["certificates"].items())
    assert all(isinstance(p.get("chain", 0), int) for e in raw["endpoints"] for p in e["probes"])
    # The grouped summary names the same findings as the shards' own (version 1) summaries did.
    found = {(f["rule"], (f["certificate"] or {}).get("sha256")) for f in new["summary"]["failures"]}
    assert found == {(f["rule"], (f["certificate"] or {}).get("sha256")) for doc in old
                     for f in doc["summary"]["failures"]}


def test_diff_reads_version_1_against_version_2(merged: Path) -> None:
    same = run_cli("diff", str(SHARDS[0]), str(SHARDS[0]), "--format", "json", cwd=merged)
    assert same.returncode == 0 and json.loads(same.stdout)["entries"] == []
    # The merge holds shard 1's probes unchanged and shard 2's as new ones.
    diff = run_cli("diff", str(SHARDS[0]), "merged.json", "--format", "json", cwd=merged)
    entries = json.loads(diff.stdout)["entries"]
    assert {e["kind"] for e in entries} == {"new"} and {e["id"].split(":")[0] for e in entries} == {"s1-sm"}
    assert len(entries) == 14
    assert load_snapshot(SHARDS[0]).presentations.keys() <= load_snapshot(merged / "merged.json").presentations.keys()


def test_a_version_1_baseline_is_compared_probe_by_probe(lab: Lab, tmp_path: Path) -> None:
    """The lab's mixed-uccx-sub again, against the stored shard's: a fresh PKI, so every leaf changed."""
    baseline = tmp_path / "before.json"
    shutil.copy(SHARDS[0], baseline)
    result = run_cli("run", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path), "--baseline",
                     str(baseline), "--json", "after.json", "--", "-k", "mixed-uccx-sub and unchanged", cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr
    changes = load_document(tmp_path / "after.json")["changes"]["entries"]
    tomcat = next(e for e in changes if e["id"] == "mixed-uccx-sub:tomcat:ecdsa:tls1.2")
    assert tomcat["kind"] == "changed" and "leaf_sha256" in tomcat["fields"]
    assert tomcat["fields"]["leaf_sha256"][0] == load_document(SHARDS[0])["probes"][0]["chain"][0]["sha256"]


def test_report_and_metrics_read_version_1(tmp_path: Path) -> None:
    result = run_cli("report", str(SHARDS[0]), "--html", "v1.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "v1.html").read_text()
    assert 'id="dc-summary"' in html and "<th>mixed-uccx-sub</th>" in html and "Cluster mixed" in html
    write_views(ResultsFile(SHARDS[1]), None, tmp_path / "v1.prom")
    metrics = (tmp_path / "v1.prom").read_text()
    leaves = {p["chain"][0]["sha256"] for p in load_document(SHARDS[1])["probes"] if p["chain"]}
    assert all(f'sha256="{leaf}"' in metrics for leaf in leaves) and 'node="s1-sm"' in metrics
