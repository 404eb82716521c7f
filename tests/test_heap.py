"""What a large run keeps in memory and hands the garbage collector: finished probes freed by
reference counting (no cycles), the run's long-lived heap frozen and given back, the step threads."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualcert.estate.inventory import load_inventory
from dualcert.lab import Lab
from dualcert.lab.estate import default_nodes
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Outcome
from dualcert.probe.workers import Workers
from dualcert.pytest.heap import LongLived

from .conftest import REPO


@pytest.fixture(scope="module")
def s3_lab() -> Iterator[Lab]:
    with Lab(default_nodes(("S3",), collab=False)) as lab:
        yield lab


def test_finished_probes_leave_no_cycles_for_the_collector(s3_lab: Lab) -> None:
    """Each probe's steps, generator and observation go when it lands: with the collector off, what a
    collection afterwards finds unreachable is a handful, not ~30 objects per probe (the closures that
    called each other kept every finished probe alive until a full collection)."""
    endpoints = load_inventory(s3_lab.inventory_path).endpoints()
    tasks = [ProbeTask(e, o, v) for e in endpoints for o in Offer for v in TLSVersion]
    runner = ProbeRunner(threads=4)
    runner.run(tasks[:6])   # contexts and threads of a first run are not what is measured
    gc.collect()
    gc.disable()
    try:
        results = runner.run(tasks)
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert len(results) == len(tasks) >= 60
    assert any(o.outcome is Outcome.OK for o in results.values())
    assert unreachable < len(tasks), f"{unreachable} objects in cycles after {len(tasks)} probes"


def test_the_long_lived_heap_is_frozen_every_so_often_and_given_back() -> None:
    kept = LongLived(every=3)
    before = gc.get_freeze_count()
    kept.kept(2)
    assert gc.get_freeze_count() == before and not kept.frozen
    objects = [[i] for i in range(1000)]     # tracked containers, alive: frozen at the next freeze
    kept.kept()
    assert kept.frozen and gc.get_freeze_count() >= before + len(objects)
    kept.release()
    assert gc.get_freeze_count() == 0 and not kept.frozen


def test_a_run_gives_the_collector_back_its_heap(tmp_path: Path) -> None:
    """In a pytest process hosting the plugin, nothing stays frozen after the session."""
    code = ("import gc, sys, pytest\n"
            "from dualcert.lab import Lab\nfrom dualcert.lab.estate import default_nodes\n"
            "with Lab(default_nodes(('S3',), collab=False)) as lab:\n"
            "    rc = pytest.main([str(sys.argv[1]), '-q', '-p', 'no:cacheprovider', '--inventory', "
            "str(lab.inventory_path), '--results-json', sys.argv[2], '--dualcert-items', 'endpoint'])\n"
            "print('rc', int(rc), 'frozen', gc.get_freeze_count())\n")
    script = tmp_path / "host.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script), str(REPO / "suites"), str(tmp_path / "r.json")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "rc 0 frozen 0" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


def test_step_threads_run_every_call_start_only_as_needed_and_stop() -> None:
    workers = Workers(3, "test-steps")
    seen: list[str] = []
    lock = threading.Lock()

    def call(value: int) -> None:
        time.sleep(0.001)
        with lock:
            seen.append(threading.current_thread().name)

    for i in range(200):
        workers.submit(call, i)
    deadline = time.monotonic() + 10
    while len(seen) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(seen) == 200 and 1 <= len(set(seen)) <= 3
    idle = Workers(64, "test-idle")
    idle.submit(lambda _: None, None)
    time.sleep(0.05)
    idle.submit(lambda _: None, None)     # the first thread is idle again: no second one
    time.sleep(0.05)
    assert len(idle._threads) == 1
    workers.shutdown(wait=True)
    idle.shutdown(wait=True)
    assert not any(t.is_alive() for t in [*workers._threads, *idle._threads])
    with pytest.raises(RuntimeError):
        workers.submit(call, 0)
