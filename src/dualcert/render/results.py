"""The results JSON: one document per run (docs/results-json.md, `schema/results.schema.json`), written
atomically, with a journal of probes appended as they land so that even a killed run leaves what it measured."""

from __future__ import annotations

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
from itertools import islice
from pathlib import Path
from typing import Any

from dualcert import __version__
from dualcert.facts.chain import chain_facts
from dualcert.probe.observation import Observation
from dualcert.render.document import EndpointTable, TestTable, certificate_entry, document_chunks
from dualcert.render.summary import summarize

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


def file_digest(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    except OSError:
        return {"path": str(path), "sha256": None}


def probe_record(observation: Observation, certificates: dict[str, bytes],
                 facts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The probe as a version-1 record (compare.results_file's shape: its chain's facts); each certificate's
    DER goes once into `certificates` (by SHA-256; the bytes object the probe holds) and its facts once into
    `facts`, one dict shared by the probes that saw it (an endpoint's offers mostly get the same leaf)."""
    record = observation.to_json(with_chain=False)
    chain_facts_ = chain_facts(observation.chain_der)
    shared = {} if facts is None else facts
    chain = []
    for der, cert in zip(observation.chain_der, chain_facts_.certs, strict=False):
        if cert.sha256 not in certificates:
            certificates[cert.sha256] = der
        if cert.sha256 not in shared:
            shared[cert.sha256] = cert.to_json()
        chain.append(shared[cert.sha256])
    record["chain"] = chain
    record["chain_error"] = chain_facts_.parse_error
    return record


class ResultsWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal = path.with_name(path.name + ".partial.jsonl")
        self.certificates: dict[str, bytes] = {}   # SHA-256 -> DER
        self.facts: dict[str, dict[str, Any]] = {}   # SHA-256 -> the certificate's facts (one dict each)
        self.probes = EndpointTable(self.facts)
        self.tests = TestTable()
        self.sections: dict[str, Any] = {}
        self.endpoint_order: list[tuple[str, str]] = []   # (node, service) in the inventory's order
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

    def add_probe(self, observation: Observation) -> None:
        known = len(self.certificates)
        record = probe_record(observation, self.certificates, self.facts)
        chain = [cert["sha256"] for cert in record["chain"]]
        self.probes.add(record, chain)
        # The journal's line: the probe with its chain's keys, and the facts of each certificate the first time it
        # is seen (its DER stays for the document: a line must stay short enough to be written whole).
        line = {**record, "chain": chain}
        if len(self.certificates) > known:
            new = islice(reversed(self.certificates), len(self.certificates) - known)
            line["certificates"] = {key: certificate_entry(self.facts[key], None) for key in new}
        text = json.dumps(line) + "\n"
        with self._journal_lock:
            try:
                if self._journal_handle is None:
                    make_parent(self.journal)
                    self._journal_handle = self.journal.open("w", encoding="utf-8")
                    self._flusher = threading.Thread(target=self._flush_loop, name="dualcert-journal", daemon=True)
                    self._flusher.start()
                if self._journal_handle:
                    self._pending.append(text)
            except OSError as exc:
                self._journal_failed(exc)

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

    def document(self, run: dict[str, Any]) -> tuple[dict[str, Any], Iterator[str]]:
        """The document's small members, and its whole text in pieces (render.document)."""
        head = {"run": {**run, "counts": dict(self.tests.outcomes), "probe_counts": dict(self.probes.outcomes)},
                "summary": self.summary(), **self.sections, "hellos": self.probes.hellos}
        certificates = ((key, certificate_entry(self.facts[key], der)) for key, der in self.certificates.items())
        return head, document_chunks(head, certificates, self.probes.records(self.endpoint_order),
                                     self.tests.verdicts, self.tests.items())

    def write(self, run: dict[str, Any]) -> bool:
        """The document, atomically; then the journal goes. A failed write is added to `errors` and
        the journal is kept: it holds every probe that landed. True when the document was written."""
        head, text = self.document(run)
        self.run = head["run"]
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
            # One record per line, not indented: json's C encoder only serves indent=None (with indent=1 the
            # pure-Python encoder took 2 s of a 2,000-endpoint run). `jq . FILE` pretty-prints it.
            atomic_write(self.path, text)
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

