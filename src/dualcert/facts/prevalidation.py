"""Path validation of a large run's chains in a second process, ahead of the tests that ask for it.

The tests run on one core; path validation is most of their work at scale (a 10,000-endpoint run has
20,000 chains, and verifying a P-384 signature alone takes ~0.5 ms) and cryptography holds the GIL
while it verifies, so a thread would not help. A child process (`python -m dualcert.facts.prevalidation`)
validates the chains in the order the tests will ask, with the same TrustStore code, and sends each
result back; TrustStore.validate() takes a result that has arrived instead of computing it, and computes
it itself when the child is behind or gone. The verdicts are the same either way (tests/test_path_validation.py).
Only the child's answers cross the pipe: trusted or not, the reason, the cause, and which of the chain's or
the bundle's certificates make the path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

# Fewer distinct chains than this are validated in place. Measured on 2 cores: 400 chains (200 endpoints)
# ran 0.15 s faster of 2.6 s with the child (its start costs ~0.3 s of the other core), 100 chains no faster.
MIN_CHAINS = 300
BATCH = 200   # results per message from the child
# What one chain's validation sends back: (trusted, detail, cause, path) where each path entry is the
# index of a chain certificate, or -1 - i for the bundle's i-th certificate.
Compact = tuple[bool | None, str, str, tuple[int, ...]]


class Prevalidation:
    """The child process validating `chains` at `now` against the bundle `anchors` (DER), and the results
    it has sent so far. `take(chain)` hands one over (once); `close()` ends the child."""

    def __init__(self, anchors: Sequence[bytes], chains: Sequence[tuple[bytes, ...]], now: dt.datetime) -> None:
        self.now = now
        self._ready: dict[tuple[bytes, ...], Compact] = {}
        self._chains = list(chains)
        self.taken = 0
        self._proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, name="dualcert-prevalidation", daemon=True)
        self._reader.start()
        job = (list(anchors), now, self._chains)
        self._sender = threading.Thread(target=self._send, args=(job,), name="dualcert-prevalidation-send",
                                        daemon=True)
        self._sender.start()

    def _send(self, job: Any) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        # OSError: the child is gone (the tests validate in place); ValueError: closed by close() meanwhile.
        with contextlib.suppress(OSError, ValueError):
            pickle.dump(job, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.close()

    def _read(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        with contextlib.suppress(EOFError, OSError, pickle.UnpicklingError):
            while True:
                for index, compact in pickle.load(stdout):
                    self._ready[self._chains[index]] = compact

    def take(self, chain: tuple[bytes, ...]) -> Compact | None:
        found = self._ready.pop(chain, None)
        if found is not None:
            self.taken += 1
        return found

    def wait(self, timeout: float) -> bool:
        """Until the child has sent everything (True) or `timeout` seconds passed (False)."""
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._sender.join(5)
        self._reader.join(5)
        for stream in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


def worth_it(chains: int, at_least: int = MIN_CHAINS) -> bool:
    """A second process pays with enough chains, and a second core to run it on."""
    return chains >= at_least and (os.cpu_count() or 1) > 1


def compact(path_ders: Sequence[bytes], chain: Sequence[bytes], anchors: dict[bytes, int]) -> tuple[int, ...]:
    """The path as indexes: into the chain, else -1 - the bundle's index."""
    in_chain = {der: i for i, der in enumerate(chain)}
    return tuple(in_chain[der] if der in in_chain else -1 - anchors[der] for der in path_ders)


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    from dualcert.facts.trust import TrustStore

    anchor_ders, now, chains = pickle.load(stdin)
    store = TrustStore(tuple(x509.load_der_x509_certificate(d) for d in anchor_ders), "prevalidation")
    anchors = {der: i for i, der in enumerate(anchor_ders)}
    batch: list[tuple[int, Compact]] = []
    for index, chain in enumerate(chains):
        found = store.validate(chain, now)
        batch.append((index, (found.trusted, found.detail, found.cause.value,
                              compact([c.der for c in found.path], chain, anchors))))
        if len(batch) >= BATCH or index == len(chains) - 1:
            pickle.dump(batch, stdout, protocol=pickle.HIGHEST_PROTOCOL)
            stdout.flush()
            batch = []


def anchor_ders(certs: Sequence[x509.Certificate]) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, EOFError, KeyboardInterrupt):   # the run ended before the child
        _serve(sys.stdin.buffer, sys.stdout.buffer)
