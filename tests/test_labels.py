"""Labels on nodes and clusters (dualcert YAML and Ansible `dualcert_labels`) and `--select`: which nodes a selection
takes, whole clusters or a usage error naming what to do, and shards within a selection. No network: the runs here
are built, not probed (tests/test_select_merge.py probes the lab)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dualcert.errors import UsageError
from dualcert.estate.inventory import load_inventory
from dualcert.estate.selection import Selection, report_stem
from dualcert.policy.load import load_policy
from dualcert.run import DualcertRun, RunOptions

from .conftest import REPO, run_cli

ESTATE = """\
site: cc
trust: mozilla
clusters:
  east: {labels: {site: dc1, zone: voice}}
  west:
    labels: {site: dc2, zone: voice}
nodes:
  - {name: e1, host: e1.example.com, role: uccx, cluster: east}
  - {name: e2, host: e2.example.com, role: uccx, cluster: east}
  - {name: e3, host: e3.example.com, role: socialminer, cluster: east, labels: {rack: r7}}
  - {name: w1, host: w1.example.com, role: uccx, cluster: west}
  - {name: w2, host: w2.example.com, role: uccx, cluster: west, labels: {zone: dmz}}
  - {name: solo, host: solo.example.com, role: cucm, labels: {site: dc2, zone: voice, rack: 12}}
