"""Answers computed ahead in a second process: path validation of a large run's chains while this
process runs the tests that ask for them.

The tests run on one core; path validation is most of their work at scale (a 10,000-endpoint run has
20,000 chains, and verifying a P-384 signature alone takes ~0.5 ms) and cryptography holds the GIL
while it verifies, so a thread would not help. A child process (multiprocessing, `spawn`: nothing of
this process's threads or heap is carried over) answers the questions in the order the tests will ask
them, with the same code (TrustStore.validate_ahead gives it its job), and sends each answer back as
it has it; the asker takes an answer that has arrived and computes it itself when the child is behind
or gone, so the verdicts are the same either way (tests/test_path_validation.py, tests/test_scale.py).

`dualcert run` on a large enough inventory starts the child before pytest does (start_early), while one core
runs pytest's single-threaded start and the other is idle; it waits for its job until the probes are in.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

# Fewer distinct chains than this are validated in place. Measured on 2 cores against nginx: 2,000 chains
# (1,000 endpoints) 10.9 s -> 9.9 s with the child, 20,000 chains: the tests 42.5 s -> 30.0 s; 400 chains
# (200 endpoints) 2.5 s either way: the child's start (an interpreter, multiprocessing's resource
# tracker, the imports) is about what it saves there.
MIN_CHAINS = 1000
# A child started early (start_early) has its start paid while pytest starts: from this many endpoints in the
# inventory it is started, from this many chains given its job. Measured on 2 cores at 200 endpoints (400
# chains) against nginx, five alternating runs each: the tests 0.66-0.75 s -> 0.44-0.55 s, the whole run
# 2.32-2.46 s -> 1.99-2.15 s (docs/scale.md).
EARLY_ENDPOINTS = 50
EARLY_MIN_CHAINS = 50
BATCH = 200     # answers per message from the child, at most
FLUSH_S = 0.01  # and what it has is sent at least this often: the tests ask for the first chains at once


def worth_it(chains: int, at_least: int) -> bool:
    """A second process pays with enough chains, and a second core to run it on."""
    return chains >= at_least and (os.cpu_count() or 1) > 1


class Ahead:
    """A second process running `serve(jobs, answers)`: it receives the job `give()` sends on `jobs` and sends
    lists of (index into the job's keys, answer) on `answers`. `take(key)` hands an arrived answer over (once).
    Started before its job is known (`start_early`), it is ready by the time the job is."""

    def __init__(self, serve: Callable[[Connection, Connection], None]) -> None:
        self._keys: list[Hashable] = []
        self._ready: dict[Hashable, Any] = {}
        self.taken = 0
        context = multiprocessing.get_context("spawn")
        jobs, self._jobs = context.Pipe(duplex=False)
        self._answers, answers = context.Pipe(duplex=False)
        self._process = context.Process(target=serve, args=(jobs, answers), name="dualcert-prevalidation",
                                        daemon=True)
        # Started with SIGINT and SIGTERM blocked (a mask the child inherits; this process gets them when
        # unblocked, nothing is lost), as multiprocessing starts its own resource tracker: a Ctrl-C to the
        # process group while the child's interpreter starts would print its tracebacks. The run ends it.
        # The tracker first: starting it unblocks both signals in this thread.
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        jobs.close()
        answers.close()
        self._reader: threading.Thread | None = None
        self._sender: threading.Thread | None = None

    def give(self, job: Any, keys: Sequence[Hashable]) -> None:
        """The child's one job; its answers name `keys` by index."""
        self._keys = list(keys)
        self._reader = threading.Thread(target=self._read, name="dualcert-prevalidation", daemon=True)
        self._reader.start()
        # The job (every chain's DER: ~50 MB at 10,000 endpoints) goes from its own thread: the pipe takes
        # it only as fast as the child reads.
        self._sender = threading.Thread(target=self._send, args=(job,), name="dualcert-prevalidation-send",
                                        daemon=True)
        self._sender.start()

    def _send(self, job: Any) -> None:
        # OSError: the child is gone (the asker computes in place); ValueError: closed by close() meanwhile.
        with contextlib.suppress(OSError, ValueError):
            self._jobs.send(job)

    def _read(self) -> None:
        with contextlib.suppress(EOFError, OSError, ValueError):
            while True:
                for index, answer in self._answers.recv():
                    self._ready[self._keys[index]] = answer

    def take(self, key: Hashable) -> Any | None:
        found = self._ready.pop(key, None)
        if found is not None:
            self.taken += 1
        return found

    def wait(self, timeout: float) -> bool:
        """Until the child has sent every answer (True) or `timeout` seconds passed (False)."""
        if self._reader is None:
            return False
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def close(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        for thread in (self._reader, self._sender):   # the child's ends are closed: reads and sends end
            if thread is not None:
                thread.join(5)
        for end in (self._jobs, self._answers):
            end.close()


_early: list[Ahead] = []   # the child start_early() started, until a validation claims it


def start_early(serve: Callable[[Connection, Connection], None]) -> None:
    """Start the second process now, before its job is known: `dualcert run` does it as pytest starts, when the
    inventory is large enough (EARLY_ENDPOINTS), so that the child's interpreter and imports take the core
    pytest's start leaves idle instead of the tests' time."""
    if not _early and (os.cpu_count() or 1) > 1:
        with contextlib.suppress(OSError):   # no second process to be had: validated in place
            _early.append(Ahead(serve))


def claim_early() -> Ahead | None:
    return _early.pop() if _early else None


def close_early() -> None:
    """End an early child nothing claimed (no trust bundle, few chains, the run ended before its probes)."""
    while _early:
        _early.pop().close()


def answer_in_batches(answers: Connection, found: Iterable[Any]) -> None:
    """In the child: send `found` (an iterable of answers, in the order of the keys) at most BATCH at a time
    and at least every FLUSH_S seconds: the asker is at the first keys as soon as the job is sent."""
    batch: list[tuple[int, Any]] = []
    sent = time.monotonic()
    for index, answer in enumerate(found):
        batch.append((index, answer))
        if len(batch) >= BATCH or time.monotonic() - sent >= FLUSH_S:
            answers.send(batch)
            batch, sent = [], time.monotonic()
    if batch:
        answers.send(batch)
