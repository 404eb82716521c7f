"""The HTML report: pytest-html with the estate's columns. Everything that comes from a
certificate or a server is escaped here before it reaches HTML."""

from __future__ import annotations

from html import escape
from typing import Any

import pytest

from .session import DualcertRun
from .terminal import safe

COLUMNS = (("node", "Node"), ("service", "Service"), ("port", "Port"), ("offer", "Offer"),
           ("tls_version", "TLS"), ("presented", "Presented key"), ("issuer", "Issuer"), ("days_left", "Days left"))


def dualcert_props(report: pytest.TestReport) -> dict[str, Any]:
    """The facts the plugin attached to a test report (empty for other tests)."""
    for name, value in report.user_properties:
        if name == "dualcert" and isinstance(value, dict):
            return value
    return {}


class HtmlColumns:
    """pytest-html hooks, registered only when pytest-html is active."""

    def __init__(self, run: DualcertRun) -> None:
        self.run = run

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"dualcert compliance: {self.run.inventory.site}"

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str],
                                    session: pytest.Session) -> None:
        policy = self.run.policy
        prefix.append(
            f"<p>Site <b>{escape(self.run.inventory.site)}</b>, inventory <code>{escape(str(self.run.inventory.path))}"
            f"</code>, policy <b>{escape(policy.name)}</b> (intended state {escape(policy.intended_state)}).</p>")
        prefix.extend(_warnings_html(self.run.sections.get("warnings") or [], session))

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for index, (_, title) in enumerate(COLUMNS, start=2):
            cells.insert(index, f'<th class="sortable" data-column-type="dualcert-{index}">{escape(title)}</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        props = dualcert_props(report)
        for index, (key, _) in enumerate(COLUMNS, start=2):
            value = props.get(key)
            text = safe("" if value is None else str(value))  # control characters too, not only <&>
            cells.insert(index, f'<td class="col-dualcert-{key}">{escape(text)}</td>')


def _warnings_html(warned: list[dict[str, Any]], session: pytest.Session, limit: int = 200) -> list[str]:
    """Warnings pass by default (expiry in the warn window, report-only rules): list them up front."""
    if not warned:
        return []
    strict = bool(session.config.getoption("dualcert_strict", False))
    how = "made fatal by --strict" if strict else "passing; <code>--strict</code> makes them fail"
    items = "".join(f"<li><code>{escape(w['id'])}</code> {escape(w['rule'])}: {escape(w['message'])}"
                    f"{'<br>fix: ' + escape(w['fix']) if w.get('fix') else ''}</li>" for w in warned[:limit])
    more = f"<li>... and {len(warned) - limit} more (see the results JSON)</li>" if len(warned) > limit else ""
    return [f'<div class="dualcert-warnings"><p><b>{len(warned)} policy warning(s)</b>, {how}:</p>'
            f"<ul>{items}{more}</ul></div>"]
