"""SIGTERM ends a run like Ctrl-C, for `dualcert run` (the plugin) and `dualcert lab` alike."""

from __future__ import annotations

import contextlib
import signal


def sigterm_interrupts() -> None:
    """SIGTERM (a CI timeout, `kill`) raises KeyboardInterrupt, so results are still written and
    the lab's servers and keys are removed."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave signals alone
        signal.signal(signal.SIGTERM, interrupt)
