"""An HTML report from a results JSON alone, no probing and no pytest: what `dualcert merge` writes for
the shards it joins and `dualcert report RESULTS.json` re-renders. Self-contained like the run's report
(its style inlined), it holds the verdict, each cluster's diagnosis, one row per endpoint with what
each offer got, and the run's metadata. Everything from a certificate or a server goes through `esc`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from dualcert.render.html import asset, css_class, diagnosis_html, esc, summary_html
from dualcert.render.summary import summarize
from dualcert.verdict import Status, worst


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


def _statuses(tests: list[Mapping[str, Any]]) -> dict[str, list[Status]]:
    by_id: dict[str, list[Status]] = {}
    for test in tests:
        outcome = test.get("outcome")
        status = Status.FAIL if outcome in ("failed", "error") else Status.NA if outcome == "skipped" else \
            Status(test["status"]) if test.get("status") else Status.PASS
        by_id.setdefault(str(test.get("id")), []).append(status)
    return by_id


def endpoints_html(document: Mapping[str, Any]) -> str:
    """One row per endpoint (node, service, port) with what each offer got, coloured by its worst test."""
    run = document["run"]
    now = dt.datetime.fromisoformat(run["started"])
    offers, versions = run.get("offers", []), run.get("tls_versions", [])
    statuses = _statuses(document.get("tests", []))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for probe in document.get("probes", []):
        row = rows.setdefault((probe["node"], probe["service"]), {"port": probe.get("port"), "offers": {}})
        row["offers"].setdefault(probe["offer"], {})[probe["tls_version"]] = probe
    parts = ['<section id="dc-endpoints" class="dc-section"><h2>Endpoints</h2><table class="dc-matrix"><thead><tr>'
             "<th>node</th><th>service</th><th>port</th>", *[f"<th>{esc(o)}</th>" for o in offers],
             "</tr></thead><tbody>"]
    for (node, service), row in rows.items():
        cells = []
        for offer in offers:
            probes = row["offers"].get(offer, {})
            texts = {v: _probe_text(probes[v], now) for v in versions if v in probes}
            status = worst(s for v in versions for s in statuses.get(f"{node}:{service}:{offer}:{v}", []))
            shown = esc(next(iter(texts.values()))) if len(set(texts.values())) == 1 else \
                " / ".join(f"{esc(v.replace('tls', ''))}: {esc(t)}" for v, t in texts.items())
            cells.append(f'<td class="dc-cell dc-{css_class(status)}">{shown or "not probed"}</td>')
        parts.append(f"<tr><th>{esc(node)}</th><td>{esc(service)}</td><td>{esc(row['port'])}</td>{''.join(cells)}</tr>")
    parts.append("</tbody></table></section>")
    return "".join(parts)


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
    return rows


def results_html(document: Mapping[str, Any]) -> str:
    run = document["run"]
    summary = document.get("summary") or summarize(document.get("tests", []), document.get("probes", []))
    endpoints = len({(p["node"], p["service"]) for p in document.get("probes", [])})
    merged = f", merged from {len(run['merged'])} shards" if run.get("merged") else ""
    meta = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in metadata_rows(run))
    diagnosis = "".join(f'<div class="dc-cluster"><h3>Cluster {esc(d["cluster"])}</h3>{diagnosis_html(d)}</div>'
                        for d in document.get("diagnosis") or [])
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<title>dualcert compliance: {esc(run.get('site'))}</title><style>{asset('report.css')}</style></head>"
            f"<body><h1>dualcert compliance: {esc(run.get('site'))}</h1>"
            f"<p>Site <b>{esc(run.get('site'))}</b>, policy <b>{esc((run.get('policy') or {}).get('name'))}</b> "
            f"(intended state {esc(run.get('intended_state'))}), {endpoints} endpoints, "
            f"{len(document.get('probes', []))} probes, status <b>{esc(run.get('status'))}</b>, exit status "
            f"<b>{esc(run.get('exit_status'))}</b>{merged}.</p>"
            f"{summary_html(summary, bool(run.get('strict')))}"
            f'{f"<section class=dc-section><h2>Deployment state</h2>{diagnosis}</section>" if diagnosis else ""}'
            f"{endpoints_html(document)}"
            f'<details id="dc-meta" class="dc-section" open><summary>Run metadata</summary><table>{meta}</table>'
            "</details></body></html>\n")
