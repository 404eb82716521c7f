"""The HTML report: pytest-html with the estate's columns, and above the test list the
estate itself (matrix, diagnosis, changes since baseline, expiry timeline, run metadata).
Everything that comes from a certificate or a server is escaped before it reaches HTML
(reportview.esc; the per-probe data goes through report_assets' script as text)."""

from __future__ import annotations

import datetime as dt
import sys
from html import escape
from typing import Any

import pytest

from dualcert import __version__
from dualcert.render.assets import CSS, SCRIPT
from dualcert.render.html import (
    OutcomeTally,
    banner_html,
    changes_html,
    detail_data,
    distinct_certs,
    esc_text,
    json_for_script,
    matrix_html,
    metadata_html,
    timeline_html,
)
from dualcert.render.results import atomic_write
from dualcert.run import DualcertRun

COLUMNS = (("node", "Node"), ("service", "Service"), ("port", "Port"), ("offer", "Offer"),
           ("tls_version", "TLS"), ("presented", "Presented key"), ("issuer", "Issuer"), ("days_left", "Days left"))


def dualcert_props(report: pytest.TestReport) -> dict[str, Any]:
    """The facts the plugin attached to a test report (empty for other tests)."""
    for name, value in report.user_properties:
        if name == "dualcert" and isinstance(value, dict):
            return value
    return {}


def finding_extras(case_id: str, status: str, message: str, fix: str) -> list[dict[str, Any]]:
    """pytest-html extras for one test: the finding and the lazy chain/TLS/PEM detail."""
    from pytest_html import extras

    from dualcert.render.html import finding_extra_html

    return [extras.html(finding_extra_html(case_id, status, message, fix))]


def interrupted(session: pytest.Session) -> bool:
    status = getattr(session, "exitstatus", None)
    return status == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)


class HtmlColumns:
    """pytest-html hooks, registered only when pytest-html is active."""

    def __init__(self, run: DualcertRun) -> None:
        self.run = run
        self.tally = OutcomeTally()

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"dualcert compliance: {self.run.inventory.site}"

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # pytest-html writes its file in place; readers (a browser, a CI artifact upload) must never
        # see half a report, so its writer goes through the same temp-file-and-rename as the JSON.
        for plugin in session.config.pluginmanager.get_plugins():
            if hasattr(plugin, "_write_report") and hasattr(plugin, "_report_path"):
                path = plugin._report_path

                def write(rendered: str, path: Any = path) -> None:
                    atomic_write(path, rendered)

                plugin._write_report = write

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        props = dualcert_props(report)
        outcome = "error" if report.failed and report.when != "call" else report.outcome
        case_id = props.get("case") or (report.nodeid.rsplit("[", 1)[-1].rstrip("]") if "[" in report.nodeid
                                        else None)
        findings = props.get("findings") if report.when == "call" else None
        if findings and all("id" in f for f in findings):
            # --dualcert-items endpoint: one test, several probes; each matrix cell takes its probe's findings.
            self.tally.add(None, outcome, None)
            for finding in findings:
                self.tally.add(finding["id"], finding["outcome"], finding["status"], count=False)
            return
        self.tally.add(case_id, outcome, props.get("status"))

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str],
                                    session: pytest.Session) -> None:
        run = self.run
        status = "interrupted" if interrupted(session) else "complete"
        observations = list(run.observations.values())
        certs = distinct_certs(observations)
        prefix.append(f"<style>{CSS}</style><script>{SCRIPT}</script>")
        prefix.append(banner_html(status, run))
        prefix.append(
            f"<p>Site <b>{escape(run.inventory.site)}</b>, policy <b>{escape(run.policy.name)}</b> "
            f"(intended state {escape(run.policy.intended_state)}), {len(run.endpoints)} endpoints, "
            f"{len(observations)} probes, status <b>{status}</b>.</p>")
        prefix.extend(_warnings_html(run.sections.get("warnings") or [], session))
        prefix.append(matrix_html(run, self.tally))
        prefix.append(changes_html(run))
        prefix.append(timeline_html(run, certs))
        prefix.append(metadata_html(run, self.tally, version=__version__, command=list(sys.argv), status=status,
                                    finished=dt.datetime.now(dt.UTC)))
        prefix.append('<div id="dc-filters" class="dc-filters"><b>Filter tests:</b> </div>')
        prefix.append(f'<script type="application/json" id="dualcert-data">{json_for_script(detail_data(run))}'
                      "</script>")

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for index, (key, title) in enumerate(COLUMNS, start=2):
            # pytest-html sorts by the data-column-type named after the cell's `col-<word>` class.
            cells.insert(index, f'<th class="sortable" data-column-type="dc{key}">{escape(title)}</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        props = dualcert_props(report)
        for index, (key, _) in enumerate(COLUMNS, start=2):
            value = props.get(key)
            cells.insert(index, f"<td class=col-dc{key}>{esc_text(value)}</td>")


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
