"""One probe: TCP connect, optional STARTTLS, one restricted TLS handshake, the chain as DER.

A probe is a generator (`probe_steps`) that yields a Wait whenever the network must answer, so the
engine can wait for many probes at once without a thread each. Network behaviour never raises:
every failure becomes a typed Outcome of the Observation.
"""

from __future__ import annotations

import contextlib
import errno
import os
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
from dualcert.probe.wire import (
    MAX_FLIGHT_READ,
    Dropped,
    ProbeSteps,
    Wait,
    Wire,
    drain,
    looks_like_tls,
    not_tls_detail,
    timed_out,
)


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Each phase has its own budget; a probe never exceeds their sum."""

    connect: float = 3.0
    starttls: float = 5.0
    handshake: float = 5.0


# How a probe's detail says the server ended the connection before it had any TLS answer.
NO_SERVER_HELLO = "without an alert, before any ServerHello"

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
                raise timed_out("connect", timeout)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code in (errno.ECONNRESET, errno.EPIPE):
            # Accepted, then reset before our hello: the same server behaviour as a reset that meets
            # the hello, and typed the same (which of the two a probe sees is timing).
            raise ProbeFailure(Outcome.NO_TLS_ANSWER, f"the server reset the connection {NO_SERVER_HELLO}",
                               "handshake", dropped="reset")
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
    sock.setblocking(False)
    wire = Wire(sock, timeout)
    conn = SSL.Connection(context, None)   # memory BIOs: the socket I/O is Wire's
    if sni:
        conn.set_tlsext_host_name(sni.encode("idna"))
    conn.set_connect_state()
    try:
        while True:
            try:
                conn.do_handshake()
                yield from wire.flush(conn)
                return conn
            except SSL.WantReadError:
                yield from wire.flush(conn)
                yield from wire.receive(conn)
    except Dropped as dropped:
        raise _ended(conn, wire, dropped.how) from None
    except SSL.ZeroReturnError:
        if conn.get_peer_certificate() is None:
            raise ProbeFailure(Outcome.REFUSED, "the server closed the TLS session (close_notify) before any "
                               "certificate", "handshake", "close_notify",
                               negotiated_version=_server_hello_version(conn)) from None
        raise ProbeFailure(Outcome.ERROR, "the server closed the TLS session during the handshake, after its "
                           "certificate", "handshake") from None
    except SSL.Error as exc:
        outcome, detail, alert = classify_ssl_error(exc)
        if outcome is Outcome.NOT_TLS:
            detail = not_tls_detail(wire.first, detail)
        elif "excessive message size" in detail and _server_hello_version(conn) \
                and conn.get_peer_certificate() is None:
            # After the ServerHello and before a certificate: the Certificate message is too long.
            # What the server still sends tells its size.
            unread = yield from drain(sock, MAX_FLIGHT_READ, min(1.0, max(wire.deadline - time.monotonic(), 0)))
            outcome, detail = Outcome.CHAIN_TOO_LARGE, _chain_too_large(wire.received + unread)
        raise ProbeFailure(outcome, detail, "handshake", alert,
                           negotiated_version=_server_hello_version(conn) if alert else None) from None


def _server_hello_version(conn: SSL.Connection) -> str | None:
    """The version of the ServerHello the client accepted, None before one arrived."""
    return conn.get_protocol_version_name() if any(conn.server_random() or b"") else None


def _ended(conn: SSL.Connection, wire: Wire, how: str) -> ProbeFailure:
    """The server ended the connection, without an alert, before the handshake completed."""
    verb = "reset" if how == "reset" else "closed"
    version = _server_hello_version(conn)
    if version is None:
        if wire.first and not looks_like_tls(wire.first):
            return ProbeFailure(Outcome.NOT_TLS, not_tls_detail(wire.first, f"then {verb} the connection"),
                                "handshake")
        if wire.received:
            return ProbeFailure(Outcome.ERROR, f"the server {verb} the connection in the middle of its first TLS "
                                f"answer ({wire.received} bytes)", "handshake")
        return ProbeFailure(Outcome.NO_TLS_ANSWER, f"the server {verb} the connection {NO_SERVER_HELLO}",
                            "handshake", dropped=how)
    if conn.get_peer_certificate() is None:
        return ProbeFailure(Outcome.ERROR, f"the server sent its {version} ServerHello, then {verb} the "
                            "connection without an alert, before any certificate", "handshake", dropped=how,
                            negotiated_version=version)
    return ProbeFailure(Outcome.ERROR, f"the server {verb} the connection during the handshake, after its "
                        "certificate", "handshake", negotiated_version=version)


# OpenSSL's default certificate-list limit (SSL_CTX_set_max_cert_list, 100 KiB). The Python bindings
# (pyOpenSSL, cryptography's `_lib`) expose no setter and the library they bundle exports no symbol
# to reach it, so a longer chain cannot be read here: it gets its own outcome rather than `error`.
MAX_CERT_LIST = 100 * 1024


def _chain_too_large(sent: int) -> str:
    size = f"more than {MAX_FLIGHT_READ // 1024:,} KiB" if sent >= MAX_FLIGHT_READ else f"about {sent // 1024:,} KiB"
    return (f"the server's Certificate message ({size}, measured from the bytes it sent) is larger than OpenSSL's "
            f"certificate-list limit of {MAX_CERT_LIST:,} bytes (100 KiB, SSL_CTX_set_max_cert_list), which the "
            f"Python bindings cannot raise; clients built on OpenSSL with default settings (curl, Python, most "
            f"agents) fail the same way (OpenSSL: excessive message size)")


def _close_quietly(conn: SSL.Connection, sock: socket.socket) -> None:
    """Send close_notify, if the socket takes it at once: the probe has what it came for."""
    with contextlib.suppress(SSL.Error, OSError):
        conn.shutdown()
        sock.send(conn.bio_read(4096), socket.MSG_NOSIGNAL)


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
        _close_quietly(conn, sock)
        if not ders:
            return replace(base, outcome=Outcome.NO_CERTIFICATE, detail="handshake completed without a certificate",
                           phase="handshake", negotiated_version=version, cipher=cipher,
                           connect_ms=connect_ms, handshake_ms=handshake_ms)
        return replace(base, outcome=Outcome.OK, negotiated_version=version, cipher=cipher, chain_der=ders,
                       connect_ms=connect_ms, handshake_ms=handshake_ms)
    except ProbeFailure as failure:
        return replace(base, outcome=failure.outcome, detail=failure.detail, phase=failure.phase,
                       alert=failure.alert, dropped=failure.dropped, negotiated_version=failure.negotiated_version,
                       connect_ms=connect_ms)
    except Exception as exc:  # a probe must never take the run down with it
        return replace(base, outcome=Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}", connect_ms=connect_ms)
    finally:
        if sock is not None:
            if open_sockets is not None:
                open_sockets.discard(sock)
            sock.close()
