"""STARTTLS: the plain-text upgrade before the handshake, for services that need it (XMPP, SMTP, ...).

XMPP is spoken here (see `_xmpp_starttls`); the other protocols use sslyze's helpers, each read
bounded by one deadline and one byte budget.
"""

from __future__ import annotations

import io
import re
import socket
import time
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from dualcert.estate.model import Endpoint
from dualcert.probe.observation import Outcome


class ProbeFailure(Exception):
    """Why a probe stopped: raised inside a probe, turned into its Observation's outcome."""

    def __init__(self, outcome: Outcome, detail: str, phase: str, alert: str | None = None, *,
                 dropped: str | None = None, negotiated_version: str | None = None) -> None:
        super().__init__(detail)
        self.outcome, self.detail, self.phase, self.alert = outcome, detail, phase, alert
        self.dropped, self.negotiated_version = dropped, negotiated_version


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
        pass  # SocketIO.close() calls this; the real socket is closed by the probe

    def settimeout(self, value: float | None) -> None:
        pass  # the deadline above governs

    def close(self) -> None:
        pass  # smtplib closes on errors; the real socket is closed by the probe

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()

    def fileno(self) -> int:
        return self._sock.fileno()


def starttls(sock: socket.socket, endpoint: Endpoint, timeout: float) -> None:
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
        raise ProbeFailure(Outcome.TIMEOUT, f"STARTTLS ({protocol}) timed out after {timeout:g}s",
                            "starttls") from None
    except (OpportunisticTlsError, _StarttlsBudget) as exc:
        if "timed out" in str(exc) or "deadline passed" in str(exc):  # smtplib wraps our TimeoutError
            raise ProbeFailure(Outcome.TIMEOUT, f"STARTTLS ({protocol}) timed out after {timeout:g}s",
                                "starttls") from None
        raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): {exc}", "starttls") from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}) failed: {exc}", "starttls") from None


# XMPP STARTTLS (RFC 6120 section 5), written here rather than taken from sslyze: sslyze's helper
# reads the server's stream header and features with one or two single recv() calls, so a server
# that sends them in more segments (a slow link, a large feature list) makes it send <starttls/>
# early and then mistake the rest of the features for the answer. This reads until the element it
# needs is complete, within the STARTTLS deadline and a byte budget.
_XMPP_NAMESPACES = {"xmpp": "jabber:client", "xmpp-server": "jabber:server"}
_XMPP_MAX_BYTES = 64 * 1024
# Whole tags (`_read_until` matches each complete tag once): the end of the features, the end of a
# stream error, the answer to <starttls/>.
_XMPP_FEATURES_END = re.compile(rb"</(?:stream:)?features\s*>|<(?:stream:)?features(?:\s[^>]*)?/>")
_XMPP_ERROR_END = re.compile(rb"</(?:stream:)?error\s*>")
_XMPP_STREAM_ERROR = re.compile(rb"<(?:stream:)?error[\s>].*?</(?:stream:)?error\s*>", re.S)
_XMPP_TLS_ANSWER = re.compile(rb"<(proceed|failure)\b[^>]*>")


def _xmpp_starttls(sock: socket.socket, protocol: str, domain: str, deadline: float) -> None:
    opening = (f"<?xml version='1.0'?><stream:stream xmlns='{_XMPP_NAMESPACES[protocol]}' "
               f"xmlns:stream='http://etherx.jabber.org/streams' to='{xml_escape(domain, {chr(39): '&apos;'})}' "
               "version='1.0'>")
    _send(sock, opening.encode(), deadline)
    features = _read_until(sock, deadline, _XMPP_FEATURES_END, protocol)
    error = _XMPP_STREAM_ERROR.search(features)
    if error:
        condition = re.search(rb"<([a-z-]+)\s+xmlns=['\"]urn:ietf:params:xml:ns:xmpp-streams", error.group())
        name = condition.group(1).decode() if condition else "unspecified"
        hint = f" (the server does not serve XMPP domain {domain!r}: set xmpp_domain on the service)" \
            if name == "host-unknown" else ""
        raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): stream error {name}{hint}", "starttls")
    if b"urn:ietf:params:xml:ns:xmpp-tls" not in features:
        raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): the server does not offer STARTTLS",
                            "starttls")
    _send(sock, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", deadline)
    answer = _read_until(sock, deadline, _XMPP_TLS_ANSWER, protocol)
    found = _XMPP_TLS_ANSWER.search(answer)
    if not found or found.group(1) != b"proceed":
        raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): the server answered <starttls/> "
                            "with a failure", "starttls")


def _send(sock: socket.socket, data: bytes, deadline: float) -> None:
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        sock.sendall(data)
    except TimeoutError:
        raise ProbeFailure(Outcome.TIMEOUT, "STARTTLS timed out while sending", "starttls") from None
    except OSError as exc:
        raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS failed: {exc.strerror or exc}", "starttls") from None


def _read_until(sock: socket.socket, deadline: float, wanted: re.Pattern[bytes], protocol: str) -> bytes:
    """Read until a whole tag matching `wanted`, or the end of a stream error, has arrived; never
    past the deadline or the byte budget. Linear in the bytes received, however they are split:
    each byte is searched for '>' once, and each complete tag is matched once (a server that drips
    its features must not cost a search of everything received after every recv)."""
    buffer = bytearray()
    searched = 0     # bytes already searched for '>'
    tag_from = 0     # where the next tag can start: just after the last '>'
    while True:
        end = buffer.find(b">", searched)
        while end != -1:
            start = buffer.rfind(b"<", tag_from, end)
            tag = bytes(buffer[start:end + 1]) if start != -1 else b""
            tag_from = end + 1
            if tag and (wanted.fullmatch(tag) or _XMPP_ERROR_END.fullmatch(tag)):
                return bytes(buffer)
            end = buffer.find(b">", tag_from)
        searched = len(buffer)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeFailure(Outcome.TIMEOUT, f"STARTTLS ({protocol}) timed out", "starttls")
        if len(buffer) > _XMPP_MAX_BYTES:
            raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): more than {_XMPP_MAX_BYTES} bytes "
                                "without the expected element", "starttls")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            raise ProbeFailure(Outcome.TIMEOUT, f"STARTTLS ({protocol}) timed out", "starttls") from None
        except OSError as exc:
            raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}) failed: {exc.strerror or exc}",
                                "starttls") from None
        if not chunk:
            raise ProbeFailure(Outcome.STARTTLS_FAILED, f"STARTTLS ({protocol}): the server closed the connection",
                                "starttls")
        buffer += chunk
