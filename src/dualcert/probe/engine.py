"""All network code: connect, optional STARTTLS, one restricted handshake, the chain as DER.

Everything after an Observation is pure. Probes of one run share a single bounded thread
pool; each node gets at most `per_node` connections at a time so a real appliance is not
flooded, and the first probe of an endpoint goes alone: if it finds the endpoint dead
(timeout, closed port, not TLS) the remaining probes are recorded from it, not repeated.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import io
import os
import re
import select
import selectors
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from dualcert.estate.inventory import Endpoint
from dualcert.probe.observation import ENDPOINT_WIDE, Observation, Outcome, ProbeKey
from dualcert.probe.offers import Offer, OfferSpec, TLSVersion, offer_spec
from dualcert.probe.tls import client_context


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Each phase has its own budget; a probe never exceeds their sum."""

    connect: float = 3.0
    starttls: float = 5.0
    handshake: float = 5.0


class _ProbeFailure(Exception):
    def __init__(self, outcome: Outcome, detail: str, phase: str, alert: str | None = None) -> None:
        super().__init__(detail)
        self.outcome, self.detail, self.phase, self.alert = outcome, detail, phase, alert


_NOT_TLS_REASONS = ("wrong version number", "packet length too long", "unknown protocol", "http request",
                    "record layer failure", "record_layer_failure", "wrong ssl version", "bad record type",
                    "unexpected record", "decryption failed or bad record mac")
_UNSUPPORTED_REASONS = ("alert protocol version", "unsupported protocol", "no protocols available",
                        "tlsv1 alert protocol version", "version too low", "version too high")


def classify_ssl_error(exc: SSL.Error) -> tuple[Outcome, str, str | None]:
    """Map an OpenSSL error stack to a typed outcome, a readable detail and the alert (if any)."""
    reasons = [str(part[2]) for part in exc.args[0] if isinstance(part, tuple) and len(part) == 3] \
        if exc.args and isinstance(exc.args[0], list) else []
    text = "; ".join(reasons) or str(exc) or type(exc).__name__
    lowered = text.lower()
    if any(r in lowered for r in _UNSUPPORTED_REASONS):
        return Outcome.UNSUPPORTED, text, "protocol_version" if "alert" in lowered else None
    if "alert" in lowered:
        alert = lowered.split("alert", 1)[1].strip().replace(" ", "_") or None
        return Outcome.REFUSED, text, alert
    if any(r in lowered for r in _NOT_TLS_REASONS):
        return Outcome.NOT_TLS, text, None
    if "excessive message size" in lowered:
        return Outcome.ERROR, f"the server's handshake message exceeds OpenSSL's limit (a huge certificate " \
                              f"chain?): {text}", None
    if "asn1" in lowered:
        return Outcome.ERROR, f"the server sent a certificate OpenSSL cannot parse: {text}", None
    return Outcome.ERROR, text, None


@dataclass(frozen=True)
class Wait:
    """A probe step that needs the socket readable (or writable) before `deadline`."""

    sock: socket.socket
    write: bool
    deadline: float
    phase: str


# What a probe generator yields (a Wait), is sent (True: ready, False: deadline passed), returns.
ProbeSteps = Generator[Wait, bool, Observation]

# A worker thread checks the socket once without waiting (loopback and LAN servers often have
# answered already) and otherwise parks the probe. Measured on 2 cores against nginx: waiting
# in place for 2 ms or 20 ms was no faster, and it makes slow (WAN) servers hold threads.
INLINE_WAIT_S = 0.0
# Threads doing handshake steps (OpenSSL releases the GIL inside them); waiting costs none.
# Measured on 2 cores: 4 threads as fast as 8 or 16.
DEFAULT_THREADS = max(4, 2 * (os.cpu_count() or 2))
# Threads for probes with STARTTLS, whose plain-text upgrade waits in a thread (threads are
# created only when used).
STARTTLS_THREADS = 64


def _poll(sock: socket.socket, write: bool, seconds: float, *, check: bool = False) -> bool:
    """Wait up to `seconds` for the socket; `check`: look once even when no time is left."""
    if seconds <= 0 and not check:
        return False
    poller = select.poll()
    poller.register(sock, select.POLLOUT if write else select.POLLIN)
    return bool(poller.poll(max(seconds, 0) * 1000))


def _timed_out(phase: str, seconds: float) -> _ProbeFailure:
    what = {"connect": "TCP connect", "handshake": "TLS handshake"}.get(phase, phase)
    return _ProbeFailure(Outcome.TIMEOUT, f"{what} timed out after {seconds:g}s", phase)


