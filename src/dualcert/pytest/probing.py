"""The probe phase: after collection, probe once what the selected tests need, with progress and journal.

Under pytest-xdist the controller probes and hands every observation to the workers in a file,
so no endpoint is probed twice however many workers run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.pytest import heap
from dualcert.pytest.items import case_keys, estate_nodes
from dualcert.pytest.state import RUN_KEY, WRITER_KEY, run_of
from dualcert.run import DualcertRun

PROGRESS_INTERVAL_S = 0.1  # redraw at most ten times a second: a 12,000-probe run writes ~100 lines
OBSERVATIONS_INPUT = "dualcert_observations"  # the workerinput entry naming the controller's file


def probe_selected(session: pytest.Session) -> None:
    """Probe what the selected tests need (plain-text twins too); a worker reads the controller's probes."""
    run = run_of(session.config)
    if run is None:
        return
    keys = [k for item in session.items for k in case_keys(item)]
    needed, plaintext = estate_nodes(run, session.items)
    # Change tests of endpoints only the baseline has (gone) have nothing to probe.
    keys = [k for k in dict.fromkeys([*keys, *run.node_keys(needed)]) if (k.node, k.service) in run.endpoints]
    if plaintext:
        run.probe_plaintext(plaintext)
    if not keys:
        return
    shared = getattr(session.config, "workerinput", {}).get(OBSERVATIONS_INPUT)
    if shared:
        with open(shared, encoding="utf-8") as handle:
            for line in handle:
                observation = Observation.from_json(json.loads(line))
                run.observations.setdefault(observation.key, observation)
        return
    probe_phase(session.config, run, keys)
    ahead = run.validate_ahead(keys)   # large runs: path validation in a second process, ahead of the tests
    if ahead is not None:
        session.config.add_cleanup(ahead.close)


def _progress_enabled(config: pytest.Config) -> bool:
    mode = config.getoption("dualcert_progress")
    if mode != "auto":
        return bool(mode == "on")
    return sys.stderr.isatty() and not os.environ.get("CI")


class Tally:
    """The probe phase's counts. A probe recorded `probed=False` was never sent (its endpoint's first
    probe found the endpoint dead, engine.py): it is neither probed nor an error of its own, so the
    line says it apart, and probed + not attempted adds up to the total at the end."""

    def __init__(self, total: int) -> None:
        self.total, self.probed, self.problems, self.not_attempted = total, 0, 0, 0

    def add(self, observation: Observation) -> None:
        if not observation.probed:
            self.not_attempted += 1
            return
        self.probed += 1
        if observation.outcome not in (Outcome.OK, Outcome.REFUSED, Outcome.UNSUPPORTED):
            self.problems += 1

    def progress(self, elapsed: float) -> str:
        """The redrawn line: short, since a line wider than the terminal wraps and breaks the redraw."""
        parts = [f"probed {self.probed}/{self.total}", f"{self.problems} unreachable/errors",
                 *[f"{self.not_attempted} not attempted"] * bool(self.not_attempted),
                 f"{self.probed / max(elapsed, 1e-6):.0f}/s"]
        return "dualcert: " + " · ".join(parts)

    def summary(self, elapsed: float) -> str:
        unsent = f", {self.not_attempted} not attempted (their endpoint failed its first probe)"
        return (f"dualcert: {self.probed}/{self.total} probes in {elapsed:.2f}s, {self.problems} unreachable or "
                f"in error{unsent * bool(self.not_attempted)}")


def probe_phase(config: pytest.Config, run: DualcertRun, keys: Sequence[ProbeKey]) -> None:
    """Probe `keys` once, journal each observation as it lands, show progress when asked."""
    writer = config.stash.get(WRITER_KEY, None)
    show = _progress_enabled(config)
    started, tally = time.monotonic(), Tally(len(keys))
    for key in dict.fromkeys(keys):   # observed before this phase: run.probe() will not send them again
        if key in run.observations:
            tally.add(run.observations[key])
    drawn, width = [0.0], [0]

    def draw(final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - drawn[0] < PROGRESS_INTERVAL_S:
            return
        drawn[0] = now
        line = tally.progress(now - started)
        width[0] = max(width[0], len(line))   # padded: a shorter redraw must not leave the old line's tail
        sys.stderr.write(f"\r{line.ljust(width[0])}")
        sys.stderr.flush()

    long_lived = heap.of(config)

    def landed(observation: Observation) -> None:
        if writer is not None:
            writer.add_probe(observation)
        if long_lived is not None:
            long_lived.kept()
        tally.add(observation)
        if show:
            draw()

    try:
        run.probe(keys, on_result=landed)
    finally:
        if show:
            draw(final=True)
            sys.stderr.write("\n")
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(tally.summary(time.monotonic() - started))
    run.measured = True


class XdistController:
    """Under `pytest -n`: the controller probes the estate (its shard) once, before the workers
    start, and names the file of observations in each worker's workerinput."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.path: Path | None = None

    def _share(self) -> Path:
        if self.path is None:
            run: DualcertRun = self.config.stash[RUN_KEY]
            probe_phase(self.config, run, run.keys())
            fd, name = tempfile.mkstemp(prefix="dualcert-observations-", suffix=".jsonl")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for observation in run.observations.values():
                    handle.write(json.dumps(observation.to_json()) + "\n")
            self.path = Path(name)
        return self.path

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[OBSERVATIONS_INPUT] = str(self._share())

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
