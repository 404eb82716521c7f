"""What a run's terminal says it did, counted from what it did: pytest reports as deselected only
what the user's -k, -m or --deselect left out (never dualcert's own placeholders), and the probe
phase's progress and summary lines count as probed only the probes sent, not those left unsent
because their endpoint's first probe found it dead. Real runs against the embedded lab plus
misbehaving peers on 127.0.0.1."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from dualcert.compare.results_file import load_document
from dualcert.lab import Lab

from .conftest import REPO, run_cli
from .peers import closed_port, http_plaintext, tcp_peer

PROBES_PER_ENDPOINT = 6   # 3 offers x 2 TLS versions
DEAD = 2                  # endpoints: a closed port, a peer answering in plain HTTP


@dataclass
class Site:
    directory: Path
    inventory: Path
    policy: Path
    total: int            # probes: the lab's and the dead endpoints'


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The lab's inventory plus one node whose two services are dead in the two ways the engine stops at
    the first probe (connection refused, not TLS)."""
    directory = tmp_path_factory.mktemp("counts")
    with tcp_peer(http_plaintext) as plain:
        data = yaml.safe_load(lab.inventory_path.read_text())
        data["nodes"].append({"name": "deadbox", "host": "deadbox.example.test", "address": "127.0.0.1",
                              "services": [{"name": "closed", "port": closed_port()},
                                           {"name": "plain", "port": plain}]})
        inventory = directory / "site.yaml"
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        yield Site(directory, inventory, lab.policy_path, (len(lab.endpoints) + DEAD) * PROBES_PER_ENDPOINT)


def run(site: Site, *pytest_args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("run", "--inventory", str(site.inventory), "--policy", str(site.policy), "--", *pytest_args,
                   cwd=site.directory)


def test_progress_counts_only_the_probes_sent(site: Site) -> None:
    result = run(site, "--dualcert-progress", "on")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    probes = load_document(site.directory / "reports" / "lab.json")["probes"]
    assert len(probes) == site.total
    sent = [p for p in probes if p["probed"]]
    unsent = len(probes) - len(sent)
    problems = sum(p["outcome"] not in ("ok", "refused", "unsupported") for p in sent)
    # Each dead endpoint: its first probe sent (a problem), its other five recorded unsent.
    assert (unsent, problems) == (DEAD * (PROBES_PER_ENDPOINT - 1), DEAD)
    # Each redraw starts with a carriage return (which text mode reads as a line break).
    progress = [line for line in result.stderr.splitlines() if line.startswith("dualcert: probed ")]
    assert progress, result.stderr[:2000]
    counted = [int(line.split()[2].split("/")[0]) for line in progress]   # "dualcert: probed N/TOTAL · ..."
    assert counted == sorted(counted) and counted[-1] == len(sent)
    assert progress[-1].startswith(f"dualcert: probed {len(sent)}/{site.total} · {problems} unreachable/errors · "
                                   f"{unsent} not attempted · ")
    assert f"dualcert: {len(sent)}/{site.total} probes in " in result.stdout
    assert f"s, {problems} unreachable or in error, {unsent} not attempted (their endpoint failed its first probe)\n" \
        in result.stdout


def _tests(site: Site) -> int:
    """The tests the last run ran, from its results JSON."""
    return len(load_document(site.directory / "reports" / "lab.json")["tests"])


def test_a_run_reports_no_deselection_of_its_own(site: Site) -> None:
    """Plain `dualcert run`, in every --dualcert-items mode: the other modes' placeholders (and the client
    and change tests, without --clients or --baseline) are not tests, so nothing is "deselected"."""
    for mode in ("rule", "probe", "endpoint"):
        result = run(site, "--dualcert-items", mode)
        assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
        closing = next(line for line in result.stdout.splitlines() if re.search(r"\d+ passed", line))
        assert "deselected" not in result.stdout, closing
        if mode == "rule":   # one results record per test
            ran = sum(int(n) for n in re.findall(r"(\d+) (?:passed|failed|skipped|error)", closing))
            assert ran == _tests(site), closing


def test_the_users_deselection_is_reported_and_counted(site: Site) -> None:
    everything = run(site)
    total = _tests(site)
    chosen = run(site, "-k", "expiry")
    assert chosen.returncode == 0, chosen.stdout[-3000:]
    assert f" {total - _tests(site)} deselected in " in chosen.stdout
    # -k matching nothing: exit 5, the reason counting the real tests only.
    none = run(site, "-k", "no_such_test")
    assert none.returncode == 5 and everything.returncode == 1
    assert f"nothing was checked (exit code 5): -k 'no_such_test' left none of the {total} dualcert tests" \
        in none.stdout
    assert f"{total} deselected in " in none.stdout


def test_plain_pytest_collects_only_the_tests_it_lists(site: Site) -> None:
    """`pytest --collect-only -q`: "N tests collected" counts exactly the test ids listed, no placeholder."""
    result = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "suites"), "--inventory", str(site.inventory),
                             "--policy", str(site.policy), "--collect-only", "-q", "-p", "no:cacheprovider",
                             "--results-json", str(site.directory / "collect.json")],
                            cwd=site.directory, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    listed = [line for line in result.stdout.splitlines() if "::" in line]
    assert f"\n{len(listed)} tests collected in " in result.stdout
    assert not any("other-mode" in line or "NOTSET" in line for line in listed)