def _connect(endpoint: Endpoint, timeout: float) -> Generator[Wait, bool, socket.socket]:
    try:
        infos = socket.getaddrinfo(endpoint.connect_to, endpoint.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _ProbeFailure(Outcome.UNRESOLVED, f"cannot resolve {endpoint.connect_to!r}: {exc.strerror}",
                            "connect") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            if not (yield Wait(sock, True, time.monotonic() + timeout, "connect")):
                raise _timed_out("connect", timeout)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == errno.ECONNREFUSED:
            raise _ProbeFailure(Outcome.CONNECTION_REFUSED, "connection refused (nothing listens on the port)",
                                "connect")
        if code:
            raise _ProbeFailure(Outcome.ERROR, f"TCP connect failed: {os.strerror(code)}", "connect")
    except BaseException:
        sock.close()
        raise
    return sock


STARTTLS_MAX_BYTES = 64 * 1024  # a real server's banner and features fit many times over


class _StarttlsBudget(Exception):
    pass


class _BoundedSocket:
    """The socket as the STARTTLS helpers see it: every read shares one deadline and one byte
    budget. sslyze's helpers time out per recv only, and smtplib reads continuation lines
    without end, so a server that drips or streams forever would otherwise hold the probe."""

    def __init__(self, sock: socket.socket, deadline: float, max_bytes: int) -> None:
        self._sock, self._deadline, self._left = sock, deadline, max_bytes

    def _arm(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("STARTTLS deadline passed")
        self._sock.settimeout(remaining)

    def _spend(self, count: int) -> None:
        self._left -= count
        if self._left < 0:
            raise _StarttlsBudget(f"the server sent more than {STARTTLS_MAX_BYTES // 1024} KiB "
                                  "without agreeing to STARTTLS")

    def recv(self, size: int, flags: int = 0) -> bytes:
        self._arm()
        data = self._sock.recv(min(size, max(self._left, 1)), flags)
        self._spend(len(data))
        return data

    def recv_into(self, buffer: Any, size: int = 0, flags: int = 0) -> int:
        self._arm()
        limit = min(size or len(buffer), max(self._left, 1))
        count = self._sock.recv_into(buffer, limit, flags)
        self._spend(count)
        return count

    def send(self, data: bytes, flags: int = 0) -> int:
        self._arm()
        return self._sock.send(data, flags)

    def sendall(self, data: bytes, flags: int = 0) -> None:
        self._arm()
        self._sock.sendall(data, flags)

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        # smtplib reads replies through a file object; route it through recv_into above.
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:
        pass  # SocketIO.close() calls this; the real socket is closed by probe_once

    def settimeout(self, value: float | None) -> None:
        pass  # the deadline above governs

    def close(self) -> None:
        pass  # smtplib closes on errors; the real socket is closed by probe_once

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()

    def fileno(self) -> int:
        return self._sock.fileno()


def _starttls(sock: socket.socket, endpoint: Endpoint, timeout: float) -> None:
    protocol = str(endpoint.service.starttls)
    if protocol in _XMPP_NAMESPACES:
        _xmpp_starttls(sock, protocol, endpoint.service.xmpp_domain or endpoint.host, time.monotonic() + timeout)
        return
    # sslyze's helpers speak the other protocols' upgrade; imported here so plain runs skip the cost.
    from sslyze.connection_helpers.opportunistic_tls_helpers import (
        OpportunisticTlsError,
        ProtocolWithOpportunisticTlsEnum,
        get_opportunistic_tls_helper,
    )

    helper = get_opportunistic_tls_helper(ProtocolWithOpportunisticTlsEnum[protocol.upper().replace("-", "_")],
                                          xmpp_to_hostname=None, smtp_ehlo_hostname="dualcert.invalid")
    bounded = _BoundedSocket(sock, time.monotonic() + timeout, STARTTLS_MAX_BYTES)
    try:
        helper.prepare_socket_for_tls_handshake(bounded)  # type: ignore[arg-type]
    except TimeoutError:
        raise _ProbeFailure(Outcome.TIMEOUT, f"STARTTLS ({protocol}) timed out after {timeout:g}s",
                            "starttls") from None
    except (OpportunisticTlsError, _StarttlsBudget) as exc:
        if "timed out" in str(exc) or "deadline passed" in str(exc):  # smtplib wraps our TimeoutError
            raise _ProbeFailure(Outcome.TIMEOUT, f"STARTTLS ({protocol}) timed out after {timeout:g}s",
                                "starttls") from None
        raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): {exc}", "starttls") from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}) failed: {exc}", "starttls") from None


