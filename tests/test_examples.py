"""The CI examples in examples/: the YAML parses, they are scheduled, keep HTML/JSON/JUnit as
artifacts, and every `dualcert ...` command they run is one the CLI accepts (read from the
parser itself, so that options added later are checked as soon as they exist)."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from dualcert.cli import build_parser

from .conftest import REPO

EXAMPLES = REPO / "examples"
GITHUB, GITLAB, CRON = EXAMPLES / "github-actions-nightly.yml", EXAMPLES / "gitlab-ci-nightly.yml", \
    EXAMPLES / "crontab.txt"
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}
LEADING = {"{", "}", "then", "else", "do", "!"}


def github_scripts() -> list[str]:
    data = yaml.safe_load(GITHUB.read_text())
    return [step["run"] for job in data["jobs"].values() for step in job["steps"] if "run" in step]


def gitlab_scripts() -> list[str]:
    data = yaml.safe_load(GITLAB.read_text())
    jobs = [v for v in data.values() if isinstance(v, dict) and "script" in v]
    return [line for job in jobs for key in ("before_script", "script", "after_script") for line in job.get(key, [])]


def cron_scripts() -> list[str]:
    lines = [line for line in CRON.read_text().splitlines() if line.strip() and not line.startswith("#")]
    entries = [line for line in lines if not line.split("=")[0].isidentifier()]  # not MAILTO=...
    return [" ".join(entry.split(maxsplit=5)[5:]) for entry in entries]


def dualcert_commands(script: str) -> list[list[str]]:
    """Each `dualcert ...` invocation in a shell script, as its argument list."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        segment: list[str] = []
        tokens = list(lexer)
        skip_next = False
        for token in [*tokens, ";"]:
            if skip_next:
                skip_next = False
            elif token in SEPARATORS:
                while segment and segment[0] in LEADING:
                    segment.pop(0)
                if segment and Path(segment[0]).name == "dualcert":
                    commands.append(segment[1:])
                segment = []
            elif token[0] in "<>":  # a redirection: drop its target and an fd number before it
                skip_next = True
                if segment and segment[-1].isdigit():
                    segment.pop()
            else:
                segment.append(token)
    return commands


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def pending_features(parser: argparse.ArgumentParser) -> set[str]:
    """The baseline feature (`run --baseline`, `diff`) comes from another branch; until it is
    merged its uses are set aside here (and reported by test_examples_compare_with_a_baseline)."""
    commands = _subcommands(parser)
    pending = set()
    if "diff" not in commands:
        pending.add("diff")
    if "--baseline" not in commands["run"]._option_string_actions:
        pending.add("--baseline")
    return pending


@cache
def pytest_help() -> str:
    return subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True,
                          timeout=120).stdout


def check_command(argv: list[str]) -> None:
    parser = build_parser()
    pending = pending_features(parser)
    ours, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    if ours and ours[0] in pending:
        return
    if "--baseline" in pending and "--baseline" in ours:
        at = ours.index("--baseline")
        ours = ours[:at] + ours[at + 2:]
    try:
        parser.parse_args(ours)
    except SystemExit:
        pytest.fail(f"`dualcert {shlex.join(argv)}` is not accepted by the CLI")
    for option in (word.split("=")[0] for word in extra if word.startswith("-")):
        assert option in pytest_help(), f"pytest has no option {option} (in `dualcert {shlex.join(argv)}`)"


@pytest.mark.parametrize("scripts", [github_scripts, gitlab_scripts, cron_scripts], ids=["github", "gitlab", "cron"])
def test_every_dualcert_command_exists_in_the_cli(scripts: Any) -> None:
    commands = [c for script in scripts() for c in dualcert_commands(script)]
    assert any(c[:1] == ["run"] for c in commands), commands
    for argv in commands:
        check_command(argv)


def test_the_command_extractor_catches_bad_commands() -> None:
    """The check above must be able to fail: a misspelt option and an unknown subcommand are caught."""
    (bad_option,) = dualcert_commands("cd x && .venv/bin/dualcert run --inventry s.yaml > log 2>&1 || true")
    assert bad_option == ["run", "--inventry", "s.yaml"]
    for argv in (bad_option, ["frobnicate"]):
        with pytest.raises(pytest.fail.Exception):
            check_command(argv)
    with pytest.raises(AssertionError, match="pytest has no option --no-such-pytest-option"):
        check_command(["run", "--inventory", "s.yaml", "--", "--no-such-pytest-option"])
    assert dualcert_commands("if [ -f a ]; then\n  dualcert diff a b --format markdown >> out\nfi") == \
        [["diff", "a", "b", "--format", "markdown"]]


def test_github_workflow_is_scheduled_and_keeps_reports() -> None:
    data = yaml.safe_load(GITHUB.read_text())
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # nightly
    steps = data["jobs"]["compliance"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert all(suffix in upload["with"]["path"] for suffix in (".html", ".json", "junit.xml"))
    assert any("inventory ci/site.yaml" in s.get("run", "") for s in steps)  # the inventory kept in the repo


def test_gitlab_job_is_scheduled_and_keeps_reports() -> None:
    job = yaml.safe_load(GITLAB.read_text())["dualcert-nightly"]
    assert {"if": '$CI_PIPELINE_SOURCE == "schedule"'} in job["rules"]
    assert job["artifacts"]["when"] == "always" and "reports/" in job["artifacts"]["paths"]
    assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml"


def test_cron_line_is_a_valid_schedule() -> None:
    (entry,) = [line for line in CRON.read_text().splitlines() if line and line[0].isdigit()]
    fields = entry.split()
    assert len(fields) > 5 and all(f == "*" or f.isdigit() for f in fields[:5])
    assert "%" not in entry  # cron turns % into a newline


def test_examples_compare_with_a_baseline() -> None:
    """Each example feeds the previous results to --baseline (the baseline feature)."""
    for scripts in (github_scripts, gitlab_scripts, cron_scripts):
        commands = [c for script in scripts() for c in dualcert_commands(script)]
        assert any(c[0] == "run" and "--baseline" in c for c in commands), scripts.__name__
        assert any(c[0] == "diff" for c in commands), scripts.__name__


def test_tox_has_the_documented_environments() -> None:
    import configparser

    tox = configparser.ConfigParser()
    tox.read(REPO / "tox.ini")
    assert {"py311", "py312", "py313", "lint"} <= {e.strip() for e in tox["tox"]["envlist"].split(",")}
    assert "ruff check ." in tox["testenv:lint"]["commands"] and "mypy src" in tox["testenv:lint"]["commands"]
    assert tox["testenv:lab"]["commands"].strip() == "dualcert lab {posargs}"
    compliance = shlex.split(tox["testenv:compliance"]["commands"].replace("{posargs}", ""))
    assert compliance == ["dualcert", "run"]
    check_command(["run", "--inventory", "site.yaml", "--policy", "policy.yaml"])  # the documented posargs
