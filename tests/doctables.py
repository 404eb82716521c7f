"""Tables in the docs rendered from the tests' data, between `<!-- NAME:start -->` and `<!-- NAME:end -->`
markers: a test compares the doc's table with the rendering, and `python -m tests.<module>` rewrites it."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def framed(name: str, lines: list[str]) -> str:
    """The table's lines between its markers, as the doc holds them."""
    start, end = markers(name)
    return "\n".join([start, *lines, end])


def doc_table(text: str, name: str) -> str | None:
    start, end = markers(name)
    match = re.search(re.escape(start) + ".*?" + re.escape(end), text, re.S)
    return match.group(0) if match else None


def rewrite(doc: Path, name: str, table: str) -> None:
    text = doc.read_text(encoding="utf-8")
    current = doc_table(text, name)
    if current is None:
        start, end = markers(name)
        raise SystemExit(f"{doc.name} has no {start} ... {end} markers")
    doc.write_text(text.replace(current, table), encoding="utf-8")