# XMPP STARTTLS (RFC 6120 section 5), written here rather than taken from sslyze: sslyze's helper
# reads the server's stream header and features with one or two single recv() calls, so a server
# that sends them in more segments (a slow link, a large feature list) makes it send <starttls/>
# early and then mistake the rest of the features for the answer. This reads until the element it
# needs is complete, within the STARTTLS deadline and a byte budget.
_XMPP_NAMESPACES = {"xmpp": "jabber:client", "xmpp-server": "jabber:server"}
_XMPP_MAX_BYTES = 64 * 1024
_XMPP_FEATURES_END = re.compile(rb"</(?:stream:)?features\s*>|<(?:stream:)?features(?:\s[^>]*)?/>")
_XMPP_STREAM_ERROR = re.compile(rb"<(?:stream:)?error[\s>].*?</(?:stream:)?error\s*>", re.S)
_XMPP_TLS_ANSWER = re.compile(rb"<(proceed|failure)\b[^>]*>")


def _xmpp_starttls(sock: socket.socket, protocol: str, domain: str, deadline: float) -> None:
    opening = (f"<?xml version='1.0'?><stream:stream xmlns='{_XMPP_NAMESPACES[protocol]}' "
               f"xmlns:stream='http://etherx.jabber.org/streams' to='{xml_escape(domain, {chr(39): '&apos;'})}' "
               "version='1.0'>")
    _send(sock, opening.encode(), deadline)
    features = _read_until(sock, deadline, lambda b: bool(_XMPP_FEATURES_END.search(b) or
                                                           _XMPP_STREAM_ERROR.search(b)), protocol)
    error = _XMPP_STREAM_ERROR.search(features)
    if error:
        condition = re.search(rb"<([a-z-]+)\s+xmlns=['\"]urn:ietf:params:xml:ns:xmpp-streams", error.group())
        name = condition.group(1).decode() if condition else "unspecified"
        hint = f" (the server does not serve XMPP domain {domain!r}: set xmpp_domain on the service)" \
            if name == "host-unknown" else ""
        raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): stream error {name}{hint}", "starttls")
    if b"urn:ietf:params:xml:ns:xmpp-tls" not in features:
        raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): the server does not offer STARTTLS",
                            "starttls")
    _send(sock, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", deadline)
    answer = _read_until(sock, deadline, lambda b: bool(_XMPP_TLS_ANSWER.search(b) or
                                                         _XMPP_STREAM_ERROR.search(b)), protocol)
    found = _XMPP_TLS_ANSWER.search(answer)
    if not found or found.group(1) != b"proceed":
        raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): the server answered <starttls/> "
                            "with a failure", "starttls")


def _send(sock: socket.socket, data: bytes, deadline: float) -> None:
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        sock.sendall(data)
    except TimeoutError:
        raise _ProbeFailure(Outcome.TIMEOUT, "STARTTLS timed out while sending", "starttls") from None
    except OSError as exc:
        raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS failed: {exc.strerror or exc}", "starttls") from None


def _read_until(sock: socket.socket, deadline: float, complete: Callable[[bytes], bool], protocol: str) -> bytes:
    """Read until `complete(buffer)`; never past the deadline or the byte budget."""
    buffer = b""
    while not complete(buffer):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _ProbeFailure(Outcome.TIMEOUT, f"STARTTLS ({protocol}) timed out", "starttls")
        if len(buffer) > _XMPP_MAX_BYTES:
            raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): more than {_XMPP_MAX_BYTES} bytes "
                                "without the expected element", "starttls")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            raise _ProbeFailure(Outcome.TIMEOUT, f"STARTTLS ({protocol}) timed out", "starttls") from None
        except OSError as exc:
            raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}) failed: {exc.strerror or exc}",
                                "starttls") from None
        if not chunk:
            raise _ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): the server closed the connection",
                                "starttls")
        buffer += chunk
    return buffer


