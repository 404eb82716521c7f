"""One probe: TCP connect, optional STARTTLS, one restricted TLS handshake, the chain as DER.

A probe is a generator (`probe_steps`) that yields a Wait whenever the network must answer, so the
engine can wait for many probes at once without a thread each. Network behaviour never raises:
every failure becomes a typed Outcome of the Observation.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, replace

from OpenSSL import SSL, crypto

from dualcert.estate.model import Endpoint
from dualcert.probe.hello import OfferSpec
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.probe.reproduce import openssl_command
from dualcert.probe.starttls import ProbeFailure, starttls


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Each phase has its own budget; a probe never exceeds their sum."""

    connect: float = 3.0
    starttls: float = 5.0
    handshake: float = 5.0


# The end of a probe's detail when the server dropped the ClientHello without an alert.
DROPPED_HELLO = "without an alert, before answering the ClientHello"

_NOT_TLS_REASONS = ("wrong version number", "packet length too long", "unknown protocol", "http request",
                    "record layer failure", "record_layer_failure", "wrong ssl version", "bad record type",
                    "unexpected record", "decryption failed or bad record mac")
_UNSUPPORTED_REASONS = ("alert protocol version", "unsupported protocol", "tlsv1 alert protocol version",
                        "version too low", "version too high")
# Raised by our own OpenSSL before a byte is sent: a fault of the probe's hello, never the server's.
_LOCAL_REASONS = ("no protocols available", "no ciphers available", "no cipher match", "no suitable signature")


def classify_ssl_error(exc: SSL.Error) -> tuple[Outcome, str, str | None]:
    """Map an OpenSSL error stack to a typed outcome, a readable detail and the alert (if any)."""
    reasons = [str(part[2]) for part in exc.args[0] if isinstance(part, tuple) and len(part) == 3] \
        if exc.args and isinstance(exc.args[0], list) else []
    text = "; ".join(reasons) or str(exc) or type(exc).__name__
    lowered = text.lower()
    if any(r in lowered for r in _LOCAL_REASONS):
        return Outcome.ERROR, f"local: OpenSSL could not build this ClientHello: {text}", None
    if any(r in lowered for r in _UNSUPPORTED_REASONS):
        return Outcome.UNSUPPORTED, text, "protocol_version" if "alert" in lowered else None
    if "alert" in lowered:
        alert = lowered.split("alert", 1)[1].strip().replace(" ", "_") or None
        return Outcome.REFUSED, text, alert
    if any(r in lowered for r in _NOT_TLS_REASONS):
        return Outcome.NOT_TLS, text, None
    if "excessive message size" in lowered:
        return Outcome.ERROR, f"a handshake message of the server exceeds OpenSSL's limit for it: {text}", None
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


def poll(sock: socket.socket, write: bool, seconds: float, *, check: bool = False) -> bool:
    """Wait up to `seconds` for the socket; `check`: look once even when no time is left."""
    if seconds <= 0 and not check:
        return False
    poller = select.poll()
    poller.register(sock, select.POLLOUT if write else select.POLLIN)
    return bool(poller.poll(max(seconds, 0) * 1000))


def _timed_out(phase: str, seconds: float) -> ProbeFailure:
    what = {"connect": "TCP connect", "handshake": "TLS handshake"}.get(phase, phase)
    return ProbeFailure(Outcome.TIMEOUT, f"{what} timed out after {seconds:g}s", phase)


