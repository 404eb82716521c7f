"""The probe engine: runs every probe of a run once, concurrently and bounded.

At most `workers` probes are in flight and `per_node` per node, so a real appliance is not
flooded; the first probe of an endpoint goes alone, and if it finds the endpoint dead (timeout,
closed port, not TLS) the endpoint's other probes are recorded from it, not repeated. Probes
waiting on a slow or silent server are parked on one epoll thread (Parker), not on a worker.
An offer refused with an alert other than protocol_version, or ended by the server without one,
waits for the endpoint's other hellos: if no offer of its version completes, one control hello per
endpoint and version is sent, and once the endpoint has landed, probe/control.py settles it as
refused, unsupported or no-tls-answer from all of them. A simulated client's probe
(probe/clients.py, version `auto`) is recorded as it lands: a client connects or it does not.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import queue
import selectors
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, replace

from OpenSSL import SSL

from dualcert.estate.model import Endpoint
from dualcert.offers import Offer, ProbeOffer, ProbeVersion, TLSVersion
from dualcert.probe.connection import OpenSockets, Timeouts, probe_steps
from dualcert.probe.control import COMPLETED, SPEAKS_VERSION, Evidence, needs_settling, settle
from dualcert.probe.hello import OfferSpec, control_spec, offer_spec
from dualcert.probe.observation import ENDPOINT_WIDE, Observation, Outcome, ProbeKey, not_probed_detail
from dualcert.probe.reproduce import openssl_command
from dualcert.probe.tls import client_context
from dualcert.probe.wire import ProbeSteps, Wait, poll
from dualcert.probe.workers import Workers

# A worker thread checks the socket once without waiting (loopback and LAN servers often have
# answered already) and otherwise parks the probe. Measured on 2 cores against nginx: waiting
# in place for 2 ms or 20 ms was no faster, and it makes slow (WAN) servers hold threads.
INLINE_WAIT_S = 0.0
# Threads doing handshake steps (OpenSSL releases the GIL inside them); waiting costs none. One per CPU and
# one more: on 2 cores against nginx, 3 threads probed 10,000 endpoints in 55.6-56.4 s where 4 took 62.5-64.5 s
# (2 as fast as 3, 8 slower): the steps' Python parts share one GIL, and more threads only contend for it.
DEFAULT_THREADS = (os.cpu_count() or 2) + 1
# Threads for probes with STARTTLS, whose plain-text upgrade waits in a thread (threads are
# created only when used).
STARTTLS_THREADS = 64


class Parker:
    """One thread waiting, with epoll, on every probe that waits for its server longer than
    INLINE_WAIT_S, and handing each back to the pool when its socket is ready or its deadline
    passes. A tarpit then holds a socket and a heap entry, not a worker thread: however many
    endpoints hang, they all time out together, once."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._incoming: list[tuple[Wait, Callable[[bool], None]]] = []
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="dualcert-parker", daemon=True)
        self._thread.start()

    def park(self, wait: Wait, resume: Callable[[bool], None]) -> None:
        """Call `resume(ready)` (from the parker's thread: it must only hand over) when the
        socket is ready (True) or the deadline passed (False)."""
        with self._lock:
            first = not self._incoming
            self._incoming.append((wait, resume))
        if first:  # else the wake-up sent for the first one is still to be read: the loop takes both
            with contextlib.suppress(OSError):
                self._wake_w.send(b"\0")

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        self._thread.join(timeout=5)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _loop(self) -> None:
        deadlines: list[tuple[float, int, int]] = []   # (deadline, sequence, fd), stale entries skipped
        parked: dict[int, tuple[int, Wait, Callable[[bool], None]]] = {}
        sequence = 0
        while not self._stopped:
            with self._lock:
                incoming, self._incoming = self._incoming, []
            for parked_wait, resume in incoming:
                sequence += 1
                fd = parked_wait.sock.fileno()
                try:
                    self._selector.register(fd, selectors.EVENT_WRITE if parked_wait.write else selectors.EVENT_READ)
                except (OSError, ValueError, KeyError):
                    # Not pollable (closed meanwhile): hand it back at once; its next step meets the error.
                    with contextlib.suppress(RuntimeError):
                        resume(True)
                    continue
                parked[fd] = (sequence, parked_wait, resume)
                heapq.heappush(deadlines, (parked_wait.deadline, sequence, fd))
            timeout = max(0.0, deadlines[0][0] - time.monotonic()) if deadlines else None
            for key, _ in self._selector.select(timeout):
                if key.fileobj is self._wake_r:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                self._hand_back(parked, key.fd, True)
            now = time.monotonic()
            while deadlines and deadlines[0][0] <= now:
                _, seq, fd = heapq.heappop(deadlines)
                if fd in parked and parked[fd][0] == seq:
                    self._hand_back(parked, fd, False)

    def _hand_back(self, parked: dict[int, tuple[int, Wait, Callable[[bool], None]]], fd: int, ready: bool) -> None:
        _, _, resume = parked.pop(fd)
        self._selector.unregister(fd)
        with contextlib.suppress(RuntimeError):  # the pool is shutting down (interrupted run)
            resume(ready)


