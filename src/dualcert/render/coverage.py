"""What a selected run or a merge covered, said in the outputs: the nodes no run checked (`dualcert merge
--allow-partial`) in the terminal and the HTML report, and the selection in the report's metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dualcert.compare.coverage import by_cluster, describe, not_checked, selection_text
from dualcert.estate.labels import label_text
from dualcert.render.html import esc


def not_checked_lines(run: Mapping[str, Any]) -> list[str]:
    """For the terminal: one line, the clusters and nodes named (at most a few: the JSON lists them all)."""
    nodes, estate = not_checked(run)
    if not nodes:
        return []
    return [f"NOT CHECKED: no run checked {len(nodes)} of the {len(estate)} nodes (merged with --allow-partial; "
            f"run.coverage.not_checked lists them): {describe(nodes, estate)}"]


def not_checked_html(run: Mapping[str, Any]) -> str:
    """A banner and every node no run checked, by cluster, at the top of the report."""
    nodes, estate = not_checked(run)
    if not nodes:
        return ""
    items = "".join(f"<li>cluster <b>{esc(cluster)}</b>{esc(f' ({label_text(labels)})' if labels else '')}: "
                    f"{esc(', '.join(members))}</li>" for cluster, labels, members in by_cluster(nodes, estate))
    return (f'<section id="dc-not-checked" class="dc-section"><div class="dc-banner">Not checked: no run checked '
            f"{len(nodes)} of the {len(estate)} nodes of the inventory (merged with --allow-partial); nothing "
            f"below is about them.</div><ul>{items}</ul></section>")


def coverage_rows(run: Mapping[str, Any]) -> list[tuple[str, object]]:
    """Metadata rows: the selection, the clusters it split, and for a merge the part each file was."""
    record = run.get("coverage") or {}
    rows: list[tuple[str, object]] = []
    if record.get("selection"):
        rows.append(("selection", f"--select {selection_text(record['selection'])}"))
    rows += [("split cluster", f"{s.get('part')}: {', '.join(s.get('nodes') or [])} (not here: "
              f"{', '.join(s.get('elsewhere') or [])})") for s in record.get("split") or []]
    for part in record.get("parts") or []:
        what = [f"--select {selection_text(part['selection'])}"] if part.get("selection") else []
        what += [f"--shard {part['shard'][0]}/{part['shard'][1]}"] if part.get("shard") else []
        rows.append(("part", f"{part.get('path')}: {' '.join(what) or 'merged'}"))
    return rows
