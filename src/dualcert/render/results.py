"""The results JSON: one document per run (docs/results-json.md, `schema/results.schema.json`), written
atomically, with a journal of probes appended as they land so that even a killed run leaves what it measured."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dualcert import __version__
from dualcert.compare.snapshot import SCHEMA
from dualcert.facts.chain import chain_facts
from dualcert.probe.observation import Observation
from dualcert.render.summary import is_finding, summarize

JOURNAL_FLUSH_S = 0.2
WRITE_SLICE = 1 << 20


def make_parent(path: Path) -> None:
    """The directory of `path`, created if missing; a file in its place is "Not a directory", as the
    kernel says of the path, not mkdir's "File exists"."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)) from None


def _encoded(data: str | bytes | Iterable[str]) -> Iterator[bytes]:
    if isinstance(data, bytes):
        yield data
        return
    for text in [data] if isinstance(data, str) else data:
        # Encoded a slice at a time: a 2,000-endpoint document is ~50 MB, and encoding
        # it whole held a second copy at the run's memory peak.
        for start in range(0, len(text), WRITE_SLICE):
            yield text[start:start + WRITE_SLICE].encode("utf-8")


def atomic_write(path: Path, data: str | bytes | Iterable[str]) -> None:
    """Write via a temp file in the same directory and rename: readers never see half a file.
    A path that exists and is not a regular file (/dev/stdout, /dev/full, a FIFO) is written in place:
    renaming over it would replace the device instead of writing to it. `data` may be an iterable of
    strings (json_chunks): the whole text is then never in memory at once."""
    if path.exists() and not path.is_file():
        with path.open("wb") as device:
            for chunk in _encoded(data):
                device.write(chunk)
        return
    make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in _encoded(data):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


JSON_BATCH = 2000   # records per json.dumps call when a document is written in chunks


def json_chunks(document: dict[str, Any]) -> Iterator[str]:
    """`json.dumps(document)`, byte for byte, as a series of strings: the long lists (probes, tests) are
    encoded JSON_BATCH records at a time by json's C encoder. At 10,000 endpoints the document is
    hundreds of MB: encoded whole it was the run's memory peak, the text beside the records it came from."""
    yield "{"
    for position, (key, value) in enumerate(document.items()):
        yield (", " if position else "") + json.dumps(key) + ": "
        if isinstance(value, TestRecords | ProbeRecords):
            yield from value.json_parts()
        elif isinstance(value, list) and len(value) > JSON_BATCH:
            yield "["
            for start in range(0, len(value), JSON_BATCH):
                yield (", " if start else "") + json.dumps(value[start:start + JSON_BATCH])[1:-1]
            yield "]"
        else:
            yield json.dumps(value)
    yield "}"


