"""`--select` on a labelled copy of the embedded lab (real TLS servers on loopback), as runners in three sites would
run it: dc1 whole, dc2 in two shards, dc3 whole, with cluster `mixed` spanning dc2 and dc3 (`--split-clusters`).
`dualcert merge` joins them into the whole run's verdicts, refuses runs that overlap or leave nodes unchecked (exit
4, naming them) and, with --allow-partial, lists those nodes as not checked in every output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dualcert.compare.results_file import load_document
from dualcert.lab import Lab

from .conftest import REPO, run_cli
from .test_merge import presented, verdicts

SITES = {"s1": "dc1", "s2": "dc1", "s3": "dc1", "s4": "dc2", "rsa-only": "dc2", "collab": "dc2", "mixed": "dc3",
         "r125": "dc3", "cucm15": "dc3"}
SPLIT_NODE = "mixed-uccx-sub"     # the mixed cluster's S4 subscriber, in dc2 while the rest of it is in dc3
SCHEMA = json.loads((REPO / "schema" / "results.schema.json").read_text())


@pytest.fixture(scope="module")
def runs(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("select")
    data = yaml.safe_load(lab.inventory_path.read_text())
    data["clusters"] = {cluster: {"labels": {"site": site}} for cluster, site in SITES.items()}
    for node in data["nodes"]:
        if node["name"] == SPLIT_NODE:
            node["labels"] = {"site": "dc2"}
    inventory = directory / "labelled.yaml"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    args = ("run", "--inventory", str(inventory), "--policy", str(lab.policy_path))
    whole = run_cli(*args, "--json", "whole.json", "--html", "whole.html", cwd=directory)
    split = ("--split-clusters", "--report-dir", "parts")
    done = {"dc1": run_cli(*args, "--select", "site=dc1", "--report-dir", "parts", cwd=directory),
            "dc2-1": run_cli(*args, "--select", "site=dc2", *split, "--", "--shard", "1/2", cwd=directory),
            "dc2-2": run_cli(*args, "--select", "site=dc2", *split, "--", "--shard", "2/2", cwd=directory),
            "dc3": run_cli(*args, "--select", "site=dc3", *split, cwd=directory)}
    paths = {"dc1": "lab.site=dc1.json", "dc2-1": "lab.site=dc2.shard-1-of-2.json",
             "dc2-2": "lab.site=dc2.shard-2-of-2.json", "dc3": "lab.site=dc3.json"}
    return {"dir": directory, "inventory": inventory, "policy": lab.policy_path, "whole": whole, "done": done,
            "paths": {k: directory / "parts" / v for k, v in paths.items()},
            "nodes": [n["name"] for n in data["nodes"]]}


def load(path: Path) -> dict[str, Any]:
    """A results file as version 1 laid it out (probes and test records), whatever version wrote it."""
    return load_document(path)


def valid(path: Path) -> None:
    """The file's `run` section (where run.coverage is) against the schema's definition of it."""
    jsonschema.validate(json.loads(path.read_text())["run"], {"$ref": "#/$defs/run", "$defs": SCHEMA["$defs"]})


def merge(runs: dict[str, Any], *parts: str, extra: tuple[str, ...] = (), out: str = "merged/lab.json") -> Any:
    return run_cli("merge", *(str(runs["paths"][p]) for p in parts), "-o", out, *extra, cwd=runs["dir"])


def test_each_selected_run_checks_its_part_and_records_it(runs: dict[str, Any]) -> None:
    assert {k: r.returncode for k, r in runs["done"].items()} == {"dc1": 1, "dc2-1": 1, "dc2-2": 1, "dc3": 0}
    dc1 = load(runs["paths"]["dc1"])
    coverage = dc1["run"]["coverage"]
    assert coverage["selection"] == {"site": ["dc1"]} and coverage["split"] == []
    assert coverage["nodes"] == [n for n in runs["nodes"] if n.split("-")[0] in ("s1", "s2", "s3")]
    assert list(coverage["estate"]) == runs["nodes"]
    assert coverage["estate"][SPLIT_NODE] == {"cluster": "mixed", "labels": {"site": "dc2"}}
    assert {p["node"] for p in dc1["probes"]} == set(coverage["nodes"])
    assert [d["cluster"] for d in dc1["diagnosis"]] == ["s1", "s2", "s3"]
    # dc2's second shard holds rsa-only and the dc2 part of mixed: a cluster of its own, which says so.
    second = load(runs["paths"]["dc2-2"])
    assert second["run"]["shard"] == [2, 2] and [d["cluster"] for d in second["diagnosis"]] == \
        ["rsa-only", "mixed@site=dc2"]
    assert second["run"]["coverage"]["split"] == [{"cluster": "mixed", "part": "mixed@site=dc2",
                                                   "nodes": [SPLIT_NODE], "elsewhere": ["mixed-uccx-pub", "mixed-sm"]}]
    assert any(t["id"] == "mixed@site=dc2" and t["rule"] == "deployment_state" for t in second["tests"])
    assert "dualcert: cluster mixed is split (--split-clusters): its cluster rules and diagnosis here see only " \
           "mixed-uccx-sub, as cluster mixed@site=dc2; mixed-uccx-pub, mixed-sm left to other runs" in \
           runs["done"]["dc2-2"].stdout
    assert "dualcert: --select site=dc2: 9 of the 24 nodes of the inventory" in runs["done"]["dc2-2"].stdout
    html = runs["paths"]["dc3"].with_suffix(".html").read_text()
    assert "Cluster mixed@site=dc3" in html and "Cluster s1<" not in html
    assert "--select site=dc3: 6 of the 24 nodes" in html and \
        "mixed@site=dc3: mixed-uccx-pub, mixed-sm (not here: mixed-uccx-sub)" in html
    for key in runs["paths"]:
        valid(runs["paths"][key])


def test_selected_runs_merge_into_the_whole_run(runs: dict[str, Any]) -> None:
    result = merge(runs, "dc3", "dc2-2", "dc1", "dc2-1")   # any order: the merge puts them in inventory order
    whole, data = load(runs["dir"] / "whole.json"), load(runs["dir"] / "merged" / "lab.json")
    assert runs["whole"].returncode == 1 and result.returncode == 1 == data["run"]["exit_status"], result.stderr

    def clusterless(tests: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:   # the split cluster's own tests aside
        return {t for t in tests if t[0] != "mixed" and not t[0].startswith("mixed@")}

    assert clusterless(verdicts(data)) == clusterless(verdicts(whole)) and presented(data) == presented(whole)
    assert {t["id"] for t in data["tests"] if t["id"].startswith("mixed@")} == {"mixed@site=dc2", "mixed@site=dc3"}
    states = {d["cluster"]: d["state"] for d in data["diagnosis"]}
    whole_states = {d["cluster"]: d["state"] for d in whole["diagnosis"]}
    assert whole_states.pop("mixed") == "mixed" and states.pop("mixed@site=dc2") == "S4" and \
        states.pop("mixed@site=dc3") == "S3"   # per-node diagnosis: each part alone, as --split-clusters says
    assert states == whole_states and list(states)[:3] == ["s1", "s2", "s3"]
    coverage = data["run"]["coverage"]
    assert coverage["nodes"] == runs["nodes"] and coverage["not_checked"] == []
    assert [(p["selection"], p["shard"]) for p in coverage["parts"]] == [
        ({"site": ["dc3"]}, None), ({"site": ["dc2"]}, [2, 2]), ({"site": ["dc1"]}, None), ({"site": ["dc2"]}, [1, 2])]
    valid(runs["dir"] / "merged" / "lab.json")
    html = (runs["dir"] / "merged" / "lab.html").read_text()
    assert "dc-not-checked" not in html
    assert "mixed@site=dc2: mixed-uccx-sub (not here: mixed-uccx-pub, mixed-sm)" in html
    assert f"{runs['paths']['dc2-1']}: --select site=dc2 --shard 1/2" in html


def test_nodes_no_run_checked_are_exit_4_unless_allowed(runs: dict[str, Any]) -> None:
    refused = merge(runs, "dc1", "dc2-1", "dc2-2", out="partial/lab.json")
    assert refused.returncode == 4 and not (runs["dir"] / "partial").exists()
    assert ("dualcert merge: no run checked 6 of the 24 nodes: cluster mixed (site=dc3): mixed-uccx-pub, mixed-sm; "
            "cluster r125 (site=dc3): r125-uccx-pub, r125-uccx-sub, r125-sm; cluster cucm15 (site=dc3): cucm15-pub\n"
            "  fix: run the missing part") in refused.stderr and "--allow-partial" in refused.stderr
    allowed = merge(runs, "dc1", "dc2-1", "dc2-2", extra=("--allow-partial", "--metrics", "partial/lab.prom"),
                    out="partial/lab.json")
    unchecked = ["mixed-uccx-pub", "mixed-sm", "r125-uccx-pub", "r125-uccx-sub", "r125-sm", "cucm15-pub"]
    assert allowed.returncode == 1 and "NOT CHECKED: no run checked 6 of the 24 nodes" in allowed.stdout
    data = load(runs["dir"] / "partial" / "lab.json")
    assert data["run"]["coverage"]["not_checked"] == unchecked and data["run"]["command"][-1] == "--allow-partial"
    assert not {p["node"] for p in data["probes"]} & set(unchecked)
    valid(runs["dir"] / "partial" / "lab.json")
    html = (runs["dir"] / "partial" / "lab.html").read_text()
    section = html.split('id="dc-not-checked"', 1)[1].split("</section>", 1)[0]
    assert "no run checked 6 of the 24 nodes" in section and all(node in section for node in unchecked)
    assert html.index('id="dc-not-checked"') < html.index('id="dc-summary"')   # above the verdict
    # The metrics too: an alert on dualcert_nodes{coverage="not_checked"} > 0 catches a site that stopped reporting.
    families = {f.name: f for f in text_string_to_metric_families((runs["dir"] / "partial" / "lab.prom").read_text())}
    assert {s.labels["coverage"]: s.value for s in families["dualcert_nodes"].samples} == {
        "checked": 18, "not_checked": 6}
    assert [(s.labels["node"], s.labels["cluster"], s.value) for s in families["dualcert_node_not_checked"].samples] \
        == [(node, cluster, 1) for node, cluster in zip(unchecked, ["mixed", "mixed", *["r125"] * 3, "cucm15"],
                                                         strict=True)]
    report = run_cli("report", "partial/lab.json", cwd=runs["dir"])   # re-rendered from the JSON alone: the same
    assert report.returncode == 0 and (runs["dir"] / "partial" / "lab.report.html").read_text() == html


def test_a_missing_shard_of_a_selection_names_it_and_its_nodes(runs: dict[str, Any]) -> None:
    second = load(runs["paths"]["dc2-2"])["run"]["coverage"]["nodes"]
    refused = merge(runs, "dc1", "dc2-1", "dc3", out="gap/lab.json")
    assert refused.returncode == 4, refused.stderr
    assert f"shard(s) 2/2 of --select site=dc2 missing (given: {runs['paths']['dc1']}, " in refused.stderr
    assert f"no run checked {len(second)} of the 24 nodes: cluster rsa-only (site=dc2): " in refused.stderr
    allowed = merge(runs, "dc1", "dc2-1", "dc3", extra=("--allow-partial",), out="gap/lab.json")
    assert allowed.returncode == 1 and load(runs["dir"] / "gap" / "lab.json")["run"]["coverage"]["not_checked"] == \
        second


@pytest.mark.parametrize("case", ["overlap", "twice", "split", "whole", "foreign", "old"])
def test_runs_that_do_not_fit_together_exit_4(runs: dict[str, Any], tmp_path: Path, case: str) -> None:
    paths = dict(runs["paths"])
    copy = tmp_path / "copy.json"

    def doctored(key: str, change: Any) -> None:
        data = json.loads(paths[key].read_text())   # the file as written, one member changed
        change(data["run"])
        copy.write_text(json.dumps(data))
        paths[key] = copy

    if case == "overlap":   # one site's run given twice (or two selections sharing nodes)
        shutil.copy(paths["dc1"], copy)
        given, expected = [paths["dc1"], paths["dc2-1"], paths["dc2-2"], paths["dc3"], copy], \
            f"{paths['dc1']} and {copy} both checked 9 node(s): s1-uccx-pub, "
    elif case == "twice":
        shutil.copy(paths["dc2-1"], copy)
        given = [*paths.values(), copy]
        expected = f"shard 1/2 of --select site=dc2 is given twice: {paths['dc2-1']} and {copy}"
    elif case == "split":   # a shard of the same selection from another split
        doctored("dc2-2", lambda run: run.update(shard=[2, 3]))
        given, expected = list(paths.values()), f"{copy} is shard 2/3 of --select site=dc2, but "
    elif case == "whole":
        given, expected = [runs["dir"] / "whole.json", paths["dc1"]], \
            f"{runs['dir'] / 'whole.json'} is not a shard nor a selected run"
    elif case == "foreign":
        doctored("dc3", lambda run: run["inventory"].update(sha256="0" * 64))
        given, expected = list(paths.values()), f"{copy} belongs to another run: its inventory.sha256"
    else:   # a shard written by a dualcert from before runs recorded their coverage
        doctored("dc2-2", lambda run: run.pop("coverage"))
        given, expected = list(paths.values()), f"{copy} has no run.coverage: an older dualcert wrote it"
    result = run_cli("merge", *map(str, given), "-o", "out.json", cwd=tmp_path)
    assert result.returncode == 4 and expected in result.stderr, result.stderr
    assert not (tmp_path / "out.json").exists()


def test_a_selected_run_compares_only_its_nodes_with_a_baseline(runs: dict[str, Any]) -> None:
    """The whole run as the baseline of dc3's run: the other sites' nodes are another run's, not gone."""
    result = run_cli("run", "--inventory", str(runs["inventory"]), "--policy", str(runs["policy"]), "--select",
                     "site=dc3", "--split-clusters", "--baseline", "whole.json", "--json", "dc3-again.json",
                     "--html", "dc3-again.html", cwd=runs["dir"])
    data = load(runs["dir"] / "dc3-again.json")
    assert result.returncode == 0, result.stdout[-2000:]
    unchanged = [t for t in data["tests"] if t["rule"] == "unchanged"]
    assert unchanged and {t["status"] for t in unchanged} == {"pass"}
    assert {t["id"].split(":")[0] for t in unchanged} == set(data["run"]["coverage"]["nodes"])
    assert not [e for e in data["changes"]["entries"] if e["kind"] == "gone"]


