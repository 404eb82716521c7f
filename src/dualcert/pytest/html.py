"""pytest-html hooks: the estate's columns in the test table, each test's finding and chain detail,
and above the table the estate itself (render.html). Registered only when pytest-html is active.

"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Generator, Iterator
from functools import partial
from html import escape
from pathlib import Path
from typing import Any

import pytest

from dualcert import __version__
from dualcert.pytest.exitcode import write_failed
from dualcert.pytest.report import report_props, report_verdict
from dualcert.pytest.state import COMPARISON_KEY, VERDICT_KEY, WRITER_KEY, strict
from dualcert.render.clients import clients_html
from dualcert.render.html import (
    asset,
    banner_html,
    changes_html,
    detail_data,
    endpoint_extra_html,
    esc_text,
    finding_extra_html,
    json_for_script,
    matrix_html,
    metadata_html,
    summary_html,
)
from dualcert.render.results import atomic_write
from dualcert.render.tally import OutcomeTally
from dualcert.render.timeline import distinct_certs, timeline_html
from dualcert.run import DualcertRun
from dualcert.verdict import Status, Verdict, worst

COLUMNS = (("node", "Node"), ("service", "Service"), ("port", "Port"), ("offer", "Offer"),
           ("tls_version", "TLS"), ("presented", "Presented key"), ("issuer", "Issuer"), ("days_left", "Days left"))


class HtmlReport:
    def __init__(self, run: DualcertRun, report: Path) -> None:
        self.run, self.report = run, report
        self.tally = OutcomeTally()
        self.failed = False
        self.tests: dict[str, Any] | None = None   # pytest-html's test list, taken out while it renders

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """pytest-html writes its file in place; readers (a browser, a CI artifact upload) must never
        see half a report, so its writer goes through the temp-file-and-rename the JSON uses.

        pytest-html 4 has no public hook for this: its report object's `_write_report(text)` is
        replaced, guarded, so a pytest-html without it writes in place as it always did. (Writing to
        a temporary name and renaming it afterwards would work with public options only, but then
        pytest-html's closing line would name a file that no longer exists.)"""
        for plugin in session.config.pluginmanager.get_plugins():
            if callable(getattr(plugin, "_write_report", None)) and isinstance(getattr(plugin, "_report_path", None),
                                                                                 Path):
                plugin._write_report = partial(self._write, session.config, plugin)

    def _write(self, config: pytest.Config, plugin: Any, text: str) -> None:
        """A report that cannot be written (disk full, read-only, file-size limit) is said, named and makes
        the run exit non-zero; the results JSON is still written after it."""
        try:
            tests, self.tests = self.tests, None
            try:
                atomic_write(plugin._report_path,
                             relocate_test_list(text) if tests is None else with_test_list(text, tests))
            finally:
                if tests is not None:
                    plugin._report.data["tests"] = tests   # as it was, for whoever reads it after
        except OSError as exc:
            self.failed = True
            write_failed(config, "HTML report", plugin._report_path, exc)
            # Its closing line would announce a report that does not exist.
            config.pluginmanager.unregister(plugin)

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"dualcert compliance: {self.run.inventory.site}"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        verdict = item.stash.get(VERDICT_KEY, None) if call.when == "call" else None
        if verdict is not None:
            report.extras = [*getattr(report, "extras", []), *_extras(verdict)]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        outcome = "error" if report.failed and report.when != "call" else report.outcome
        verdict = report_verdict(report)
        if verdict is not None and verdict.parts:
            # One test, several rules (and probes): each matrix cell takes its probe's parts.
            self.tally.add(None, outcome, None)
            for part in verdict.parts:
                self.tally.add(part.subject, part.outcome or outcome, part.status, count=False)
            return
        subject = report_props(report).get("subject")
        self.tally.add(subject, outcome, verdict.status if verdict else None)

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str],
                                    session: pytest.Session) -> None:
        run, config = self.run, session.config
        self._take_test_list(config)
        interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        status = "interrupted" if interrupted else "complete"
        observations = list(run.observations.values())
        prefix.append(f"<style>{asset('report.css')}</style><script>{asset('report.js')}</script>")
        prefix.append(banner_html(status, run))
        prefix.append(
            f"<p>Site <b>{escape(run.inventory.site)}</b>, policy <b>{escape(run.policy.name)}</b> "
            f"(intended state {escape(run.policy.intended_state)}), {len(run.endpoints)} endpoints, "
            f"{len(observations)} probes, status <b>{status}</b>.</p>")
        writer = config.stash.get(WRITER_KEY, None)
        if writer is not None:
            prefix.append(summary_html(writer.summary(), strict(config)))
        prefix.append(matrix_html(run, self.tally, run.diagnosis() if run.measured else ()))
        prefix.append(clients_html(run, self.tally))
        prefix.append(changes_html(config.stash.get(COMPARISON_KEY, None)))
        prefix.append(timeline_html(run, distinct_certs(observations, run.policy.expiry_days)))
        prefix.append(metadata_html(run, self.tally, version=__version__, command=list(sys.argv), status=status,
                                    finished=dt.datetime.now(dt.UTC)))
        prefix.append('<div id="dc-filters" class="dc-filters"><b>Filter tests:</b> </div>')
        detail = json_for_script({**detail_data(run, self.tally), "columns": [key for key, _ in COLUMNS]})
        prefix.append(f'<script type="application/json" id="dualcert-data">{detail}</script>')

    def _take_test_list(self, config: pytest.Config) -> None:
        """pytest-html renders the report right after this hook, with its test list JSON-encoded and
        escaped into an attribute: at 10,000 endpoints three whole copies of a 24 MB list, the run's
        memory peak. The list is taken out (only when pytest-html's data is laid out as expected) and
        _write() streams it into the page, a test at a time."""
        for plugin in config.pluginmanager.get_plugins():
            data = getattr(getattr(plugin, "_report", None), "data", None)
            if isinstance(getattr(plugin, "_write_report", None), partial) and isinstance(data, dict) \
                    and isinstance(data.get("tests"), dict):
                self.tests, data["tests"] = data["tests"], {}

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for index, (key, title) in enumerate(COLUMNS, start=2):
            # pytest-html sorts by the data-column-type named after the cell's `col-<word>` class.
            cells.insert(index, f'<th class="sortable" data-column-type="dc{key}">{escape(title)}</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        if report.when != "call" and report.passed and not report.sections:
            # pytest-html shows no row for a passed setup or teardown, yet builds one: no cells, no row built
            # (two of each test's three reports; seconds at 10,000 endpoints). With captured output (its
            # teardown log goes to the test's row) it is left alone.
            cells.clear()
            return
        facts = report_props(report).get("facts", {})
        for index, (key, _) in enumerate(COLUMNS, start=2):
            cells.insert(index, f"<td class=col-dc{key}>{esc_text(facts.get(key))}</td>")


BLOB_OPEN = '<div id="data-container" data-jsonblob="'
# pytest-html's attribute escapes (markupsafe) -> what a JSON data block needs: only "</" and "<!--" could
# end or confuse the <script> element ("\/" is JSON's own escape for "/").
SCRIPT_TEXT = (("&lt;/", "<\\/"), ("&lt;!--", "\\u003c!--"), ("&lt;", "<"), ("&gt;", ">"), ("&#34;", '"'),
               ("&#39;", "'"), ("&amp;", "&"))


RELOCATE_WINDOW = 1 << 20   # characters of the test list unescaped at a time (at least 16: an entity is whole)


def relocate_test_list(text: str) -> Iterator[str]:
    """pytest-html's report with its test list moved from the `data-jsonblob` attribute, where every quote
    and angle bracket of 10,000 rows' JSON and HTML costs 4-5 bytes (a third of that list's bytes), into a
    <script type="application/json" id="dc-tests"> just before it. report.js puts the list (pruned to the
    rows shown) back into the attribute before pytest-html's script reads it. Unchanged when the
    container is not found (another pytest-html layout): the script then reads the attribute.
    The list is unescaped a window at a time, each ending before an "&" (never inside an entity): done
    on the whole list, its copies were ~100 MB of a 10,000-endpoint run's memory peak."""
    start, end = _container(text)
    if end < 0:
        yield text
        return
    yield text[:start]
    yield '<script type="application/json" id="dc-tests">'
    at = start + len(BLOB_OPEN)
    while at < end:
        stop = min(at + RELOCATE_WINDOW, end)
        if stop < end:
            entity = text.rfind("&", at + 1, stop + 1)
            stop = entity if entity > at else stop
        yield _unescaped(text[at:stop])
        at = stop
    yield "</script>"
    yield BLOB_OPEN
    yield text[end:]


def _container(text: str) -> tuple[int, int]:
    """Where pytest-html's data container starts and where its attribute's value ends (-1: not found)."""
    start = text.rfind(BLOB_OPEN)
    return start, text.find('"', start + len(BLOB_OPEN)) if start >= 0 else -1


def _unescaped(attribute: str) -> str:
    """Attribute text (whole entities only) as the text of a JSON data block (SCRIPT_TEXT)."""
    for escaped, plain in SCRIPT_TEXT:
        attribute = attribute.replace(escaped, plain)
    return attribute


def _script_safe(json_text: str) -> str:
    """JSON text that cannot end or confuse the <script> element holding it."""
    return json_text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def with_test_list(text: str, tests: dict[str, Any]) -> Iterator[str]:
    """The report as relocate_test_list() makes it, from a page rendered without its test list: the
    attribute's small document (environment, title, ...) and `tests` streamed into the dc-tests block,
    one test's JSON at a time. The page as it is when the container is not found."""
    start, end = _container(text)
    if end < 0:
        yield text
        return
    document = json.loads(_unescaped(text[start + len(BLOB_OPEN):end]))
    document["tests"] = tests
    yield text[:start]
    yield '<script type="application/json" id="dc-tests">{'
    for index, (key, value) in enumerate(document.items()):
        yield ", " if index else ""
        if key != "tests":
            yield _script_safe(f"{json.dumps(key)}: {json.dumps(value)}")
            continue
        yield '"tests": {'
        for number, (test_id, rows) in enumerate(tests.items()):
            compact = [compact_row(test_id, row) for row in rows]
            yield _script_safe(f"{', ' if number else ''}{json.dumps(test_id)}: {json.dumps(compact)}")
        yield "}"
    yield "}</script>"
    yield BLOB_OPEN
    yield text[end:]


NO_LOG = "No log output captured."
HTML_EXTRA = {"name": None, "format_type": "html", "mime_type": None, "extension": None}
ROW_KEYS = frozenset({"extras", "result", "testId", "duration", "resultsTableRow", "log",
                      *(f"dc{k}" for k, _ in COLUMNS)})


def compact_row(test_id: str, row: Any) -> Any:
    """A row of pytest-html's test list as [result, duration, the estate columns' texts, the HTML extras' contents
    (, log)] when report.js's expand() rebuilds exactly this row from it (checked here by rebuilding its cells),
    else the row as it is. Each cell's text was there twice (the cell and its sort key), and the cells' markup
    once per row: three quarters of a 10,000-endpoint report."""
    if not isinstance(row, dict) or set(row) != ROW_KEYS or row["testId"] != test_id:
        return row
    extras = row["extras"]
    if not all(isinstance(e, dict) and set(e) == {*HTML_EXTRA, "content"} and all(e[k] == v for k, v in
                                                                                  HTML_EXTRA.items())
               for e in extras):
        return row
    compact = [row["result"], row["duration"], [row[f"dc{k}"] for k, _ in COLUMNS], [e["content"] for e in extras]]
    if row["log"] != NO_LOG:
        compact.append(row["log"])
    return compact if expanded_cells(test_id, compact) == row["resultsTableRow"] else row


def expanded_cells(test_id: str, compact: list[Any]) -> list[str]:
    """The cells report.js's expand() makes of a compact row: pytest-html's, with the estate's columns after the
    test's id."""
    return [f'<td class="col-result">{compact[0]}</td>', f'<td class="col-testId">{test_id}</td>',
            *(f"<td class=col-dc{key}>{text}</td>" for (key, _), text in zip(COLUMNS, compact[2], strict=True)),
            f'<td class="col-duration">{compact[1]}</td>', '<td class="col-links"></td>']


def _extras(verdict: Verdict) -> list[Any]:
    """pytest-html extras: a probe test's finding and lazy chain detail; an endpoint test's, per probe."""
    from pytest_html import extras

    scope = verdict.facts.get("scope")
    if scope == "probe" and not verdict.parts:
        return [extras.html(finding_extra_html(verdict.subject, verdict.status.value, verdict.message, verdict.fix))]
    if scope != "endpoint":
        return []
    if all(p.status in (Status.PASS, Status.NA) for p in verdict.parts):
        # A passing endpoint (no rule failed or warned: most of a large estate) keeps one placeholder for all
        # its probes: six findings and placeholders per row were half of a 10,000-endpoint report's bytes.
        probes = len(dict.fromkeys(p.subject for p in verdict.parts))
        return [extras.html(endpoint_extra_html(verdict.subject, probes))]
    shown = []
    for subject in dict.fromkeys(p.subject for p in verdict.parts):
        mine = [p for p in verdict.parts if p.subject == subject]
        status = worst(p.status for p in mine) or Status.NA
        warned = [p for p in mine if p.status is Status.WARN]
        message = "; ".join(f"[{p.rule}] {p.message}" for p in warned) or f"{subject}: every rule passes"
        fix = "; ".join(p.fix for p in warned if p.fix)
        shown.append(extras.html(finding_extra_html(subject, status.value, message, fix)))
    return shown
