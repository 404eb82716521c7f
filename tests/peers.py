"""Misbehaving TCP peers on loopback, for typed-outcome tests. Each runs in a daemon thread,
serves until stopped, and bounds its own work (connections, bytes, time)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

Handler = Callable[[socket.socket], None]


@contextlib.contextmanager
def tcp_peer(handler: Handler, *, host: str = "127.0.0.1", max_connections: int = 64,
             hold_seconds: float = 30.0) -> Iterator[int]:
    """Listen on a free port; run `handler` per connection (bounded in count and time)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        served = 0
        while not stop.is_set() and served < max_connections:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            served += 1
            held.append(conn)
            conn.settimeout(hold_seconds)
            threading.Thread(target=_guarded, args=(handler, conn), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
        for conn in held:
            with contextlib.suppress(OSError):
                conn.close()


def _guarded(handler: Handler, conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        handler(conn)


def tarpit(conn: socket.socket) -> None:
    """Accept and never answer (the socket stays open until the peer stops)."""
    with contextlib.suppress(OSError):
        conn.recv(65536)
        conn.recv(65536)


def http_plaintext(conn: socket.socket) -> None:
    """Answer whatever arrives with a plain HTTP error, like a web server without TLS."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def closed_port() -> int:
    """A port on which nothing listens (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- hostile peers (issue 7) -------------------------------------------------------------
# Each is a `Handler` for `tcp_peer`; every loop is bounded in bytes and seconds.

def random_bytes(conn: socket.socket) -> None:
    """Answer the ClientHello with 4 KiB of (seeded, so reproducible) noise."""
    import random

    conn.recv(65536)
    conn.sendall(random.Random(7).randbytes(4096))


def reset_after_client_hello(conn: socket.socket) -> None:
    """Read the ClientHello, then abort with a TCP RST (SO_LINGER 0), like a dropping middlebox."""
    import struct

    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def reset_at_accept(conn: socket.socket) -> None:
    """Abort with a TCP RST as soon as the connection is accepted: a dead service behind a load balancer.
    The RST meets the probe at connect, at its hello or at its first read, as timing has it."""
    import struct

    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def close_after_client_hello(conn: socket.socket) -> None:
    """Read the ClientHello, then close (FIN) without a byte of answer."""
    conn.recv(65536)
    conn.close()


def close_at_once(conn: socket.socket) -> None:
    """Accept and close (FIN) before a byte is exchanged."""
    conn.close()


def tls_alert(conn: socket.socket) -> None:
    """Answer with a fatal handshake_failure alert record, as a server with no matching certificate does."""
    conn.recv(65536)
    conn.sendall(bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]))


def drip(conn: socket.socket, *, payload: bytes = bytes([0x16, 0x03, 0x03, 0x40, 0x00]) + b"\x02" * 20,
         interval: float = 1.0) -> None:
    """Send one byte per `interval` seconds (at most len(payload) bytes): a slowloris server."""
    import time

    conn.recv(65536)
    for byte in payload:
        conn.sendall(bytes([byte]))
        time.sleep(interval)


def endless_plaintext(conn: socket.socket, *, limit: int = 8 * 1024 * 1024) -> None:
    """Stream text without end (bounded at `limit` bytes): a STARTTLS peer that never stops talking."""
    chunk = b"<stream:stream xmlns='jabber:client'>" * 100
    sent = 0
    while sent < limit:
        conn.sendall(chunk)
        sent += len(chunk)


def smtp_endless_ehlo(conn: socket.socket, *, limit: int = 8 * 1024 * 1024) -> None:
    """An SMTP server whose EHLO reply continues forever ('250-...' lines; smtplib reads them all)."""
    conn.sendall(b"220 hostile ESMTP\r\n")
    conn.recv(4096)
    line, sent = b"250-PIPELINING\r\n", 0
    while sent < limit:
        conn.sendall(line * 256)
        sent += len(line) * 256


def xmpp_no_proceed(conn: socket.socket) -> None:
    """XMPP that offers STARTTLS, then never answers the <starttls/> request."""
    conn.recv(4096)
    conn.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><stream:features>"
                 b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>")
    conn.recv(4096)
    conn.recv(4096)  # hold: the client's deadline must end this, not us


def xmpp_failure(conn: socket.socket) -> None:
    """XMPP that refuses the upgrade with <failure/>."""
    conn.recv(4096)
    conn.sendall(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                 b"version='1.0'><stream:features/></stream:features>")
    conn.recv(4096)
    conn.sendall(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>")


def _client_cipher(hello: bytes) -> bytes:
    """The first real cipher suite of a TLS ClientHello record (skipping SCSVs)."""
    body = hello[5 + 4:]                       # record header, handshake header
    sid_len = body[34]
    offset = 35 + sid_len
    count = int.from_bytes(body[offset:offset + 2], "big")
    suites = body[offset + 2:offset + 2 + count]
    for index in range(0, len(suites), 2):
        suite = suites[index:index + 2]
        if suite not in (b"\x00\xff", b"\x56\x00"):
            return suite
    return suites[:2]


def _record(handshake_type: int, body: bytes) -> bytes:
    message = bytes([handshake_type]) + len(body).to_bytes(3, "big") + body
    return bytes([0x16, 0x03, 0x03]) + len(message).to_bytes(2, "big") + message


def server_hello(hello: bytes) -> bytes:
    """A TLS 1.2 ServerHello echoing the client's first suite, with renegotiation_info so
    OpenSSL goes on to read the next message."""
    extensions = bytes([0xFF, 0x01, 0x00, 0x01, 0x00])
    body = (b"\x03\x03" + bytes(range(32)) + b"\x00" + _client_cipher(hello) + b"\x00"
            + len(extensions).to_bytes(2, "big") + extensions)
    return _record(0x02, body)


def certificate_message(ders: list[bytes]) -> bytes:
    certs = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    return _record(0x0B, len(certs).to_bytes(3, "big") + certs)


def _read_client_hello(conn: socket.socket) -> bytes:
    data = b""
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        chunk = conn.recv(65536)
        if not chunk or len(data) > 1 << 17:
            raise OSError("no ClientHello")
        data += chunk
    return data


def close_after_server_hello(conn: socket.socket) -> None:
    """A real ServerHello, then FIN: a server that dies mid-handshake."""
    conn.sendall(server_hello(_read_client_hello(conn)))
    conn.close()


def malformed_certificate(conn: socket.socket) -> None:
    """ServerHello, then a Certificate message whose certificate is not valid DER."""
    hello = _read_client_hello(conn)
    garbage = b"\x30\x82\x01\x00" + b"\x02\x01\x00" + b"\xde\xad\xbe\xef" * 63 + b"\x00"
    conn.sendall(server_hello(hello) + certificate_message([garbage]))
    conn.recv(4096)


def smtp_drip(conn: socket.socket, *, interval: float = 0.2, limit: int = 300) -> None:
    """An SMTP banner that never ends, one byte per `interval` (at most `limit` bytes): each
    read returns a byte, so only a deadline over the whole upgrade ends it."""
    import time

    banner = (b"220-hostile.example.test ESMTP " + b"." * limit)[:limit]
    for byte in banner:
        conn.sendall(bytes([byte]))
        time.sleep(interval)


def smtp_evil_reply(conn: socket.socket) -> None:
    """An SMTP server whose rejection carries terminal escape sequences (a server string)."""
    conn.sendall(b"220 hostile ESMTP\r\n")
    conn.recv(4096)
    conn.sendall(b"554 \x1b]2;server-pwned\x07\x1b[2Jgo away\r\n")
    conn.recv(4096)