def _connect(endpoint: Endpoint, timeout: float) -> Generator[Wait, bool, socket.socket]:
    try:
        infos = socket.getaddrinfo(endpoint.connect_to, endpoint.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProbeFailure(Outcome.UNRESOLVED, f"cannot resolve {endpoint.connect_to!r}: {exc.strerror}",
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
            raise ProbeFailure(Outcome.CONNECTION_REFUSED, "connection refused (nothing listens on the port)",
                                "connect")
        if code:
            raise ProbeFailure(Outcome.ERROR, f"TCP connect failed: {os.strerror(code)}", "connect")
    except BaseException:
        sock.close()
        raise
    return sock


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
            reset = code in (errno.ECONNRESET, errno.EPIPE)
            if not any(conn.server_random() or b""):
                # No ServerHello: the server dropped our hello, as stacks that predate TLS 1.3
                # often do. A clean close is its refusal; a reset stays an error (a middlebox?).
                # Both make the engine send its control hello (probe/control.py).
                raise ProbeFailure(Outcome.ERROR if reset else Outcome.REFUSED,
                                   f"the server {'reset the connection' if reset else 'closed the connection'} "
                                   f"{DROPPED_HELLO}", "handshake") from None
            if reset:
                raise ProbeFailure(Outcome.ERROR, "connection reset by the server during the handshake",
                                    "handshake") from None
            raise ProbeFailure(Outcome.ERROR, "connection closed by the server during the handshake",
                                "handshake") from None
        except SSL.ZeroReturnError:
            raise ProbeFailure(Outcome.ERROR, "server closed the TLS session during the handshake",
                                "handshake") from None
        except SSL.Error as exc:
            outcome, detail, alert = classify_ssl_error(exc)
            if "excessive message size" in detail and any(conn.server_random() or b"") \
                    and conn.get_peer_certificate() is None:
                # After the ServerHello and before a certificate: the Certificate message is too long.
                # OpenSSL stopped at its first record; the rest of the flight tells its size.
                unread = yield from _drain(sock, MAX_FLIGHT_READ, min(1.0, max(deadline - time.monotonic(), 0)))
                outcome, detail = Outcome.CHAIN_TOO_LARGE, _chain_too_large(unread)
            raise ProbeFailure(outcome, detail, "handshake", alert) from None


# OpenSSL's default certificate-list limit (SSL_CTX_set_max_cert_list, 100 KiB). The Python bindings
# (pyOpenSSL, cryptography's `_lib`) expose no setter and the library they bundle exports no symbol
# to reach it, so a longer chain cannot be read here: it gets its own outcome rather than `error`.
MAX_CERT_LIST = 100 * 1024
# How much of an oversized flight is read to measure it: the bound against a hostile server.
MAX_FLIGHT_READ = 1024 * 1024
_RECORD = 5 + 16 * 1024   # the one record OpenSSL read before it stopped (header + largest plaintext)


def _drain(sock: socket.socket, limit: int, seconds: float) -> Generator[Wait, bool, int]:
    """Count the bytes the server still sends (at most `limit`, within `seconds`, until 0.2 s of quiet)."""
    total, deadline = 0, time.monotonic() + seconds
    while total < limit:
        try:
            chunk = sock.recv(min(65536, limit - total))
        except BlockingIOError:
            if not (yield Wait(sock, False, min(deadline, time.monotonic() + 0.2), "handshake")):
                break
            continue
        except OSError:
            break
        if not chunk:
            break
        total += len(chunk)
    return total


def _chain_too_large(unread: int) -> str:
    size = f"more than {MAX_FLIGHT_READ // 1024:,} KiB" if unread >= MAX_FLIGHT_READ else \
        f"about {(unread + _RECORD) // 1024:,} KiB"
    return (f"the server's Certificate message ({size}, measured from the bytes it sent) is larger than OpenSSL's "
            f"certificate-list limit of {MAX_CERT_LIST:,} bytes (100 KiB, SSL_CTX_set_max_cert_list), which the "
            f"Python bindings cannot raise; clients built on OpenSSL with default settings (curl, Python, most "
            f"agents) fail the same way (OpenSSL: excessive message size)")


def _close_quietly(conn: SSL.Connection) -> None:
    with contextlib.suppress(SSL.Error):
        conn.shutdown()


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
    base = Observation(key, endpoint.host, endpoint.address, endpoint.port, Outcome.ERROR,
                       reproduce=openssl_command(endpoint, spec))
    started = time.monotonic()
    sock: socket.socket | None = None
    connect_ms: float | None = None
    try:
        sock = yield from _connect(endpoint, timeouts.connect)
        if open_sockets is not None:
            open_sockets.add(sock)
        connect_ms = (time.monotonic() - started) * 1000
        if endpoint.service.starttls:
            starttls(sock, endpoint, timeouts.starttls)
        shake_start = time.monotonic()
        conn = yield from _handshake(sock, context, endpoint.sni, timeouts.handshake)
        handshake_ms = (time.monotonic() - shake_start) * 1000
        # The DER as the server sent it: as_cryptography=True would parse each certificate here, in the
        # probe's thread, only for the bytes to be serialized again (the facts parse them once, cached).
        ders = tuple(crypto.dump_certificate(crypto.FILETYPE_ASN1, cert) for cert in conn.get_peer_cert_chain() or ())
        version, cipher = conn.get_protocol_version_name(), conn.get_cipher_name()
        _close_quietly(conn)
        if not ders:
            return replace(base, outcome=Outcome.NO_CERTIFICATE, detail="handshake completed without a certificate",
                           phase="handshake", negotiated_version=version, cipher=cipher,
                           connect_ms=connect_ms, handshake_ms=handshake_ms)
        return replace(base, outcome=Outcome.OK, negotiated_version=version, cipher=cipher, chain_der=ders,
                       connect_ms=connect_ms, handshake_ms=handshake_ms)
    except ProbeFailure as failure:
        return replace(base, outcome=failure.outcome, detail=failure.detail, phase=failure.phase,
                       alert=failure.alert, connect_ms=connect_ms)
    except Exception as exc:  # a probe must never take the run down with it
        return replace(base, outcome=Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}", connect_ms=connect_ms)
    finally:
        if sock is not None:
            if open_sockets is not None:
                open_sockets.discard(sock)
            sock.close()
