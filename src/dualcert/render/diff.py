"""`dualcert diff` output, from a Comparison: a terminal table, JSON, or a Markdown table for a change ticket.

Everything shown came from certificates or servers: escaped for the terminal
(`safetext.safe`) and for Markdown (pipes, backticks, line breaks)."""

from __future__ import annotations

import json
from typing import Any

from dualcert.compare.comparison import Change, Comparison
from dualcert.compare.snapshot import short_value
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


def render(comparison: Comparison, fmt: str, *, show_expected: bool = True) -> str:
    entries = [c for c in comparison.entries if show_expected or not c.expected]
    if fmt == "json":
        document = {
            "schema": "dualcert-diff/1",
            "old": _side(comparison.baseline), "new": _side(comparison.current),
            "compared": {"offers": list(comparison.offers), "tls_versions": list(comparison.versions)},
            "counts": comparison.counts(), "unexpected": len(comparison.unexpected),
            "summary": comparison.summary(), "entries": [c.to_json() for c in entries],
        }
        return json.dumps(document, indent=1) + "\n"
    if fmt == "markdown":
        return _markdown(comparison, entries)
    return _text(comparison, entries)


def _side(snapshot: Any) -> dict[str, Any]:
    return {"path": snapshot.path, "site": snapshot.site, "written": snapshot.written}


def _text(comparison: Comparison, entries: list[Change]) -> str:
    lines = [f"dualcert diff: {comparison.baseline.path} -> {comparison.current.path}"]
    table = [HEADER, *[r for c in entries for r in rows(c, short=True)]]
    if entries:
        widths = [min(max(len(r[i]) for r in table), 72) for i in range(len(HEADER))]
        for row in table:
            lines.append("  ".join(cell[:72].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        unexpected = [c for c in entries if not c.expected]
        if unexpected:
            lines.append("")
            lines.append("unexpected:")
            lines += [f"  {c.id}: {c.reason}" for c in unexpected]
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
