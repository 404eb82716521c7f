"""Threads that run the probe engine's handshake steps: a ThreadPoolExecutor without its futures.

The engine submits a probe's next step each time its server answers (about four per probe) and
never waits on the call: the step reports its own end. ThreadPoolExecutor made a Future (a
Condition, an RLock, a deque) for each of those 240,000 calls at 10,000 endpoints, and set its
result for nobody. Threads start when there is work and none is idle, up to `threads`, as there.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = None   # a thread's signal to end


class Workers:
    def __init__(self, threads: int, name: str) -> None:
        self.limit, self.name = threads, name
        self._calls: queue.SimpleQueue[tuple[Callable[[Any], None], Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._stopped = False

    def submit(self, call: Callable[[Any], None], argument: Any) -> None:
        """Run `call(argument)` on one of the threads. RuntimeError once shut down."""
        if self._stopped:
            raise RuntimeError(f"{self.name}: shut down")
        self._calls.put((call, argument))
        with self._lock:
            if self._idle > 0 or len(self._threads) >= self.limit:
                return
            thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._calls.get()
            with self._lock:
                self._idle -= 1
            if item is _STOP:
                return
            call, argument = item
            call(argument)   # a step catches its own errors: it reports them as the probe's end

    def shutdown(self, *, wait: bool) -> None:
        """No more calls: the queued ones are dropped, the running ones finish (waited for if `wait`)."""
        self._stopped = True
        while True:
            try:
                self._calls.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._calls.put(_STOP)
        if wait:
            for thread in threads:
                thread.join()
