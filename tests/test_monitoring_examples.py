"""The monitoring examples: the Prometheus alerting rules name only metrics dualcert writes, and the
systemd service and timer are valid units (systemd-analyze verify) running a command the CLI accepts."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from dualcert.render.metrics import FAMILIES

from .conftest import REPO
from .test_examples import EXAMPLES, check_command

ALERTS, SERVICE, TIMER = EXAMPLES / "prometheus-alerts.yml", EXAMPLES / "dualcert.service", EXAMPLES / "dualcert.timer"


def test_alert_rules_use_only_metrics_dualcert_writes() -> None:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    assert {"DualcertCertificateExpiring", "DualcertRunFailing", "DualcertRunStale"} <= names
    for rule in rules:
        used = set(re.findall(r"\bdualcert_[a-z_]+\b", rule["expr"]))
        assert used and used <= set(FAMILIES), (rule["alert"], used - set(FAMILIES))
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
        for label in re.findall(r"\$labels\.(\w+)", str(rule["annotations"])):
            assert label in rule["expr"] or label == "site", (rule["alert"], label)  # kept by the aggregation


def test_the_alerts_expiry_thresholds_match_the_default_policy() -> None:
    from dualcert.policy.load import load_policy

    warn_days, fail_days = load_policy(None).expiry_days("any", "any")
    exprs = {r["alert"]: r["expr"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}
    assert exprs["DualcertCertificateExpiring"].endswith(f"< {warn_days}")
    assert exprs["DualcertCertificateExpiringSoon"].endswith(f"< {fail_days}")


def test_systemd_units_are_valid_and_run_an_accepted_command(tmp_path: Path) -> None:
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.read_string(SERVICE.read_text())
    argv = shlex.split(service["Service"]["ExecStart"])
    assert Path(argv[0]).name == "dualcert" and "--metrics" in argv
    check_command(argv[1:])
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read_string(TIMER.read_text())
    assert timer["Timer"]["Persistent"] == "true" and timer["Install"]["WantedBy"] == "timers.target"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the units' syntax is still checked above
        return
    # systemd checks that ExecStart exists: point it at this installation's dualcert.
    dualcert = Path(sys.executable).with_name("dualcert")
    (tmp_path / "dualcert.service").write_text(SERVICE.read_text().replace("/srv/dualcert/.venv/bin/dualcert",
                                                                           str(dualcert)))
    (tmp_path / "dualcert.timer").write_text(TIMER.read_text())
    result = subprocess.run([analyze, "verify", str(tmp_path / "dualcert.service"), str(tmp_path / "dualcert.timer")],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0 and "dualcert" not in result.stderr, result.stderr


GITHUB_SHARDED, GITLAB_SHARDED = EXAMPLES / "github-actions-sharded.yml", EXAMPLES / "gitlab-ci-sharded.yml"


def _commands(scripts: list[str]) -> list[list[str]]:
    from .test_examples import dualcert_commands

    return [c for script in scripts for c in dualcert_commands(script)]


def test_github_sharded_example_fans_in_every_shard() -> None:
    data = yaml.safe_load(GITHUB_SHARDED.read_text())
    shard, merge = data["jobs"]["shard"], data["jobs"]["merge"]
    assert shard["strategy"]["matrix"]["shard"] == list(range(1, int(data["env"]["SHARDS"]) + 1))
    assert shard["strategy"]["fail-fast"] is False
    assert merge["needs"] == "shard" and merge["if"] == "always()"
    runs = [c for job in (shard, merge) for c in _commands([s["run"] for s in job["steps"] if "run" in s])]
    assert any(c[0] == "run" and "--shard" in c for c in runs) and any(c[0] == "merge" for c in runs)
    for argv in runs:
        check_command(argv)


def test_gitlab_sharded_example_fans_in_every_shard() -> None:
    data = yaml.safe_load(GITLAB_SHARDED.read_text())
    shard, merge = data["dualcert-shard"], data["dualcert-merge"]
    assert shard["parallel"] == 4 and shard["artifacts"]["when"] == "always"
    assert merge["needs"] == [{"job": "dualcert-shard", "artifacts": True}]
    assert all(rule["when"] == "always" for rule in merge["rules"])
    commands = _commands(shard["script"] + merge["script"])
    merge_cmd = next(c for c in commands if c[0] == "merge")
    assert merge_cmd[1].endswith(f"-of-{shard['parallel']}.json")
    for argv in commands:
        check_command(argv)
