"""The per-site CI examples (examples/*-sites.yml): a job per site on that site's runner (GitHub self-hosted runner
label, GitLab runner tag), each `dualcert run --select` the CLI accepts, every shard of a site there once, and the
fan-in's `dualcert merge` glob matching the report each job writes (named as `dualcert run` names it)."""

from __future__ import annotations

import itertools
import shlex
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

from dualcert.cli import build_parser
from dualcert.estate.selection import Selection, report_stem

from .conftest import REPO
from .test_examples import check_command, dualcert_commands

GITHUB, GITLAB = REPO / "examples" / "github-actions-sites.yml", REPO / "examples" / "gitlab-ci-sites.yml"


def commands(scripts: list[str], values: dict[str, str]) -> list[list[str]]:
    """The `dualcert ...` commands of `scripts` with the CI's variables (`${{ matrix.dc }}`, `$DC`) filled in."""
    found = []
    for script in scripts:
        for name, value in sorted(values.items(), key=lambda item: -len(item[0])):
            script = script.replace(name, value)
        found += dualcert_commands(script)
    return found


def report(argv: list[str], site: str) -> tuple[str, str, tuple[int, int]]:
    """(the report JSON a `dualcert run` command writes, its selection, its shard), as the CLI names it."""
    ours, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    ns = build_parser().parse_args(ours)
    index, count = (int(v) for v in extra[extra.index("--shard") + 1].split("/"))
    selection = Selection.parse(ns.select)
    return f"{ns.report_dir}/{report_stem(site, (index, count), selection)}.json", selection.text(), (index, count)


def check_fan_in(runs: list[list[str]], merge: list[str], site: str, sites: set[str]) -> None:
    files = [report(argv, site) for argv in runs]
    assert {selection for _, selection, _ in files} == {f"site={s}" for s in sites}
    for selection in sites:   # every shard of a site's split, once
        shards = sorted(shard for _, chosen, shard in files if chosen == f"site={selection}")
        assert shards == [(i, shards[0][1]) for i in range(1, shards[0][1] + 1)], (selection, shards)
    check_command(merge)
    pattern = Path(merge[1]).name
    assert all(fnmatch(Path(path).name, pattern) for path, _, _ in files), (pattern, files)
    assert not fnmatch(f"{site}.json", pattern)   # not the merged output, nor a whole run's
    assert "--allow-partial" not in merge         # a site whose runner is offline fails the fan-in, by name


def test_github_example_runs_each_site_on_its_runner_and_merges_them() -> None:
    data = yaml.safe_load(GITHUB.read_text())
    site_job, merge_job, site = data["jobs"]["site"], data["jobs"]["merge"], data["env"]["SITE"]
    assert site_job["runs-on"] == ["self-hosted", "dualcert-${{ matrix.dc }}"]
    assert site_job["strategy"]["fail-fast"] is False and merge_job["needs"] == "site" and merge_job["if"] == "always()"
    scripts = [s["run"] for s in site_job["steps"] if "run" in s]
    runs = []
    for index, entry in enumerate(site_job["strategy"]["matrix"]["include"]):
        values = {"${{ matrix.dc }}": entry["dc"], "${{ matrix.shard }}": entry["shard"],
                  "${{ strategy.job-index }}": str(index)}
        runs += [c for c in commands(scripts, values) if c[0] == "run"]
    assert len(runs) == 4 and all("--select" in argv for argv in runs)
    for argv in runs:
        check_command(argv)
    (merge,) = commands([s["run"] for s in merge_job["steps"] if "run" in s], {"$SITE": site})
    upload = next(s for s in site_job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s for s in merge_job["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert fnmatch(upload["with"]["name"].replace("${{ strategy.job-index }}", "0"), download["with"]["pattern"])
    assert merge[1].startswith(download["with"]["path"] + "/")
    check_fan_in(runs, merge, site, {"dc1", "dc2", "dc3"})


def matrix(job: dict[str, Any]) -> list[dict[str, str]]:
    """GitLab's parallel:matrix expanded: each entry's lists multiplied out."""
    jobs = []
    for entry in job["parallel"]["matrix"]:
        names = list(entry)
        values = [v if isinstance(v, list) else [v] for v in entry.values()]
        jobs += [dict(zip(names, combination, strict=True)) for combination in itertools.product(*values)]
    return jobs


def test_gitlab_example_runs_each_site_on_its_tagged_runner_and_merges_them() -> None:
    data = yaml.safe_load(GITLAB.read_text())
    site_job, merge_job, site = data["dualcert-site"], data["dualcert-merge"], data["variables"]["SITE"]
    assert site_job["tags"] == ["dualcert-$DC"] and site_job["artifacts"]["when"] == "always"
    assert merge_job["needs"] == [{"job": "dualcert-site", "artifacts": True}]
    assert all(rule["when"] == "always" for rule in merge_job["rules"])
    runs = []
    for variables in matrix(site_job):
        values = {f"${name}": value for name, value in variables.items()} | {"$CI_JOB_ID": "1"}
        runs += [c for c in commands(site_job["script"], values) if c[0] == "run"]
    assert len(runs) == 4
    for argv in runs:
        check_command(argv)
    (merge,) = commands(merge_job["script"], {"$SITE": site})
    assert all(shlex.join(argv).count("--report-dir reports") == 1 for argv in runs)   # where the merge reads
    assert merge[1].startswith("reports/")
    check_fan_in(runs, merge, site, {"dc1", "dc2", "dc3"})
