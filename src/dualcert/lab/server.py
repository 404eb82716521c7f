"""Real TLS servers on loopback for the lab: one listening socket per endpoint, one
selector thread accepting for all of them, a small pool doing the handshakes."""

from __future__ import annotations

import contextlib
import select
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from OpenSSL import SSL

_XMPP_FEATURES = (
    "<?xml version='1.0'?><stream:stream xmlns='{ns}' xmlns:stream='http://etherx.jabber.org/streams' "
    "id='dualcert-lab' from='{domain}' version='1.0'>"
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
)
_XMPP_PROCEED = b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
_MAX_PREAMBLE = 16384


@dataclass
class ServedEndpoint:
    """One listening service: its TLS context and, for STARTTLS, the plain-text upgrade to speak."""

    context: SSL.Context
    starttls: str | None = None      # None | "xmpp" | "xmpp-server"
    domain: str = "lab.invalid"
    host: str = "127.0.0.1"
    port: int = 0                    # 0: the OS picks a free port at start
    sock: socket.socket | None = None
    preferred_port: int = 0          # with port 0: try this one first (a kept lab's last port), else any
    sigalgs_preference: str = ""     # what `context` was given (OpenSSL cannot read it back): its TLS 1.3 order


class LabServer:
    """Serves every endpoint until `stop()` (also on leaving a `with` block)."""

    def __init__(self, endpoints: list[ServedEndpoint], *, workers: int = 32, io_timeout: float = 5.0) -> None:
        self.endpoints = endpoints
        self.io_timeout = io_timeout
        self._selector = selectors.DefaultSelector()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dualcert-lab")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LabServer:
        for endpoint in self.endpoints:
            family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((endpoint.host, endpoint.port or endpoint.preferred_port))
            except OSError:
                if endpoint.port or not endpoint.preferred_port:
                    sock.close()
                    raise
                sock.bind((endpoint.host, 0))  # the kept port is taken now: any free one
            sock.listen(512)
            sock.setblocking(False)
            endpoint.sock, endpoint.port = sock, sock.getsockname()[1]
            self._selector.register(sock, selectors.EVENT_READ, endpoint)
        self._thread = threading.Thread(target=self._accept_loop, name="dualcert-lab-accept", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for endpoint in self.endpoints:
            if endpoint.sock is not None:
                endpoint.sock.close()
        self._selector.close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                endpoint: ServedEndpoint = key.data
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                self._pool.submit(self._serve, conn, endpoint)

    def _serve(self, sock: socket.socket, endpoint: ServedEndpoint) -> None:
        deadline = time.monotonic() + self.io_timeout
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if endpoint.starttls:
                sock.settimeout(self.io_timeout)
                _xmpp_upgrade(sock, endpoint)
            sock.setblocking(False)
            conn = SSL.Connection(endpoint.context, sock)
            conn.set_accept_state()
            _drive(conn, sock, conn.do_handshake, deadline)
            with contextlib.suppress(SSL.Error):
                conn.shutdown()
        except (OSError, SSL.Error, TimeoutError, ValueError):
            pass  # a client that gives up is normal in the lab
        finally:
            sock.close()


def _drive(conn: SSL.Connection, sock: socket.socket, operation: object, deadline: float) -> None:
    while True:
        try:
            operation()  # type: ignore[operator]
            return
        except SSL.WantReadError:
            events = select.POLLIN
        except SSL.WantWriteError:
            events = select.POLLOUT
        remaining = deadline - time.monotonic()
        poller = select.poll()
        poller.register(sock, events)
        if remaining <= 0 or not poller.poll(remaining * 1000):
            raise TimeoutError("lab handshake timed out")


def _read_until(sock: socket.socket, marker: bytes, buffer: bytes = b"") -> bytes:
    while marker not in buffer:
        chunk = sock.recv(4096)
        if not chunk or len(buffer) > _MAX_PREAMBLE:
            raise ValueError("client left the XMPP preamble")
        buffer += chunk
    return buffer


def _xmpp_upgrade(sock: socket.socket, endpoint: ServedEndpoint) -> None:
    """Just enough XMPP (RFC 6120 section 5) to offer and accept STARTTLS."""
    opening = _read_until(sock, b"<stream:stream")
    opening = _read_until(sock, b">", opening.split(b"<stream:stream", 1)[1])
    namespace = "jabber:server" if endpoint.starttls == "xmpp-server" else "jabber:client"
    sock.sendall(_XMPP_FEATURES.format(ns=namespace, domain=endpoint.domain).encode())
    request = _read_until(sock, b"<starttls", opening.split(b">", 1)[1])
    _read_until(sock, b">", request.split(b"<starttls", 1)[1])
    sock.sendall(_XMPP_PROCEED)