# Where finished probes go: (the probe's token, its observation or None, the exception or None).
Landed = queue.SimpleQueue[tuple[int, Observation | None, BaseException | None]]


class _Steps:
    """One probe's steps, run on `pool` and parked on `parker` while its server keeps it waiting;
    its end goes to the runner's `landed` queue under `token`. A class, not two closures calling
    each other: closures form a reference cycle that kept every finished probe (generator,
    observation) alive until a full garbage collection, and at 60,000 probes the collector's passes
    over them cost seconds."""

    __slots__ = ("landed", "parker", "pool", "steps", "token")

    def __init__(self, steps: ProbeSteps, token: int, landed: Landed, pool: Workers,
                 parker: Parker) -> None:
        self.steps, self.token, self.landed, self.pool, self.parker = steps, token, landed, pool, parker

    def start(self) -> None:
        self.pool.submit(self.step, None)

    def step(self, ready: bool | None) -> None:
        try:
            pending = next(self.steps) if ready is None else self.steps.send(ready)
            while True:
                remaining = pending.deadline - time.monotonic()
                if poll(pending.sock, pending.write, min(INLINE_WAIT_S, remaining), check=True):
                    pending = self.steps.send(True)
                elif remaining <= INLINE_WAIT_S:
                    pending = self.steps.send(False)
                else:
                    self.parker.park(pending, self.resume)
                    return
        except StopIteration as done:
            self.landed.put((self.token, done.value, None))
        except BaseException as exc:  # handed to the runner, which re-raises
            self.landed.put((self.token, None, exc))

    def resume(self, ready: bool) -> None:
        self.pool.submit(self.step, ready)


def _drain(landed: Landed) -> list[tuple[int, Observation | None, BaseException | None]]:
    """What has landed: waits for one (a second at a time, so Ctrl-C and SIGTERM are seen), then
    takes whatever else is there."""
    while True:
        try:
            found = [landed.get(timeout=1.0)]
            break
        except queue.Empty:
            continue
    while True:
        try:
            found.append(landed.get_nowait())
        except queue.Empty:
            return found


@dataclass(frozen=True)
class ProbeTask:
    endpoint: Endpoint
    offer: ProbeOffer
    version: ProbeVersion
    _: KW_ONLY
    control: bool = False   # the version's widest hello (hello.control_spec), not a probe of its own
    spec: OfferSpec | None = None  # a client profile's hello (probe/clients.py); None: offer_spec()

    @property
    def hello(self) -> OfferSpec:
        """What this task's ClientHello offers."""
        if self.spec is not None:
            return self.spec
        if not isinstance(self.offer, Offer) or not isinstance(self.version, TLSVersion):
            raise ValueError(f"{self.offer.value}:{self.version.value} needs its client profile's spec")
        return control_spec(self.version) if self.control else offer_spec(self.offer, self.version)

    @property
    def key(self) -> ProbeKey:
        return ProbeKey(self.endpoint.node, self.endpoint.service.name, self.offer, self.version)