def plaintext_listening(endpoint: Endpoint, port: int, timeout: float) -> tuple[bool | None, str]:
    """Does anything accept a TCP connection on `port` of the endpoint's node? Connect only:
    nothing is sent. None when it cannot be told (timeout, unresolved, unreachable)."""
    try:
        infos = socket.getaddrinfo(endpoint.connect_to, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return None, f"cannot resolve {endpoint.connect_to!r}: {exc.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except ConnectionRefusedError:
            return False, f"{endpoint.connect_to}:{port} refuses connections"
        except TimeoutError:
            return None, f"{endpoint.connect_to}:{port}: no answer within {timeout:g}s (filtered?)"
        except OSError as exc:
            return None, f"{endpoint.connect_to}:{port}: {exc.strerror or exc}"
    return True, f"{endpoint.connect_to}:{port} accepts connections"


def _handshake(sock: socket.socket, context: SSL.Context, sni: str | None,
               timeout: float) -> Generator[Wait, bool, SSL.Connection]:
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    conn = SSL.Connection(context, sock)
    if sni:
        conn.set_tlsext_host_name(sni.encode("idna"))
    conn.set_connect_state()
    while True:
        try:
            conn.do_handshake()
            return conn
        except SSL.WantReadError:
            if not (yield Wait(sock, False, deadline, "handshake")):
                raise _timed_out("handshake", timeout) from None
        except SSL.WantWriteError:
            if not (yield Wait(sock, True, deadline, "handshake")):
                raise _timed_out("handshake", timeout) from None
        except SSL.SysCallError as exc:
            code = exc.args[0] if exc.args else None
            if code in (errno.ECONNRESET, errno.EPIPE):
                raise _ProbeFailure(Outcome.ERROR, "connection reset by the server during the handshake",
                                    "handshake") from None
            raise _ProbeFailure(Outcome.ERROR, "connection closed by the server during the handshake",
                                "handshake") from None
        except SSL.ZeroReturnError:
            raise _ProbeFailure(Outcome.ERROR, "server closed the TLS session during the handshake",
                                "handshake") from None
        except SSL.Error as exc:
            outcome, detail, alert = classify_ssl_error(exc)
            raise _ProbeFailure(outcome, detail, "handshake", alert) from None


class OpenSockets:
    """The sockets of probes in flight, so an interrupted run can end them at once instead of
    waiting out their timeouts (ThreadPoolExecutor joins its threads at interpreter exit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.aborted = False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            if self.aborted:
                _abort(sock)

    def discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def abort_all(self) -> None:
        with self._lock:
            self.aborted = True
            for sock in self._sockets:
                _abort(sock)


def _abort(sock: socket.socket) -> None:
    # shutdown() wakes a thread blocked in poll/recv on this socket; close() would not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def probe_steps(endpoint: Endpoint, spec: OfferSpec, context: SSL.Context, timeouts: Timeouts,
                open_sockets: OpenSockets | None = None) -> ProbeSteps:
    """One real handshake as a generator: it yields a Wait whenever the network must answer,
    so a runner can wait for many probes at once without a thread each. Never raises for
    network behaviour: every failure is an outcome. `open_sockets` lets an interrupted run
    end the probe at once."""
    key = ProbeKey(endpoint.node, endpoint.service.name, spec.offer, spec.version)
    base = Observation(key, endpoint.host, endpoint.address, endpoint.port, Outcome.ERROR)
    started = time.monotonic()
    sock: socket.socket | None = None
    connect_ms: float | None = None
    try:
        sock = yield from _connect(endpoint, timeouts.connect)
        if open_sockets is not None:
            open_sockets.add(sock)
        connect_ms = (time.monotonic() - started) * 1000
        if endpoint.service.starttls:
            _starttls(sock, endpoint, timeouts.starttls)
        shake_start = time.monotonic()
        conn = yield from _handshake(sock, context, endpoint.sni, timeouts.handshake)
        handshake_ms = (time.monotonic() - shake_start) * 1000
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
        ders = tuple(cert.public_bytes(Encoding.DER) for cert in chain)
        version, cipher = conn.get_protocol_version_name(), conn.get_cipher_name()
        _close_quietly(conn)
        if not ders:
            return replace(base, outcome=Outcome.NO_CERTIFICATE, detail="handshake completed without a certificate",
                           phase="handshake", negotiated_version=version, cipher=cipher,
                           connect_ms=connect_ms, handshake_ms=handshake_ms)
        return replace(base, outcome=Outcome.OK, negotiated_version=version, cipher=cipher, chain_der=ders,
                       connect_ms=connect_ms, handshake_ms=handshake_ms)
    except _ProbeFailure as failure:
        return replace(base, outcome=failure.outcome, detail=failure.detail, phase=failure.phase,
                       alert=failure.alert, connect_ms=connect_ms)
    except Exception as exc:  # a probe must never take the run down with it
        return replace(base, outcome=Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}", connect_ms=connect_ms)
    finally:
        if sock is not None:
            if open_sockets is not None:
                open_sockets.discard(sock)
            sock.close()


def probe_once(endpoint: Endpoint, spec: OfferSpec, context: SSL.Context, timeouts: Timeouts,
               open_sockets: OpenSockets | None = None) -> Observation:
    """One real handshake in the calling thread (waits with poll)."""
    steps = probe_steps(endpoint, spec, context, timeouts, open_sockets)
    try:
        wait = next(steps)
        while True:
            wait = steps.send(_poll(wait.sock, wait.write, wait.deadline - time.monotonic()))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


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
            self._incoming.append((wait, resume))
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


def _close_quietly(conn: SSL.Connection) -> None:
    with contextlib.suppress(SSL.Error):
        conn.shutdown()


@dataclass(frozen=True)
class ProbeTask:
    endpoint: Endpoint
    offer: Offer
    version: TLSVersion

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
        self._contexts: dict[tuple[Offer, TLSVersion], tuple[OfferSpec, SSL.Context]] = {}
        self._lock = threading.Lock()
        self._open = OpenSockets()

    def _context(self, offer: Offer, version: TLSVersion) -> tuple[OfferSpec, SSL.Context]:
        with self._lock:
            if (offer, version) not in self._contexts:
                spec = offer_spec(offer, version)
                self._contexts[(offer, version)] = (spec, client_context(spec))
            return self._contexts[(offer, version)]

    def _start(self, task: ProbeTask, pool: ThreadPoolExecutor, parker: Parker) -> Future[Observation]:
        """Run the probe's steps on `pool`; park it whenever its server keeps it waiting."""
        future: Future[Observation] = Future()
        spec, context = self._context(task.offer, task.version)
        steps = probe_steps(task.endpoint, spec, context, self.timeouts, self._open)

        def step(ready: bool | None) -> None:
            try:
                pending = next(steps) if ready is None else steps.send(ready)
                while True:
                    remaining = pending.deadline - time.monotonic()
                    if _poll(pending.sock, pending.write, min(INLINE_WAIT_S, remaining), check=True):
                        pending = steps.send(True)
                    elif remaining <= INLINE_WAIT_S:
                        pending = steps.send(False)
                    else:
                        parker.park(pending, resume)
                        return
            except StopIteration as done:
                future.set_result(done.value)
            except BaseException as exc:  # handed to the runner, which re-raises
                future.set_exception(exc)

        def resume(ready: bool) -> None:
            pool.submit(step, ready)

        pool.submit(step, None)
        return future

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
        pending: dict[Future[Observation], tuple[ProbeTask, list[ProbeTask] | None]] = {}

        def record(observation: Observation) -> None:
            results[observation.key] = observation
            if on_result is not None:
                on_result(observation)

        # Nodes that have work and spare capacity, served round-robin so one busy node
        # does not starve the others.
        runnable: deque[str] = deque(first)
        queued = set(runnable)

        def has_work(node: str) -> bool:
            return bool(ready[node] or first[node]) and in_flight[node] < self.per_node

        def wake(node: str) -> None:
            if node not in queued and has_work(node):
                runnable.append(node)
                queued.add(node)

        pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="dualcert-probe")
        starttls_pool = ThreadPoolExecutor(max_workers=min(self.workers, STARTTLS_THREADS),
                                           thread_name_prefix="dualcert-starttls")
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
                    pending[self._start(task, target, parker)] = (task, rest)
                    in_flight[node] += 1
                    wake(node)
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task, rest = pending.pop(future)
                    node = task.endpoint.node
                    in_flight[node] -= 1
                    observation = future.result()
                    record(observation)
                    if rest and observation.outcome in ENDPOINT_WIDE:
                        for other in rest:
                            record(replace(observation, key=other.key, probed=False,
                                           detail=f"not probed: the first probe ({task.key.test_id}) got "
                                                  f"{observation.outcome.value}: {observation.detail}"))
                    elif rest:
                        ready[node].extend(rest)
                    wake(node)
        except BaseException:
            # Ctrl-C or SIGTERM: keep what landed, do not wait for probes in flight.
            interrupted = True
            self._open.abort_all()
            raise
        finally:
            parker.stop()
            pool.shutdown(wait=not interrupted, cancel_futures=True)
            starttls_pool.shutdown(wait=not interrupted, cancel_futures=True)
        return results