"""


def write(tmp_path: Path, text: str = ESTATE, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def select(path: Path, *texts: str, split: bool = False) -> list[str]:
    inventory, _ = Selection.parse(texts, split).apply(load_inventory(path))
    return [n.name for n in inventory.nodes]


def usage(path: Path, *texts: str, split: bool = False) -> UsageError:
    with pytest.raises(UsageError) as caught:
        select(path, *texts, split=split)
    return caught.value


def test_cluster_labels_are_inherited_and_node_labels_add_or_override(tmp_path: Path) -> None:
    labels = {n.name: n.labels for n in load_inventory(write(tmp_path)).nodes}
    assert labels["e1"] == {"site": "dc1", "zone": "voice"}
    assert labels["e3"] == {"site": "dc1", "zone": "voice", "rack": "r7"}
    assert labels["w2"] == {"site": "dc2", "zone": "dmz"}          # the node's zone wins over its cluster's
    assert labels["solo"] == {"site": "dc2", "zone": "voice", "rack": "12"}   # a YAML number read as its text


@pytest.mark.parametrize(("text", "line", "what", "fix"), [
    ("clusters:\n  nowhere: {labels: {site: dc1}}\n", 3, "clusters: 'nowhere' is no node's cluster", "(cc)"),
    ("clusters:\n  cc: {labels: {site: yes}}\n", 3, "label 'site' of cluster 'cc' must be one word", "quote it"),
    ("clusters:\n  cc: {tags: {site: dc1}}\n", 3, "unknown key 'tags' in cluster 'cc'", "labels"),
    ("clusters:\n  cc:\n    labels:\n      'site,x': dc1\n", 5, "label 'site,x' of cluster 'cc' has", "letters"),
    ("clusters:\n  cc:\n    labels:\n      site: 'dc 1'\n", 5, "label site='dc 1' of cluster 'cc'", "letters"),
    ("clusters:\n  cc: {labels: [site]}\n", 3, "'labels' must be a mapping", "site: dc1"),
])
def test_bad_labels_name_the_file_and_line(tmp_path: Path, text: str, line: int, what: str, fix: str) -> None:
    path = write(tmp_path, f"site: cc\n{text}nodes:\n  - {{name: a, host: a.example.com, role: uccx}}\n")
    with pytest.raises(UsageError) as caught:
        load_inventory(path)
    assert (caught.value.file, caught.value.line) == (path, line) and what in caught.value.what, str(caught.value)
    assert fix in (caught.value.fix or ""), str(caught.value)


def test_select_ands_keys_and_ors_a_repeated_key(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert select(path, "site=dc1") == ["e1", "e2", "e3"]
    assert select(path, "site=dc1,site=dc2", "zone=voice", split=True) == ["e1", "e2", "e3", "w1", "solo"]
    assert select(path, "site=dc2,rack=12") == ["solo"]
    one, two = Selection.parse(["zone=voice,site=dc2", "site=dc1"]), Selection.parse(["site=dc1,site=dc2,zone=voice"])
    assert one == two and one.text() == "site=dc1,site=dc2,zone=voice" and one.stem() == "site=dc1+dc2.zone=voice"


def test_selection_errors_list_what_the_nodes_have(tmp_path: Path) -> None:
    path = write(tmp_path)
    error = usage(path, "room=a1")
    assert error.file == path and "no node has a 'room' label" in error.what
    assert "rack (12, r7); site (dc1, dc2); zone (dmz, voice)" in (error.fix or "")
    error = usage(path, "site=dc9")
    assert "no node has the label site=dc9" in error.what
    assert error.fix == "use a value the nodes have: site=dc1 (3 nodes), site=dc2 (3 nodes)"
    error = usage(path, "site=dc1,zone=dmz")
    assert "matches no node: none has site=dc1 and zone=dmz" in error.what
    assert "site=dc1,zone=voice (3 nodes)" in (error.fix or "") and "site=dc2,zone=dmz (1 node)" in (error.fix or "")
    for bad in ("site", "site=", "=dc1", "site=dc 1", "site=dc1;zone=x"):
        with pytest.raises(UsageError, match="write --select KEY=VALUE"):
            Selection.parse([bad])
    unlabelled = write(tmp_path, "nodes:\n  - {name: a, host: a.example.com, role: uccx}\n", "plain.yaml")
    error = usage(unlabelled, "site=dc1")
    assert "the inventory's nodes have no labels" in error.what and "dualcert_labels" in (error.fix or "")


def test_a_split_cluster_is_an_error_unless_accepted(tmp_path: Path) -> None:
    path = write(tmp_path)
    error = usage(path, "zone=voice")   # w2 (zone dmz) would leave cluster west half checked
    assert error.what == ("--select zone=voice takes part of cluster 'west': w1 (zone=voice) but not w2 (zone=dmz); "
                          "a cluster's rules and its deployment-state diagnosis compare all its nodes")
    assert error.line == 11 and "--split-clusters" in (error.fix or "") and "'west@zone=voice'" in (error.fix or "")
    inventory, splits = Selection.parse(["zone=voice"], True).apply(load_inventory(path))
    assert {n.name: n.cluster for n in inventory.nodes} == {"e1": "east", "e2": "east", "e3": "east",
                                                            "w1": "west@zone=voice", "solo": "cc"}
    assert [s.to_json() for s in splits] == [{"cluster": "west", "part": "west@zone=voice", "nodes": ["w1"],
                                              "elsewhere": ["w2"]}]
    both = write(tmp_path, "nodes:\n" + "".join(
        f"  - {{name: {n}, host: {n}.example.com, role: uccx, cluster: {n[0]}, labels: {{site: dc{n[1]}}}}}\n"
        for n in ("a1", "a2", "b1", "b2")), "both.yaml")
    error = usage(both, "site=dc1")
    assert "takes part of cluster 'a': a1 (site=dc1) but not a2 (site=dc2)" in error.what
    assert error.what.endswith("compare all its nodes (it takes part of cluster(s) b too)") and error.line == 2


def test_shards_deal_the_selected_clusters_and_the_run_records_its_coverage(tmp_path: Path) -> None:
    inventory, policy = load_inventory(write(tmp_path)), load_policy(None)
    select = Selection.parse(["site=dc1,site=dc2"], True)
    whole = DualcertRun(inventory, policy, RunOptions(select=select))
    shards = [DualcertRun(inventory, policy, RunOptions(select=select, shard=(i, 2))) for i in (1, 2)]
    assert [s.covered() for s in shards] == [["e1", "e2", "e3", "solo"], ["w1", "w2"]]   # east, cc | west
    assert sorted(k.test_id for s in shards for k in s.keys()) == sorted(k.test_id for k in whole.keys())  # noqa: SIM118
    record = shards[1].coverage()
    assert record["selection"] == {"site": ["dc1", "dc2"]} and record["nodes"] == ["w1", "w2"]
    assert list(record["estate"]) == ["e1", "e2", "e3", "w1", "w2", "solo"]   # type: ignore[call-overload]
    assert shards[1].elsewhere("e1") and not shards[1].elsewhere("w1") and not shards[1].elsewhere("gone-node")
    assert report_stem("cc", (2, 2), select) == "cc.site=dc1+dc2.shard-2-of-2"


ANSIBLE_INI = """\
[all:vars]
dualcert_cluster=east

[dc1:children]
uccx

[dc1:vars]
dualcert_labels=site=dc1,zone=voice

