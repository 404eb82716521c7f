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


class _Dropped(Exception):
    """The server ended the TCP connection ("reset" or "closed") before the handshake completed."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class _Wire:
    """The probe's socket under a memory-BIO TLS connection. Every byte of the server passes here, so
    what the server did is known exactly, whatever the timing: its first bytes, how many it sent, and
    whether it ended the connection with a reset or a close (a socket OpenSSL reads itself reports a
    reset as a close once another call has taken the error)."""

    __slots__ = ("deadline", "first", "received", "sock", "timeout")

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock, self.timeout = sock, timeout
        self.deadline = time.monotonic() + timeout
        self.first = b""          # the server's first bytes, for telling what a non-TLS answer is
        self.received = 0

    def flush(self, conn: SSL.Connection) -> Generator[Wait, bool, None]:
        """Send what OpenSSL has written (the ClientHello, later the Finished)."""
        while True:
            try:
                data = conn.bio_read(65536)
            except SSL.WantReadError:
                return
            view = memoryview(data)
            while view:
                try:
                    view = view[self.sock.send(view, socket.MSG_NOSIGNAL):]
                except BlockingIOError:
                    if not (yield Wait(self.sock, True, self.deadline, "handshake")):
                        raise _timed_out("handshake", self.timeout) from None
                except ConnectionResetError:
                    raise _Dropped("reset") from None
                except BrokenPipeError:
                    # The first error a closed (FIN) connection reports when our data then met its reset.
                    raise _Dropped("closed") from None

    def receive(self, conn: SSL.Connection) -> Generator[Wait, bool, None]:
        """Wait for the server's next bytes and hand them to OpenSSL."""
        while True:
            if not (yield Wait(self.sock, False, self.deadline, "handshake")):
                raise _timed_out("handshake", self.timeout)
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                raise _Dropped("reset") from None
            except OSError as exc:
                raise ProbeFailure(Outcome.ERROR, f"receiving from the server failed: {exc.strerror or exc}",
                                   "handshake") from None
            if not data:
                raise _Dropped("closed")
            if len(self.first) < SNIFF_BYTES:
                self.first += data[:SNIFF_BYTES - len(self.first)]
            self.received += len(data)
            conn.bio_write(data)
            return


def _handshake(sock: socket.socket, context: SSL.Context, sni: str | None,
               timeout: float) -> Generator[Wait, bool, SSL.Connection]:
    sock.setblocking(False)
    wire = _Wire(sock, timeout)
    conn = SSL.Connection(context, None)   # memory BIOs: the socket I/O is _Wire's
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
    except _Dropped as dropped:
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
            unread = yield from _drain(sock, MAX_FLIGHT_READ, min(1.0, max(wire.deadline - time.monotonic(), 0)))
            outcome, detail = Outcome.CHAIN_TOO_LARGE, _chain_too_large(wire.received + unread)
        raise ProbeFailure(outcome, detail, "handshake", alert,
                           negotiated_version=_server_hello_version(conn) if alert else None) from None


def _server_hello_version(conn: SSL.Connection) -> str | None:
    """The version of the ServerHello the client accepted, None before one arrived."""
    return conn.get_protocol_version_name() if any(conn.server_random() or b"") else None


def _ended(conn: SSL.Connection, wire: _Wire, how: str) -> ProbeFailure:
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


# How much of the server's first answer is kept to say what it is when it is not TLS.
SNIFF_BYTES = 32
_SNIFF = ((b"HTTP/", "an HTTP response"), (b"SSH-", "an SSH banner"), (b"<?xml", "XML (XMPP without TLS?)"),
          (b"<stream", "an XMPP stream"), (b"+OK", "a POP3 greeting"), (b"* OK", "an IMAP greeting"),
          (b"RFB ", "a VNC banner"))


def looks_like_tls(first: bytes) -> bool:
    """The start of a TLS record header: content type 20-23, then major version 3."""
    return 20 <= first[0] <= 23 and (len(first) < 2 or first[1] == 3)


def not_tls_detail(first: bytes, reason: str) -> str:
    """What a port that does not speak TLS answered, from its first bytes (None: nothing was read)."""
    if not first:
        return f"the server's answer is not TLS ({reason})"
    what = next((name for prefix, name in _SNIFF if first.startswith(prefix)), None)
    if what is None and first[:3].isdigit() and first[3:4] in (b" ", b"-"):
        what = "a numbered text reply (SMTP, FTP?)"
    if what is None:
        text = all(32 <= b < 127 or b in (9, 10, 13) for b in first)
        what = "plain text" if text else "binary data"
    return f"the server answered with {what}, not TLS: {first!r} ({reason})"


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
