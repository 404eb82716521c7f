"""The fan-in of a sharded run and the re-rendering of a results JSON (`dualcert merge`, `dualcert report`):
read the files, join the shards (compare.merge), add the grouped summary, write the results JSON, the
HTML report and, if asked, the metrics, all atomically. The CLI only maps errors to exit codes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dualcert.compare.merge import check_shards, merged_head
from dualcert.compare.results_file import ResultsFile
from dualcert.errors import UsageError
from dualcert.render.join import Join, Source, joined_chunks
from dualcert.render.metrics import metrics_text
from dualcert.render.results import atomic_write, file_digest, make_parent
from dualcert.render.results_html import results_html

SMALL = ("warnings", "diagnosis", "changes")


def read_results(path: Path) -> ResultsFile:
    """A results file's head (its records are streamed later), or a UsageError naming it."""
    try:
        return ResultsFile(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", fix="give the results JSON each shard's job wrote") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is not readable JSON: {exc}", fix="give a results JSON dualcert wrote") from None
    except ValueError:
        raise UsageError(f"{path} is not a dualcert results JSON", fix="give a results JSON dualcert wrote") from None


def write_views(results: ResultsFile, html: Path | None, metrics: Path | None,
                rule_counts: dict[tuple[str, str], int] | None = None) -> None:
    """The HTML report and the metrics of a results file, read as a stream."""
    if html is not None:
        atomic_write(html, results_html(results))
    if metrics is not None:
        try:
            previous: str | None = metrics.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            previous = None
        document = {"run": results.head["run"], "probes": results.probes(), "tests": results.tests()}
        atomic_write(metrics, metrics_text(document, previous, rule_counts))


def merge_files(paths: Sequence[Path], output: Path | None, html: Path | None, metrics: Path | None,
                command: list[str], allow_partial: bool = False) -> tuple[dict[str, Any], Path, Path]:
    """Join the shards' (and selected runs') results, a record at a time; returns the merged head (with the
    counts of probes and tests) and where its JSON and HTML went (default: reports/<site>.json and .html)."""
    files = {path: read_results(path) for path in paths}
    heads = [(path, {**files[path].head, **{n: files[path].section(n) for n in SMALL}}) for path in paths]
    covered = check_shards(heads, allow_partial)
    order = [path for path, _ in covered.ordered]
    results = output or Path("reports") / f"{heads[0][1]['run']['site']}.json"
    make_parent(results)
    try:
        join = Join([Source(files[path]) for path in order], order, results.parent)
        spooled = join.run()
    except (json.JSONDecodeError, KeyError, TypeError, IndexError) as exc:   # records cut short or edited
        raise UsageError(f"a shard's records are not readable: {type(exc).__name__}: {exc}",
                         fix="give the results JSON files dualcert wrote, unedited") from None
    counts, by_rule = join.tallies()
    head = merged_head(covered, [file_digest(path) or {} for path in paths], command, counts, join.probe_counts)
    head = {"run": head["run"], "summary": join.summary(), **{k: v for k, v in head.items() if k != "run"},
            "hellos": join.hellos}
    atomic_write(results, joined_chunks(head, join, spooled))
    html = html or results.with_suffix(".html")
    write_views(ResultsFile(results), html, metrics, by_rule)
    return head, results, html


def report_file(path: Path, html: Path | None) -> Path:
    """`dualcert report`: the HTML report of a results JSON, without probing."""
    results = read_results(path)
    if "run" not in results.head:
        raise UsageError(f"{path} is not a dualcert results JSON", fix="give a results JSON dualcert wrote")
    target = html or path.with_name(path.stem + ".report.html")  # beside the run's own report, not over it
    write_views(results, target, None)
    return target
