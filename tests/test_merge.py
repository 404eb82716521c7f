"""`dualcert merge`: the embedded lab run whole and in three shards (real TLS servers on loopback); the
merged shards give the same verdicts, diagnosis and exit code as the whole run, and shards that do not
belong together are refused with exit code 4, naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dualcert.compare.results_file import load_document
from dualcert.lab import Lab

from .conftest import REPO, run_cli

SHARDS = 3


@pytest.fixture(scope="module")
def runs(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("merge")
    args = ("run", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path))
    whole = run_cli(*args, "--json", "whole.json", "--html", "whole.html", cwd=directory)
    shards = [run_cli(*args, "--report-dir", "shards", "--", "--shard", f"{i}/{SHARDS}", cwd=directory)
              for i in range(1, SHARDS + 1)]
    paths = sorted((directory / "shards").glob("*.json"))
    return {"dir": directory, "whole": whole, "shards": shards, "paths": paths}


def verdicts(data: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {(t["id"], t["test"], t["rule"], t["outcome"], t["status"], t["message"]) for t in data["tests"]}


def presented(data: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {(p["node"], p["service"], p["offer"], p["tls_version"], p["outcome"],
             p["chain"][0]["sha256"] if p["chain"] else None) for p in data["probes"]}


def test_merged_shards_equal_the_whole_run(runs: dict[str, Any]) -> None:
    directory = runs["dir"]
    assert [p.name for p in runs["paths"]] == [f"lab.shard-{i}-of-{SHARDS}.json" for i in range(1, SHARDS + 1)]
    merged = run_cli("merge", *map(str, runs["paths"]), "-o", "merged/lab.json", cwd=directory)
    whole = load_document(directory / "whole.json")
    data = load_document(directory / "merged" / "lab.json")
    assert runs["whole"].returncode == 1 and merged.returncode == runs["whole"].returncode == data["run"]["exit_status"]
    assert {s.returncode for s in runs["shards"]} <= {0, 1}
    # A shard's report and diagnosis hold its own clusters (dealt round-robin: shard 1 of 3 has s1, s4, mixed).
    first = load_document(runs["paths"][0])
    assert [d["cluster"] for d in first["diagnosis"]] == ["s1", "s4", "mixed"]
    shard_html = runs["paths"][0].with_suffix(".html").read_text()
    assert "Cluster s1<" in shard_html and "Cluster s2<" not in shard_html
    assert verdicts(data) == verdicts(whole) and len(data["tests"]) == len(whole["tests"])
    assert presented(data) == presented(whole)
    assert sorted(data["diagnosis"], key=lambda d: d["cluster"]) == sorted(whole["diagnosis"],
                                                                          key=lambda d: d["cluster"])
    assert data["run"]["counts"] == whole["run"]["counts"] and data["run"]["shard"] is None
    assert [m["path"] for m in data["run"]["merged"]] == list(map(str, runs["paths"]))

    def findings(summary: dict[str, Any]) -> set[tuple[Any, ...]]:
        return {(f["status"], f["rule"], f["cause"], (f["certificate"] or {}).get("sha256"), f["tests"])
                for f in summary["failures"] + summary["warnings"]}

    assert findings(data["summary"]) == findings(whole["summary"])
    jsonschema.validate(json.loads((directory / "merged" / "lab.json").read_text()),
                        json.loads((REPO / "schema" / "results.schema.json").read_text()))
    html = (directory / "merged" / "lab.html").read_text()
    assert 'id="dc-summary"' in html and f"merged from {SHARDS} shards" in html
    assert all(f"<th>{node}</th>" in html for node in {p["node"] for p in whole["probes"]})
    # `dualcert report` re-renders the same from the merged JSON, without probing.
    report = run_cli("report", "merged/lab.json", cwd=directory)
    assert report.returncode == 0 and (directory / "merged" / "lab.report.html").read_text() == html


@pytest.mark.parametrize("case", ["missing", "twice", "foreign", "clients", "whole", "absent"])
def test_shards_that_do_not_belong_together_exit_4(runs: dict[str, Any], tmp_path: Path, case: str) -> None:
    paths: list[Path] = list(runs["paths"])
    if case == "missing":
        paths, expected = paths[:-1], f"shard(s) {SHARDS}/{SHARDS} missing"
    elif case == "twice":
        copy = tmp_path / "again.json"
        shutil.copy(paths[0], copy)
        paths, expected = [*paths, copy], f"shard 1/{SHARDS} is given twice: {paths[0]} and {copy}"
    elif case == "foreign":  # a shard of another inventory (another site's pipeline)
        data = json.loads(paths[1].read_text())
        data["run"]["inventory"]["sha256"] = "0" * 64
        foreign = tmp_path / "foreign.json"
        foreign.write_text(json.dumps(data))
        paths, expected = [paths[0], foreign, paths[2]], f"{foreign} belongs to another run: its inventory.sha256"
    elif case == "clients":  # a shard run with other --clients: its client verdicts would be missing elsewhere
        data = json.loads(paths[2].read_text())
        data["run"]["clients"] = ["chrome"]
        other = tmp_path / "other-clients.json"
        other.write_text(json.dumps(data))
        paths, expected = [paths[0], paths[1], other], f"{other} belongs to another run: its clients"
    elif case == "whole":
        paths, expected = [runs["dir"] / "whole.json"], f"{runs['dir'] / 'whole.json'} is not a shard"
    else:
        paths, expected = [*paths, tmp_path / "nowhere.json"], f"{tmp_path / 'nowhere.json'}: no such file"
    result = run_cli("merge", *map(str, paths), "-o", "out.json", cwd=tmp_path)
    assert result.returncode == 4 and expected in result.stderr, result.stderr
    assert not (tmp_path / "out.json").exists()
