"""Serving conformance cases over real TLS: one listener per case on 127.0.0.1 (stdlib ssl, OpenSSL
underneath), all accepted by one thread, each handshake on a short thread of its own. A case whose key or
certificate OpenSSL refuses to load is not servable, and says why."""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from .case import Case

HANDSHAKE_TIMEOUT = 10.0


class Servers:
    """`with Servers(cases, folder) as servers:` serves every servable case; `servers.ports[id]` is its
    port, `servers.refused[id]` why OpenSSL would not serve it. Everything is closed on exit."""

    def __init__(self, cases: Sequence[Case], folder: Path) -> None:
        self.cases, self.folder = cases, folder
        self.ports: dict[str, int] = {}
        self.refused: dict[str, str] = {}
        self._listeners: list[tuple[socket.socket, ssl.SSLContext]] = []
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="conformance-servers", daemon=True)
        self._handshakes: list[threading.Thread] = []

    def __enter__(self) -> Servers:
        for case in self.cases:
            context = self._context(case)
            if context is None:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(16)
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, context)
            self._listeners.append((sock, context))
            self.ports[case.id] = sock.getsockname()[1]
        self._thread.start()
        return self

    def _context(self, case: Case) -> ssl.SSLContext | None:
        if case.key_pem is None:
            self.refused[case.id] = "no private key for the leaf"
            return None
        folder = self.folder / case.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "chain.pem").write_bytes(case.pem(case.chain))
        (folder / "key.pem").write_bytes(case.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ALL:@SECLEVEL=0")   # weak keys and SHA-1 chains are cases, not errors
        try:
            context.load_cert_chain(folder / "chain.pem", folder / "key.pem")
        except (ssl.SSLError, ValueError) as exc:
            self.refused[case.id] = f"OpenSSL refuses to serve it: {exc}"
            return None
        return context

    def _accept(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                sock: socket.socket = key.fileobj   # type: ignore[assignment]
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                worker = threading.Thread(target=self._handshake, args=(conn, key.data), daemon=True)
                worker.start()
                self._handshakes = [t for t in self._handshakes if t.is_alive()] + [worker]

    @staticmethod
    def _handshake(conn: socket.socket, context: ssl.SSLContext) -> None:
        conn.settimeout(HANDSHAKE_TIMEOUT)
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)   # until the client closes: it has what it came for
        except (OSError, ssl.SSLError, ValueError):
            pass   # a refused offer or an early close is the client's business
        finally:
            conn.close()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for sock, _ in self._listeners:
            self._selector.unregister(sock)
            sock.close()
        self._selector.close()
        for worker in self._handshakes:
            worker.join(HANDSHAKE_TIMEOUT + 1)