def test_shards_from_before_coverage_records_merge_as_before(runs: dict[str, Any], tmp_path: Path) -> None:
    """Files without run.coverage (an older dualcert's shards): a complete set of one split merges, a gap is refused."""
    stripped = []
    for key in ("dc2-1", "dc2-2"):
        data = json.loads(runs["paths"][key].read_text())
        del data["run"]["coverage"]
        stripped.append(tmp_path / f"{key}.json")
        stripped[-1].write_text(json.dumps(data))
    result = run_cli("merge", *map(str, stripped), "-o", "old.json", cwd=tmp_path)
    assert result.returncode == 1 and "coverage" not in load(tmp_path / "old.json")["run"], result.stderr
    result = run_cli("merge", str(stripped[0]), "-o", "gap.json", cwd=tmp_path)
    assert result.returncode == 4 and f"shard(s) 2/2 missing (given: {stripped[0]})" in result.stderr
    assert not (tmp_path / "gap.json").exists()


def test_a_sites_own_fan_in_merges_again_with_the_other_sites(runs: dict[str, Any]) -> None:
    """dc2's shards merged alone cover dc2 (their selection), and that merge is a part of the estate's merge."""
    site = merge(runs, "dc2-1", "dc2-2", out="dc2/lab.site=dc2.json")
    data = load(runs["dir"] / "dc2" / "lab.site=dc2.json")
    assert site.returncode == 1 and data["run"]["coverage"]["selection"] == {"site": ["dc2"]}, site.stderr
    assert data["run"]["coverage"]["not_checked"] == [] and len(data["run"]["coverage"]["nodes"]) == 9
    paths, site_merge = runs["paths"], runs["dir"] / "dc2" / "lab.site=dc2.json"
    estate = run_cli("merge", str(paths["dc1"]), str(site_merge), str(paths["dc3"]), "-o", "estate/lab.json",
                     cwd=runs["dir"])
    assert estate.returncode == 1, estate.stderr
    assert load(runs["dir"] / "estate" / "lab.json")["run"]["coverage"]["nodes"] == runs["nodes"]
    gap = run_cli("merge", str(paths["dc1"]), str(site_merge), "-o", "estate/gap.json", cwd=runs["dir"])
    assert gap.returncode == 4 and "no run checked 6 of the 24 nodes" in gap.stderr
    lone = merge(runs, "dc2-1", out="estate/lone.json")   # one shard of dc2: the rest of dc2 is missing
    assert lone.returncode == 4 and "shard(s) 2/2 of --select site=dc2 missing" in lone.stderr
    assert "no run checked 4 of --select site=dc2's 9 nodes" in lone.stderr, lone.stderr
