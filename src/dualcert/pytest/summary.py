"""The verdict after pytest's closing line: each cluster's diagnosis, the simulated clients that would
break, failures and warnings grouped by cause and certificate, and the report paths (render.summary), for
CI logs where it is all a reader has."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from dualcert.pytest import helptext, parts
from dualcert.pytest.html import HtmlReport
from dualcert.pytest.report import client_break_lines
from dualcert.pytest.state import WRITER_KEY, run_of, strict
from dualcert.render.summary import DEFAULT_LINES, summary_lines

MODES = ("auto", "full", "short", "off")


def add_options(group: Any) -> None:
    group.addoption("--dualcert-summary", choices=MODES, default="auto",
                    help=f"the verdict after pytest's line: short (at most {DEFAULT_LINES} lines), full, off; "
                         "auto (default): short, full with -v")
    group.addoption("--metrics", metavar="FILE", help=helptext.METRICS)


def mode(config: pytest.Config) -> str:
    chosen = str(config.getoption("dualcert_summary", "auto"))
    if chosen == "auto":
        return "full" if config.getoption("verbose", 0) > 0 else "short"
    return chosen


class VerdictSummary:
    """Prints once the results JSON is written and pytest has printed its own line: the post-yield part of
    the outermost sessionfinish wrapper runs after every other plugin's sessionfinish."""

    def __init__(self, config: pytest.Config, html: str | None) -> None:
        self.config, self.html = config, html

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, Any, Any]:
        result = yield
        writer = self.config.stash.get(WRITER_KEY, None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if writer is None or reporter is None:
            return result
        html = self.config.pluginmanager.get_plugin("dualcert-html")
        html_failed = isinstance(html, HtmlReport) and html.failed
        reports = [f"{path}{' (NOT written)' if failed else ''}" for path, failed in
                   ((self.html, html_failed), (str(writer.path), not writer.written)) if path]
        lines = summary_lines(writer.summary(), writer.sections.get("diagnosis") or [], strict=strict(self.config),
                              reports=reports, mode=mode(self.config),
                              clients=client_break_lines(reporter.stats))
        if lines:
            reporter.write_sep("-", "dualcert verdict")
        run = run_of(self.config)
        for text in parts.header(run) if run is not None and lines else []:   # what this run left to others
            reporter.write_line(text)
        for line in lines:
            reporter.write_line(line.text, **({line.colour: True} if line.colour else {}))
        return result
