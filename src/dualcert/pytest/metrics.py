"""Writes `--metrics FILE` once the results JSON is written (render.metrics), atomically: node_exporter's
textfile collector reads only `*.prom` files, so the temporary file beside it is never read half-written."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from dualcert.pytest.state import WRITER_KEY
from dualcert.render.metrics import metrics_text
from dualcert.render.results import atomic_write


class MetricsFile:
    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config, self.path = config, path

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, Any, Any]:
        result = yield
        writer = self.config.stash.get(WRITER_KEY, None)
        if writer is None or not writer.run:
            return result
        try:
            previous: str | None = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            previous = None  # the first run, or an unreadable file: no last compliant time to carry
        document = {"run": writer.run, "probes": writer.probes}
        atomic_write(self.path, metrics_text(document, previous, writer.tests.rule_status))
        return result
