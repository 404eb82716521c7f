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