class ProbeRunner:
    """Runs every task once, concurrently: at most `workers` probes in flight (open
    connections) and `per_node` per node; `threads` threads do the CPU work (handshake
    steps), while probes waiting on a slow or silent server are parked on one epoll thread."""

    def __init__(self, *, workers: int = 256, per_node: int = 4, timeouts: Timeouts | None = None,
                 threads: int | None = None) -> None:
        if workers < 1 or per_node < 1 or (threads is not None and threads < 1):
            raise ValueError("workers, per_node and threads must be at least 1")
        self.workers, self.per_node = workers, per_node
        self.threads = threads or min(workers, DEFAULT_THREADS)
        self.timeouts = timeouts or Timeouts()
        self._contexts: dict[str, tuple[OfferSpec, SSL.Context]] = {}
        self._lock = threading.Lock()
        self._open = OpenSockets()

    def _context(self, spec: OfferSpec) -> SSL.Context:
        with self._lock:
            if spec.label not in self._contexts:
                self._contexts[spec.label] = (spec, client_context(spec))
            return self._contexts[spec.label][1]

    def _start(self, task: ProbeTask, token: int, landed: Landed, pool: Workers, parker: Parker) -> None:
        """Run the probe's steps on `pool`, parked whenever its server keeps it waiting; its observation
        goes to `landed` under `token`."""
        spec = task.hello
        try:
            context = self._context(spec)
        except (SSL.Error, ValueError) as exc:  # our hello, not the server: never `unsupported`
            landed.put((token, Observation(task.key, task.endpoint.host, task.endpoint.address, task.endpoint.port,
                                           Outcome.ERROR, f"local: could not build the {spec.label} ClientHello: "
                                                          f"{exc}", reproduce=openssl_command(task.endpoint, spec)),
                        None))
            return
        _Steps(probe_steps(task.endpoint, spec, context, self.timeouts, self._open), token, landed, pool,
               parker).start()

    def run(self, tasks: Iterable[ProbeTask],
            on_result: Callable[[Observation], None] | None = None) -> dict[ProbeKey, Observation]:
        """Probe every distinct task. `on_result` is called (in this thread) as each one lands."""
        by_endpoint: dict[tuple[str, str], list[ProbeTask]] = defaultdict(list)
        for task in dict.fromkeys(tasks):  # de-duplicate, keep order
            by_endpoint[(task.endpoint.node, task.endpoint.service.name)].append(task)
        results: dict[ProbeKey, Observation] = {}
        # Per node: endpoints waiting for their first probe, and follow-up probes ready to go.
        first: dict[str, deque[list[ProbeTask]]] = defaultdict(deque)
        for group in by_endpoint.values():
            first[group[0].endpoint.node].append(group)
        ready: dict[str, deque[ProbeTask]] = defaultdict(deque)
        in_flight: dict[str, int] = defaultdict(int)
        # Probes in flight by token. They land on one queue: waiting on their futures instead
        # (concurrent.futures.wait) locked every pending future at each wake-up, 256 per landing.
        pending: dict[int, tuple[ProbeTask, list[ProbeTask] | None]] = {}
        landed: Landed = queue.SimpleQueue()
        tokens = itertools.count()

        def record(observation: Observation) -> None:
            results[observation.key] = observation
            if on_result is not None:
                on_result(observation)

        # Per endpoint: its probes not landed yet by version, the first completed handshake and the
        # control hello of each version, every raw observation (the evidence), and the probes waiting
        # to be settled. Only this thread touches them. A version's control hello goes only when every
        # offer of it was refused or dropped: one completed offer already says the version is spoken.
        # The waiting probes are settled once the whole endpoint has landed, since whether a dropped
        # hello is `unsupported` or `no-tls-answer` depends on the other version too (control.py).
        # A simulated client (version `auto`, its own range) stays out of this bookkeeping: its
        # refusal is recorded as it is, without a control hello, since the question it answers is
        # whether that client connects, not whether the server speaks a version; and it is not
        # evidence for a TLS 1.2/1.3 offer, so those outcomes do not depend on --clients.
        Where = tuple[str, str]
        outstanding: dict[Where, dict[TLSVersion, int]] = defaultdict(lambda: defaultdict(int))
        for group in by_endpoint.values():
            for task in group:
                if isinstance(task.version, TLSVersion):
                    outstanding[(task.endpoint.node, task.endpoint.service.name)][task.version] += 1
        spoken: dict[tuple[Where, TLSVersion], Observation] = {}
        controls: dict[tuple[Where, TLSVersion], Observation | None] = {}   # None: sent, not landed yet
        seen: dict[Where, list[Observation]] = defaultdict(list)
        awaiting: dict[Where, list[Observation]] = {}

        def settle_endpoint(where: Where) -> None:
            for waiting in awaiting.pop(where):
                version = waiting.key.version
                assert isinstance(version, TLSVersion)
                control = controls.get((where, version))
                evidence = Evidence(spoken.get((where, version)), control,
                                    Evidence.gather(o for o in seen[where] if o.key.version != version))
                record(settle(waiting, evidence))

        def land(task: ProbeTask, observation: Observation) -> None:
            if not isinstance(task.version, TLSVersion):  # a client probe: see above
                record(observation)
                return
            where, version = (task.endpoint.node, task.endpoint.service.name), task.version
            seen[where].append(observation)
            if task.control:
                controls[(where, version)] = observation
            else:
                outstanding[where][version] -= 1
                held = spoken.get((where, version))
                if observation.outcome in SPEAKS_VERSION and (held is None or (
                        held.outcome not in COMPLETED and observation.outcome in COMPLETED)):
                    spoken[(where, version)] = observation   # a completed one over a chain-too-large: not a race
                if needs_settling(observation):
                    awaiting.setdefault(where, []).append(observation)
                else:
                    record(observation)
            waiting = awaiting.get(where, ())
            if outstanding[where][version] == 0 and (where, version) not in spoken and \
                    (where, version) not in controls and any(o.key.version == version for o in waiting):
                controls[(where, version)] = None
                ready[task.endpoint.node].appendleft(ProbeTask(task.endpoint, Offer.DEFAULT, version, control=True))
                return
            if any(outstanding[where].values()) or any(controls.get((where, v), 0) is None for v in outstanding[where]):
                return  # another hello of the endpoint may still change the evidence
            if waiting:
                settle_endpoint(where)
            seen.pop(where, None)

        # Nodes that have work and spare capacity, round-robin: one busy node does not starve the others.
        runnable: deque[str] = deque(first)
        queued = set(runnable)

        def has_work(node: str) -> bool:
            return bool(ready[node] or first[node]) and in_flight[node] < self.per_node

        def wake(node: str) -> None:
            if node not in queued and has_work(node):
                runnable.append(node)
                queued.add(node)

        pool = Workers(self.threads, "dualcert-probe")
        starttls_pool = Workers(min(self.workers, STARTTLS_THREADS), "dualcert-starttls")
        parker = Parker()
        interrupted = False
        try:
            while True:
                while runnable and len(pending) < self.workers:
                    node = runnable.popleft()
                    queued.discard(node)
                    if not has_work(node):
                        continue
                    if ready[node]:
                        task, rest = ready[node].popleft(), None
                    else:
                        group = first[node].popleft()
                        task, rest = group[0], group[1:]
                    # STARTTLS's dialogue blocks a thread (sslyze's helpers): those probes get their
                    # own, larger pool, so silent STARTTLS servers cannot starve the handshakes.
                    target = starttls_pool if task.endpoint.service.starttls else pool
                    token = next(tokens)
                    pending[token] = (task, rest)
                    self._start(task, token, landed, target, parker)
                    in_flight[node] += 1
                    wake(node)
                if not pending:
                    break
                for token, observation, error in _drain(landed):
                    if error is not None:
                        raise error
                    assert observation is not None
                    task, rest = pending.pop(token)
                    node = task.endpoint.node
                    in_flight[node] -= 1
                    land(task, observation)
                    if rest and observation.outcome in ENDPOINT_WIDE:
                        seen.pop((node, task.endpoint.service.name), None)   # nothing waits on a dead endpoint
                        for other in rest:
                            if isinstance(other.version, TLSVersion):
                                outstanding[(node, other.endpoint.service.name)][other.version] -= 1
                            record(replace(observation, key=other.key, probed=False,
                                           reproduce=openssl_command(other.endpoint, other.hello),
                                           detail=not_probed_detail(observation)))
                    elif rest:
                        ready[node].extend(rest)
                    wake(node)
        except BaseException:
            # Ctrl-C or SIGTERM: keep what landed, do not wait for probes in flight.
            interrupted = True
            self._open.abort_all()
            for waiting in awaiting.values():  # what landed stands, without its control
                for observation in waiting:
                    record(observation)
            raise
        finally:
            parker.stop()
            pool.shutdown(wait=not interrupted)
            starttls_pool.shutdown(wait=not interrupted)
        return results