def file_digest(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    except OSError:
        return {"path": str(path), "sha256": None}


def probe_record(observation: Observation, certificates: dict[str, bytes],
                 cert_json: dict[str, dict[str, object]] | None = None) -> dict[str, Any]:
    """The probe as JSON; each certificate's DER goes once into `certificates` (by SHA-256; the bytes
    object the probe holds: base64 is made when the document is written, not kept beside it).
    `cert_json` shares one JSON dict per certificate between the probes that saw it (an
    endpoint's offers mostly get the same leaf; intermediates repeat across the estate)."""
    record = observation.to_json(with_chain=False)  # the DER goes to `certificates`, once
    facts = chain_facts(observation.chain_der)
    shared = {} if cert_json is None else cert_json
    chain = []
    for der, cert in zip(observation.chain_der, facts.certs, strict=False):
        if cert.sha256 not in certificates:
            certificates[cert.sha256] = der
        if cert.sha256 not in shared:
            shared[cert.sha256] = cert.to_json()
        chain.append(shared[cert.sha256])
    record["chain"] = chain
    record["chain_error"] = facts.parse_error
    return record


TEST_KEYS = ("id", "test", "nodeid", "rule", "outcome", "status", "message", "fix", "causes", "duration_s")
SPILL_ROWS = 20000   # test records held in memory before they are encoded and moved to the spill file


class _Rows:
    """Records kept as the tuples of their values in one key order (the given one, else the first
    record's) and handed out as fresh dicts; a record with other keys is kept as it came. A tuple is
    a third to a fifth of the dict's size, and a run holds hundreds of thousands of records."""

    def __init__(self, keys: tuple[str, ...] | None = None) -> None:
        self._rows: list[tuple[Any, ...] | dict[str, Any]] = []
        self._keys = keys

    def _row(self, record: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        keys = tuple(record)
        if self._keys is None:
            self._keys = keys
        return tuple(record.values()) if keys == self._keys else record

    def _record(self, row: tuple[Any, ...] | dict[str, Any]) -> dict[str, Any]:
        return dict(zip(self._keys or (), row, strict=True)) if isinstance(row, tuple) else row

    def _rows_json(self, first: bool) -> Iterator[str]:
        """The records in memory as JSON array items, JSON_BATCH at a time; `first`: none before them."""
        for start in range(0, len(self._rows), JSON_BATCH):
            rows = [self._record(row) for row in self._rows[start:start + JSON_BATCH]]
            yield ("" if first and not start else ", ") + json.dumps(rows)[1:-1]


class ProbeRecords(_Rows):
    """The run's probe records (60,000 at 10,000 endpoints; an 18-key dict is five times its tuple)."""

    def append(self, record: dict[str, Any]) -> None:
        self._rows.append(self._row(record))

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._record, self._rows)

    def json_parts(self) -> Iterator[str]:
        """The records as one JSON array, in pieces ("".join() is json.dumps(list(self)))."""
        yield "["
        yield from self._rows_json(first=True)
        yield "]"


class TestRecords(_Rows):
    """The run's test records, one per (probe, rule): 720,000 at 10,000 endpoints, most of them passes.
    Held as tuples and, every SPILL_ROWS, encoded as JSON into an anonymous temporary file (gone with
    the process, however it ends): kept in memory they were ~250 MB of a 10,000-endpoint run's peak.
    What the end of the run reads stays in memory: the warning and failing records (`notable`, for
    the grouped summary) and the counts by outcome and by (rule, status). Iterating reads the spilled
    ones back."""

    __test__ = False   # not a pytest test class, whatever its name

    def __init__(self, spill_rows: int = SPILL_ROWS) -> None:
        super().__init__(TEST_KEYS)
        self._spill: Any = None       # the temporary file, opened at the first spill
        self._spilled = 0             # records in it, one JSON batch per line
        self.spill_rows = spill_rows
        self.notable: list[dict[str, Any]] = []
        self.outcomes: dict[str, int] = {}
        self.rule_status: dict[tuple[str, str], int] = {}

    def append(self, record: dict[str, Any]) -> None:
        self._add(record.get("rule") or record.get("test"), record.get("outcome"), record.get("status"),
                  self._row(record), record)

    def add_row(self, row: tuple[Any, ...]) -> None:
        """One record as the tuple of its TEST_KEYS values (what a test judging many rules writes)."""
        _, _, _, rule, outcome, status, *_ = row
        self._add(rule, outcome, status, row, None)

    def _add(self, rule: object, outcome: object, status: object, row: tuple[Any, ...] | dict[str, Any],
             record: dict[str, Any] | None) -> None:
        self.outcomes[str(outcome)] = self.outcomes.get(str(outcome), 0) + 1
        key = (str(rule), str(status or outcome))
        self.rule_status[key] = self.rule_status.get(key, 0) + 1
        if is_finding(status, outcome):
            self.notable.append(record if record is not None else self._record(row))
        self._rows.append(row)
        if len(self._rows) >= self.spill_rows:
            self._spill_rows()

    def _spill_rows(self) -> None:
        try:
            if self._spill is None:
                self._spill = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="dualcert-tests-")  # noqa: SIM115 (kept open for the run)
            self._spill.write(json.dumps([self._record(row) for row in self._rows])[1:-1] + "\n")
        except OSError:   # no room for the spill file: keep the records in memory, as before
            self.spill_rows = sys.maxsize
            return
        self._spilled += len(self._rows)
        self._rows = []

    def _batches(self) -> Iterator[str]:
        """The spilled records' JSON, one batch ("{...}, {...}") at a time."""
        if self._spill is None:
            return
        self._spill.flush()
        self._spill.seek(0)
        for line in self._spill:
            yield line.rstrip("\n")
        self._spill.seek(0, os.SEEK_END)

    def __len__(self) -> int:
        return self._spilled + len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self._batches():
            yield from json.loads(f"[{batch}]")
        yield from map(self._record, self._rows)

    def json_parts(self) -> Iterator[str]:
        """The records as one JSON array, in pieces: the spilled batches as they were written, then the
        ones in memory JSON_BATCH at a time ("".join() is json.dumps(list(self)))."""
        yield "["
        first = True
        for batch in self._batches():
            yield ("" if first else ", ") + batch
            first = False
        yield from self._rows_json(first)
        yield "]"

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()


class ResultsWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal = path.with_name(path.name + ".partial.jsonl")
        self.probes = ProbeRecords()
        self.tests = TestRecords()
        self.sections: dict[str, Any] = {}
        self.certificates: dict[str, bytes] = {}   # SHA-256 -> DER
        self._cert_json: dict[str, dict[str, object]] = {}
        # None: not opened yet; False: none from now on (it failed, or the document is written). A device
        # (--json /dev/stdout) has no journal: it would be a stray file in /dev.
        self._journal_handle: Any = None if path.is_file() or not path.exists() else False
        # Journal lines are written and flushed by a small thread every JOURNAL_FLUSH_S, not per probe:
        # a write per probe (each a system call once the buffer fills, and a GIL hand-over) cost the
        # probe phase seconds on a large estate. A run killed outright (SIGKILL, OOM) loses at most that
        # fraction of a second of probes; Ctrl-C and SIGTERM still write everything.
        self._journal_lock = threading.Lock()
        self._pending: list[str] = []   # journal lines not written yet
        self._stop_flusher = threading.Event()
        self._flusher: threading.Thread | None = None
        self.written = False
        # Writes that failed, (what, path, error): the journal's stop the journal and the run goes
        # on (the final document still holds every probe); the caller reports them and exits non-zero.
        self.errors: list[tuple[str, Path, OSError]] = []
        self._summary: tuple[int, dict[str, Any]] | None = None   # (tests it was built from, summary)
        self.run: dict[str, Any] = {}   # the run metadata last written (for --metrics)

    def _journal_failed(self, exc: OSError) -> None:
        """Called with the journal lock held: no more journal lines, the partial file stays as written."""
        self.errors.append(("results journal", self.journal, exc))
        handle, self._journal_handle = self._journal_handle, False
        if handle:
            with contextlib.suppress(OSError):  # its buffer cannot be written either: already reported
                handle.close()

    def add_probe(self, observation: Observation) -> dict[str, Any]:
        record = probe_record(observation, self.certificates, self._cert_json)
        self.probes.append(record)
        line = json.dumps(record) + "\n"
        with self._journal_lock:
            try:
                if self._journal_handle is None:
                    make_parent(self.journal)
                    self._journal_handle = self.journal.open("w", encoding="utf-8")
                    self._flusher = threading.Thread(target=self._flush_loop, name="dualcert-journal", daemon=True)
                    self._flusher.start()
                if self._journal_handle:
                    self._pending.append(line)
            except OSError as exc:
                self._journal_failed(exc)
        return record

    def _flush_loop(self) -> None:
        while not self._stop_flusher.wait(JOURNAL_FLUSH_S):
            with self._journal_lock:
                self._write_pending()

    def _write_pending(self) -> None:
        """Called with the journal lock held: the lines that landed since the last call, flushed."""
        lines, self._pending = self._pending, []
        if self._journal_handle and lines:
            try:
                self._journal_handle.write("".join(lines))
                self._journal_handle.flush()
            except OSError as exc:
                self._journal_failed(exc)

    def add_test(self, record: dict[str, Any]) -> None:
        self.tests.append(record)

    def summary(self) -> dict[str, Any]:
        """The grouped verdict (render.summary), built once for the JSON, the HTML and the terminal."""
        if self._summary is None or self._summary[0] != len(self.tests):
            self._summary = (len(self.tests), summarize(self.tests.notable, self.probes))
        return self._summary[1]

    def document(self, run: dict[str, Any]) -> dict[str, Any]:
        counts = dict(self.tests.outcomes)
        probe_counts: dict[str, int] = {}
        for probe in self.probes:
            probe_counts[probe["outcome"]] = probe_counts.get(probe["outcome"], 0) + 1
        return {
            "schema": SCHEMA,
            "run": {**run, "counts": counts, "probe_counts": probe_counts},
            "summary": self.summary(),
            "probes": self.probes,
            "tests": self.tests,
            **self.sections,
            "certificates": {sha256: base64.b64encode(der).decode() for sha256, der in self.certificates.items()},
        }

    def write(self, run: dict[str, Any]) -> bool:
        """The document, atomically; then the journal goes. A failed write is added to `errors` and
        the journal is kept: it holds every probe that landed. True when the document was written."""
        document = self.document(run)
        self.run = document["run"]
        self._stop_flusher.set()
        if self._flusher is not None:
            self._flusher.join(timeout=2)
        with self._journal_lock:
            self._write_pending()   # the journal stays if the document cannot be written: it holds every probe
            if self._journal_handle:
                try:
                    self._journal_handle.close()
                except OSError as exc:
                    self.errors.append(("results journal", self.journal, exc))
            self._journal_handle = False  # a late probe (after the document) has nowhere to go
        try:
            # No indent: json's C encoder only serves indent=None; with indent=1 the pure-Python
            # encoder took 2 s of a 2,000-endpoint run. `jq . FILE` pretty-prints it.
            atomic_write(self.path, json_chunks(document))
        except OSError as exc:
            self.errors.append(("results JSON", self.path, exc))
            return False
        self.written = True
        self.journal.unlink(missing_ok=True)
        return True


def run_metadata(**extra: Any) -> dict[str, Any]:
    return {
        "dualcert_version": __version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "command": sys.argv,
        "written": dt.datetime.now(dt.UTC).isoformat(),
        **extra,
    }