[uccx]
e1 ansible_host=10.0.0.1
e2 ansible_host=10.0.0.2 dualcert_labels="zone=dmz, rack=r7"
e3 ansible_host=10.0.0.3 dualcert_labels='{"rack": "r8"}'
"""


def test_ansible_labels_merge_along_the_precedence(tmp_path: Path) -> None:
    labels = {n.name: n.labels for n in load_inventory(write(tmp_path, ANSIBLE_INI, "hosts.ini")).nodes}
    assert labels == {"e1": {"site": "dc1", "zone": "voice"}, "e2": {"site": "dc1", "zone": "dmz", "rack": "r7"},
                      "e3": {"site": "dc1", "zone": "voice", "rack": "r8"}}
    yaml_text = ("all:\n  children:\n    uccx:\n      vars:\n        dualcert_labels: {site: dc2}\n      hosts:\n"
                 "        w1: {dualcert_labels: {rack: r1}}\n        w2: {dualcert_labels: {site: 'yes'}}\n")
    labels = {n.name: n.labels for n in load_inventory(write(tmp_path, yaml_text, "hosts.yaml")).nodes}
    assert labels == {"w1": {"site": "dc2", "rack": "r1"}, "w2": {"site": "yes"}}


@pytest.mark.parametrize(("name", "text", "line", "what"), [
    ("hosts.ini", "[uccx]\ne0 ansible_host=10.0.0.9\ne1 ansible_host=10.0.0.1 dualcert_labels='site'\n", 3,
     "dualcert_labels: 'site' is not KEY=VALUE"),
    ("hosts.ini", "[uccx]\ne0\n[uccx:vars]\ndualcert_labels=site=dc1,zone=dm z\n", 4, "'zone=dm z' is not KEY=VALUE"),
    ("hosts.yaml", "all:\n  children:\n    uccx:\n      hosts: {e0: }\n      vars:\n        dualcert_labels:\n"
     "          site: dc1\n          zone: 'dm z'\n", 6, "label zone='dm z' of node 'e0' has unusable characters"),
])
def test_bad_ansible_labels_name_the_line(tmp_path: Path, name: str, text: str, line: int, what: str) -> None:
    path = write(tmp_path, text, name)
    with pytest.raises(UsageError) as caught:
        load_inventory(path)
    assert (caught.value.file, caught.value.line) == (path, line) and what in caught.value.what, str(caught.value)


def test_dualcert_run_says_a_bad_selection_before_probing(tmp_path: Path) -> None:
    path = write(tmp_path)
    result = run_cli("run", "--inventory", str(path), "--select", "zone=voice", cwd=tmp_path)
    assert result.returncode == 4 and f"dualcert: {path}:11: --select zone=voice takes part of cluster 'west'" in \
        result.stderr and "fix: " in result.stderr, result.stderr
    assert not (tmp_path / "reports").exists()
    # plain pytest over the suites says the same, as pytest's usage error
    result = run_cli("run", "--inventory", str(path), "--", "--select", "site=dc9", cwd=tmp_path)
    assert result.returncode == 4 and "no node has the label site=dc9" in result.stderr + result.stdout


def test_the_docs_labels_example_reads_as_documented(tmp_path: Path) -> None:
    page = (REPO / "docs" / "inventory.md").read_text()
    section = page.split("## Labels and `--select`", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = write(tmp_path, example)
    assert select(path, "site=dc1") == ["uccx-e1", "uccx-e2"]
    assert select(path, "site=dc2,zone=voice") == ["uccx-w1"]
    assert select(path, "site=dc1,site=dc2") == ["uccx-e1", "uccx-e2", "uccx-w1", "cucm-w1"]
    ini = section.split("```ini\n", 1)[1].split("```", 1)[0]
    labels = {n.name: n.labels for n in load_inventory(write(tmp_path, ini, "hosts.ini")).nodes}
    assert labels == {"uccx-e1": {"site": "dc1", "zone": "voice"}, "uccx-e2": {"site": "dc1", "zone": "voice"},
                      "cucm-e1": {"site": "dc1", "zone": "dmz"}}


def test_an_empty_shard_of_a_selection_says_so_and_is_named_after_both(tmp_path: Path) -> None:
    """dc1 is one cluster: its second shard has nothing to probe (exit 5), its report says which part it was."""
    result = run_cli("run", "--inventory", str(write(tmp_path)), "--select", "site=dc1", "--", "--shard", "2/2",
                     cwd=tmp_path)
    assert result.returncode == 5, result.stdout[-2000:] + result.stderr
    assert "shard 2/2 of the nodes of --select site=dc1 has no endpoint to probe (more shards than clusters)" in \
        result.stdout
    run = json.loads((tmp_path / "reports" / "cc.site=dc1.shard-2-of-2.json").read_text())["run"]
    assert run["shard"] == [2, 2] and run["coverage"]["selection"] == {"site": ["dc1"]}
    assert run["coverage"]["nodes"] == [] and len(run["coverage"]["estate"]) == 6
