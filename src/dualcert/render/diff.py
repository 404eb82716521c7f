"""`dualcert diff` output, from a Comparison: a terminal table, JSON, or a Markdown table for a change ticket.

Everything shown came from certificates or servers: escaped for the terminal
(`safetext.safe`) and for Markdown (pipes, backticks, line breaks)."""

from __future__ import annotations

import json
from typing import Any

from dualcert.compare.comparison import Change, Comparison
from dualcert.compare.snapshot import short_value
from dualcert.render.summary import where_text
from dualcert.safetext import safe

HEADER = ("kind", "expected", "probe", "field", "before", "after")


def _text_of(value: Any) -> str:
    return "-" if value is None else str(value)


def rows(change: Change, short: bool = False) -> list[tuple[str, ...]]:
    """One row per changed field; the first carries the kind, verdict and probe id."""
    out: list[tuple[str, ...]] = []
    for index, (name, (before, after)) in enumerate(change.fields.items()):
        lead = (change.kind, "yes" if change.expected else "NO", change.id) if index == 0 else ("", "", "")
        # A terminal table shows a fingerprint's first 16 hex digits; JSON and Markdown carry all 64.
        shown = (short_value(before), short_value(after)) if short else (_text_of(before), _text_of(after))
        out.append((*lead, name, *shown))
    return out


TABLE_ROWS = 200   # probes listed one by one in the text table; the groups above say the rest


def groups(entries: list[Change]) -> list[dict[str, Any]]:
    """The changes grouped as the run's summary groups findings: one line per (kind, verdict, what changed),
    the probes where it changed collapsed behind a count. A certificate renewed on 2,000 endpoints is one
    group. Days left are context, not what changed, so they do not split a group."""
    found: dict[tuple[str, bool, str], dict[str, Any]] = {}
    for change in entries:
        fields = {k: v for k, v in change.fields.items() if k != "days_left"}
        what = ", ".join(f"{k} {short_value(b)} -> {short_value(a)}" for k, (b, a) in fields.items())
        group = found.setdefault((change.kind, change.expected, what), {
            "kind": change.kind, "expected": change.expected, "what": what, "reason": change.reason,
            "where": {}, "probes": 0})
        node, service = change.key[0], change.key[1]
        services = group["where"].setdefault(node, [])
        if service not in services:
            services.append(service)
        group["probes"] += 1
    return sorted(found.values(), key=lambda g: (g["expected"], -g["probes"]))


def group_lines(entries: list[Change]) -> list[str]:
    lines = []
    for group in groups(entries):
        verdict = "expected" if group["expected"] else "UNEXPECTED"
        lines.append(f"  {verdict} {group['kind']}: {group['what'] or '-'} on {where_text(group['where'])} "
                     f"({group['probes']} probe(s))")
    return lines


def render(comparison: Comparison, fmt: str, *, show_expected: bool = True) -> str:
    entries = [c for c in comparison.entries if show_expected or not c.expected]
    if fmt == "json":
        document = {
            "schema": "dualcert-diff/1",
            "old": _side(comparison.baseline), "new": _side(comparison.current),
            "compared": {"offers": list(comparison.offers), "tls_versions": list(comparison.versions),
                         "clients": list(comparison.clients)},
            "not_compared": comparison.not_compared,
            "counts": comparison.counts(), "unexpected": len(comparison.unexpected),
            "summary": comparison.summary(), "groups": groups(entries), "entries": [c.to_json() for c in entries],
        }
        return json.dumps(document, indent=1) + "\n"
    if fmt == "markdown":
        return _markdown(comparison, entries)
    return _text(comparison, entries)


def _side(snapshot: Any) -> dict[str, Any]:
    return {"path": snapshot.path, "site": snapshot.site, "written": snapshot.written}


def _text(comparison: Comparison, entries: list[Change]) -> str:
    lines = [f"dualcert diff: {comparison.baseline.path} -> {comparison.current.path}"]
    table = [HEADER, *[r for c in entries[:TABLE_ROWS] for r in rows(c, short=True)]]
    if entries:
        widths = [min(max(len(r[i]) for r in table), 72) for i in range(len(HEADER))]
        for row in table:
            lines.append("  ".join(cell[:72].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if len(entries) > TABLE_ROWS:
            lines.append(f"... and {len(entries) - TABLE_ROWS} more probe(s) (--format json lists every one)")
        unexpected = [c for c in entries if not c.expected]
        if unexpected:
            lines.append("")
            lines.append("unexpected:")
            lines += [f"  {c.id}: {c.reason}" for c in unexpected[:TABLE_ROWS]]
        lines += ["", "grouped (one line per change, wherever it happened):", *group_lines(entries)]
    else:
        lines.append("no differences" if not comparison.entries else "no unexpected differences")
    lines.append(comparison.summary())
    return "\n".join(safe(line) for line in lines) + "\n"


def _md(cell: str) -> str:
    # A certificate's text must not break the table (|), open code spans or inject HTML into the ticket.
    text = safe(cell).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _markdown(comparison: Comparison, entries: list[Change]) -> str:
    lines = [f"### Changes: {_md(comparison.baseline.path)} → {_md(comparison.current.path)}", "",
             _md(comparison.summary()), ""]
    if entries:
        lines += ["| kind | expected | probe | field | before | after | reason |",
                  "|---|---|---|---|---|---|---|"]
        for change in entries:
            for index, row in enumerate(rows(change)):
                reason = change.reason if index == 0 else ""
                lines.append("| " + " | ".join(_md(c) for c in (*row, reason)) + " |")
    else:
        lines.append("No differences." if not comparison.entries else "No unexpected differences.")
    return "\n".join(lines) + "\n"
