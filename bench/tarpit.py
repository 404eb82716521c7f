"""Bench-local tarpits: listen on loopback ports, accept, never answer.

Run as its own process (so it takes no GIL from the measured client):
    python bench/tarpit.py --count 20 --seconds 120
prints the ports as one JSON line, then holds every connection until the peer leaves or
`--seconds` pass (bounded in time and connections), and exits.
"""

from __future__ import annotations

import argparse
import json
import selectors
import signal
import socket
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True, help="tarpit ports to open")
    parser.add_argument("--seconds", type=float, default=300.0, help="lifetime bound")
    parser.add_argument("--max-connections", type=int, default=20000, help="connections held at most")
    ns = parser.parse_args()
    selector = selectors.DefaultSelector()
    ports = []
    for _ in range(ns.count):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(128)
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ, "listen")
        ports.append(server.getsockname()[1])
    print(json.dumps({"ports": ports}), flush=True)
    deadline, held = time.monotonic() + ns.seconds, 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while time.monotonic() < deadline and not stop:
        for key, _ in selector.select(timeout=0.5):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            if key.data == "listen":
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                held += 1
                if held > ns.max_connections:
                    conn.close()
                    continue
                conn.setblocking(False)
                selector.register(conn, selectors.EVENT_READ, "held")
            else:  # read and drop what the client sends; close when it leaves
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    sock.close()
    # How many connections the tarpits saw: the bench checks each tarpit endpoint cost one probe.
    print(json.dumps({"accepted": held}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
