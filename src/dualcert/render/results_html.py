"""An HTML report from a results JSON alone, no probing and no pytest: what `dualcert merge` writes for
the shards it joins and `dualcert report RESULTS.json` re-renders. Self-contained like the run's report
(its style inlined), it holds the verdict, each cluster's diagnosis, one row per endpoint with what
each offer got, and the run's metadata. Everything from a certificate or a server goes through `esc`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from dualcert.compare.results_file import ResultsFile, flat_probes
from dualcert.render.coverage import coverage_rows, not_checked_html
from dualcert.render.html import asset, css_class, diagnosis_html, esc, summary_html
from dualcert.render.summary import summarize
from dualcert.verdict import SEVERITY, Status


def _probe_text(probe: Mapping[str, Any], now: dt.datetime) -> str:
    """One offer's result in a few words, as the run's report matrix says it."""
    if probe.get("outcome") != "ok":
        return str(probe.get("outcome"))
    chain = probe.get("chain") or []
    if not chain:
        return "unparseable certificate"
    leaf = chain[0]
    days = int((dt.datetime.fromisoformat(leaf["not_after"]) - now).total_seconds() // 86400)
    if leaf.get("self_signed"):
        return f"{leaf.get('key_type')} self-signed · {days}d"
    return f"{leaf.get('key_type')} CA-signed · {leaf.get('issuer')} · {days}d"


ROW_LIMIT = 2000   # endpoint rows; a larger estate's report shows every flagged endpoint first, then passing ones


def _status(test: Mapping[str, Any]) -> Status:
    outcome = test.get("outcome")
    return Status.FAIL if outcome in ("failed", "error") else Status.NA if outcome == "skipped" else \
        Status(test["status"]) if test.get("status") else Status.PASS


def cell_statuses(results: ResultsFile) -> dict[tuple[str, str, str], Status]:
    """The worst test status per (node, service, offer), from the tests of each probe; version 2's from its
    verdict table and test items (a status per verdict, not per test: 6 million tests at 100,000 endpoints)."""
    cells: dict[tuple[str, str, str], Status] = {}
    rank = {status: place for place, status in enumerate(SEVERITY)}

    def add(subject: str, status: Status) -> None:
        parts = subject.split(":")
        if len(parts) == 4:
            key = (parts[0], parts[1], parts[2])
            seen = cells.get(key)
            if seen is None or rank[status] < rank[seen]:
                cells[key] = status

    if results.version == 1:
        for test in results.tests():
            add(str(test.get("id")), _status(test))
        return cells
    statuses = [_status(verdict) for verdict in results.verdicts()]
    for item in results.test_items():
        for subject, refs in (item.get("results") or {}).items():
            add(subject, min((statuses[ref] for ref in refs), key=rank.__getitem__, default=Status.NA))
    return cells


Group = tuple[str, str, Callable[[], Iterable[Mapping[str, Any]]]]   # node, service, its probes when needed


def endpoint_groups(results: ResultsFile) -> Iterator[Group]:
    """Each endpoint and its probes as version-1 records, made only for the endpoints shown."""
    if results.version == 2:
        certificates, hellos = results.certificates(), results.head.get("hellos") or {}
        for endpoint in results.endpoints():
            yield endpoint["node"], endpoint["service"], partial(flat_probes, endpoint, certificates, hellos)
        return
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for probe in results.probes():   # version 1: in landing order
        grouped.setdefault((str(probe["node"]), str(probe["service"])), []).append(probe)
    for (node, service), probes in grouped.items():
        yield node, service, partial(list, probes)


def endpoints_html(run: Mapping[str, Any], groups: Iterable[Group],
                   cells: Mapping[tuple[str, str, str], Status]) -> tuple[str, int]:
    """One row per endpoint (node, service, port) with what each offer got, coloured by its worst test; past
    ROW_LIMIT endpoints, those with a failing or warning test first, then passing ones up to the limit. Returns
    the section and the number of endpoints."""
    now = dt.datetime.fromisoformat(run["started"])
    offers, versions = run.get("offers", []), run.get("tls_versions", [])
    flagged = {(n, s) for (n, s, _), status in cells.items() if status in (Status.FAIL, Status.WARN)}
    room = max(0, ROW_LIMIT - len(flagged))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    endpoints = 0
    for node, service, probes in groups:
        endpoints += 1
        key = (node, service)
        if not (len(rows) < ROW_LIMIT if key in flagged else room > 0):
            continue
        room -= key not in flagged
        row = rows[key] = {"port": None, "offers": {}}
        for probe in probes():
            row["port"] = row["port"] or probe.get("port")
            row["offers"].setdefault(probe["offer"], {})[probe["tls_version"]] = _probe_text(probe, now)
    parts = ['<section id="dc-endpoints" class="dc-section"><h2>Endpoints</h2>']
    if endpoints > len(rows):
        parts.append(f'<p class="dc-legend">{len(rows)} of {endpoints} endpoints shown: every endpoint with a failing '
                     "or warning test first, then passing ones; the results JSON lists them all.</p>")
    parts += ['<table class="dc-matrix"><thead><tr><th>node</th><th>service</th><th>port</th>',
              *[f"<th>{esc(o)}</th>" for o in offers], "</tr></thead><tbody>"]
    for (node, service), row in rows.items():
        shown_cells = []
        for offer in offers:
            texts = {v: t for v, t in row["offers"].get(offer, {}).items() if v in versions}
            shown = esc(next(iter(texts.values()))) if len(set(texts.values())) == 1 else \
                " / ".join(f"{esc(v.replace('tls', ''))}: {esc(t)}" for v, t in texts.items())
            status = cells.get((node, service, offer))
            shown_cells.append(f'<td class="dc-cell dc-{css_class(status)}">{shown or "not probed"}</td>')
        parts.append(f"<tr><th>{esc(node)}</th><td>{esc(service)}</td><td>{esc(row['port'])}</td>"
                     f"{''.join(shown_cells)}</tr>")
    parts.append("</tbody></table></section>")
    return "".join(parts), endpoints


def metadata_rows(run: Mapping[str, Any]) -> list[tuple[str, object]]:
    inventory, policy = run.get("inventory") or {}, run.get("policy") or {}
    rows: list[tuple[str, object]] = [
        ("status", run.get("status")), ("exit status", run.get("exit_status")),
        ("dualcert", run.get("dualcert_version")),
        ("site", run.get("site")), ("started", run.get("started")), ("written", run.get("written")),
        ("inventory", f"{inventory.get('path')}  sha256 {inventory.get('sha256')}"),
        ("policy", f"{policy.get('name')} {policy.get('path') or ''}  sha256 {policy.get('sha256')}"),
        ("intended state", run.get("intended_state")), ("command", " ".join(run.get("command") or [])),
        ("tests", ", ".join(f"{v} {k}" for k, v in sorted((run.get("counts") or {}).items()))),
        ("probes", ", ".join(f"{v} {k}" for k, v in sorted((run.get("probe_counts") or {}).items()))),
    ]
    rows += [(f"shard file {i}", f"{m.get('path')}  sha256 {m.get('sha256')}")
             for i, m in enumerate(run.get("merged") or [], start=1)]
    return rows + coverage_rows(run)


def results_html(results: ResultsFile) -> str:
    """The report of a results file (either version), its records read as streams."""
    head = results.head
    run = head["run"]
    diagnosis_list = results.section("diagnosis") or []
    summary = head.get("summary") or summarize(results.tests(), results.probes())
    probe_counts = run.get("probe_counts") or {}
    probes = sum(probe_counts.values()) if probe_counts else None
    endpoints, count = endpoints_html(run, endpoint_groups(results), cell_statuses(results))
    merged = f", merged from {len(run['merged'])} shards" if run.get("merged") else ""
    meta = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in metadata_rows(run))
    diagnosis = "".join(f'<div class="dc-cluster"><h3>Cluster {esc(d["cluster"])}</h3>{diagnosis_html(d)}</div>'
                        for d in diagnosis_list)
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>dualcert compliance: {esc(run.get('site'))}</title><style>{asset('report.css')}</style></head>"
            f"<body><h1>dualcert compliance: {esc(run.get('site'))}</h1>"
            f"<p>Site <b>{esc(run.get('site'))}</b>, policy <b>{esc((run.get('policy') or {}).get('name'))}</b> "
            f"(intended state {esc(run.get('intended_state'))}), {count} endpoints, {probes} probes, status "
            f"<b>{esc(run.get('status'))}</b>, exit status <b>{esc(run.get('exit_status'))}</b>{merged}.</p>"
            f"{not_checked_html(run)}{summary_html(summary, bool(run.get('strict')))}"
            f'{f"<section class=dc-section><h2>Deployment state</h2>{diagnosis}</section>" if diagnosis else ""}'
            f"{endpoints}"
            f'<details id="dc-meta" class="dc-section" open><summary>Run metadata</summary><table>{meta}</table>'
            "</details></body></html>\n")
