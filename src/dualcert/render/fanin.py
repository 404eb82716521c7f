"""The fan-in of a sharded run and the re-rendering of a results JSON (`dualcert merge`, `dualcert report`):
read the files, join the shards (compare.merge), add the grouped summary, write the results JSON, the
HTML report and, if asked, the metrics, all atomically. The CLI only maps errors to exit codes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dualcert.compare.merge import merge
from dualcert.errors import UsageError
from dualcert.render.metrics import metrics_text
from dualcert.render.results import atomic_write, file_digest, json_chunks
from dualcert.render.results_html import results_html
from dualcert.render.summary import summarize


def read_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", fix="give the results JSON each shard's job wrote") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is not readable JSON: {exc}", fix="give a results JSON dualcert wrote") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a dualcert results JSON", fix="give a results JSON dualcert wrote")
    return data


def write_outputs(document: dict[str, Any], results: Path | None, html: Path | None, metrics: Path | None) -> None:
    if results is not None:
        atomic_write(results, json_chunks(document))
    if html is not None:
        atomic_write(html, results_html(document))
    if metrics is not None:
        try:
            previous: str | None = metrics.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            previous = None
        atomic_write(metrics, metrics_text(document, previous))


def merge_files(paths: Sequence[Path], output: Path | None, html: Path | None, metrics: Path | None,
                command: list[str]) -> tuple[dict[str, Any], Path, Path]:
    """Join the shards' results; returns the document and where its JSON and HTML went
    (default: reports/<site>.json and .html beside it)."""
    shards = [(path, read_results(path)) for path in paths]
    document = merge(shards, [file_digest(path) or {} for path in paths], command)
    document = {"schema": document["schema"], "run": document["run"],
                "summary": summarize(document["tests"], document["probes"]),
                **{k: v for k, v in document.items() if k not in ("schema", "run")}}
    results = output or Path("reports") / f"{document['run']['site']}.json"
    html = html or results.with_suffix(".html")
    write_outputs(document, results, html, metrics)
    return document, results, html


def report_file(path: Path, html: Path | None) -> Path:
    """`dualcert report`: the HTML report of a results JSON, without probing."""
    document = read_results(path)
    if "run" not in document or "probes" not in document:
        raise UsageError(f"{path} is not a dualcert results JSON", fix="give a results JSON dualcert wrote")
    target = html or path.with_name(path.stem + ".report.html")  # beside the run's own report, not over it
    write_outputs(document, None, target, None)
    return target
