"""The probe's side of the wire: the socket under a memory-BIO TLS connection, what a probe step waits
for, and what a server's first bytes say when they are not TLS. Every byte the server sends passes
through `Wire`, so what the server did (answered, with what, reset or closed) is known exactly."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Generator
from dataclasses import dataclass

from OpenSSL import SSL

from dualcert.probe.observation import Observation, Outcome
from dualcert.probe.starttls import ProbeFailure


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


def timed_out(phase: str, seconds: float) -> ProbeFailure:
    what = {"connect": "TCP connect", "handshake": "TLS handshake"}.get(phase, phase)
    return ProbeFailure(Outcome.TIMEOUT, f"{what} timed out after {seconds:g}s", phase)


class Dropped(Exception):
    """The server ended the TCP connection ("reset" or "closed") before the handshake completed."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class Wire:
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
                        raise timed_out("handshake", self.timeout) from None
                except ConnectionResetError:
                    raise Dropped("reset") from None
                except BrokenPipeError:
                    # The first error a closed (FIN) connection reports when our data then met its reset.
                    raise Dropped("closed") from None

    def receive(self, conn: SSL.Connection) -> Generator[Wait, bool, None]:
        """Wait for the server's next bytes and hand them to OpenSSL."""
        while True:
            if not (yield Wait(self.sock, False, self.deadline, "handshake")):
                raise timed_out("handshake", self.timeout)
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                raise Dropped("reset") from None
            except OSError as exc:
                raise ProbeFailure(Outcome.ERROR, f"receiving from the server failed: {exc.strerror or exc}",
                                   "handshake") from None
            if not data:
                raise Dropped("closed")
            if len(self.first) < SNIFF_BYTES:
                self.first += data[:SNIFF_BYTES - len(self.first)]
            self.received += len(data)
            conn.bio_write(data)
            return


def drain(sock: socket.socket, limit: int, seconds: float) -> Generator[Wait, bool, int]:
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


# How much of an oversized flight is read to measure it: the bound against a hostile server.
MAX_FLIGHT_READ = 1024 * 1024


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
