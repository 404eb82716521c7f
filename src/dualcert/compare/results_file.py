"""Reading a results JSON a record at a time (docs/results-json.md), version 2 and version 1 alike.

Version 2 holds each certificate once (`certificates`, keyed by SHA-256), the endpoints with the chains they
presented (lists of those keys) and their probes, each distinct verdict once (`verdicts`) and the tests
referring to them. Version 1 repeated each chain's facts in every probe and each test whole. Both are parsed
by ijson (yajl's C parser), one record at a time, so no reader holds a whole document; records come out in
one shape, version 1's (a probe with its chain's facts, a test record per subject and rule, its message
without its subject), and every reader (diff, --baseline, merge, report, metrics) reads both versions alike.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import ijson

SCHEMA = "dualcert-results/2"      # what dualcert writes (render/document.py)
SCHEMA_V1 = "dualcert-results/1"   # still read
SCHEMAS = (SCHEMA_V1, SCHEMA)
BULK = frozenset({"certificates", "endpoints", "verdicts", "tests", "probes"})   # members read as streams
# A version-2 probe leaves out what equals these (and the endpoint's host, address and port).
PROBE_DEFAULTS: dict[str, Any] = {"detail": "", "alert": None, "phase": None, "dropped": None,
                                  "negotiated_version": None, "cipher": None, "connect_ms": None,
                                  "handshake_ms": None, "probed": True, "chain_error": None}
ENDPOINT_FIELDS = ("host", "address", "port")
PROBE_FIELDS = ("node", "service", "offer", "tls_version", "host", "address", "port", "outcome", "detail", "alert",
                "phase", "dropped", "negotiated_version", "cipher", "connect_ms", "handshake_ms", "probed",
                "reproduce", "chain", "chain_error")   # a probe record's keys, in version 1's order
TAIL = " </dev/null"   # a reproduce line's end, after the hello's openssl arguments
HEAD_LINES = 64        # a version-2 head's lines: one per small member
FIRST_LINE = f'{{"schema":"{SCHEMA}",\n'


class NotResults(ValueError):
    """Not a dualcert results file (another JSON document), or one whose records are incomplete."""


def split_subject(message: str, subject: str) -> str:
    """The message without the subject it begins with (a probe's "node service (host:port), ecdsa offer
    over TLS 1.2: ", a node's "node: ", a cluster's "cluster name: "): what the rule found, in the same words
    wherever it is found. Version 2 keeps test messages so, the subject being the test's id; applied to a
    message already without it, it changes nothing."""
    marker = message.find(" offer over TLS ")
    if marker >= 0:
        colon, newline = message.find(": ", marker), message.find("\n")
        if colon >= 0 and (newline < 0 or colon < newline):
            return message[colon + 2:]
    for lead in (f"{subject}: ", f"cluster {subject}: "):
        if subject and message.startswith(lead):
            return message[len(lead):]
    return message


def probe_id(probe: Mapping[str, Any]) -> str:
    return f"{probe['node']}:{probe['service']}:{probe['offer']}:{probe['tls_version']}"


def flat_probes(endpoint: Mapping[str, Any], certificates: Mapping[str, dict[str, Any]],
                hellos: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """A version-2 endpoint's probes as version-1 records: its fields, the defaults left out, the reproduce
    line (the endpoint's part, the hello's, `</dev/null`) and the chain's facts (shared dicts, not copies)."""
    chains = endpoint.get("chains") or []
    for probe in endpoint.get("probes") or []:
        record = {"node": endpoint["node"], "service": endpoint["service"], "offer": probe["offer"],
                  "tls_version": probe["tls_version"]}
        for key in ENDPOINT_FIELDS:
            record[key] = probe.get(key, endpoint.get(key))
        record["outcome"] = probe["outcome"]
        for key in PROBE_FIELDS[8:17]:
            record[key] = probe.get(key, PROBE_DEFAULTS[key])
        reproduce = probe.get("reproduce")
        if reproduce is None and endpoint.get("reproduce"):
            hello = hellos.get(f"{probe['offer']}:{probe['tls_version']}")
            reproduce = f"{endpoint['reproduce']} {hello}{TAIL}" if hello is not None else endpoint["reproduce"]
        record["reproduce"] = reproduce or ""
        chain = probe.get("chain")
        record["chain"] = [certificates[key] for key in chains[chain]] if chain is not None else []
        record["chain_error"] = probe.get("chain_error")
        yield record


def flat_tests(item: Mapping[str, Any], verdicts: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A version-2 test item's results as version-1 records, one per (subject, verdict), each with its share
    of the item's duration."""
    results: Mapping[str, list[int]] = item.get("results") or {}
    count = sum(len(refs) for refs in results.values())
    share = round(float(item.get("duration_s") or 0) / count, 5) if count else 0.0
    for subject, refs in results.items():
        for ref in refs:
            verdict = verdicts[ref]
            rule = verdict.get("rule")
            yield {"id": subject, "test": verdict.get("test") or f"test_{rule}", "nodeid": item.get("nodeid"),
                   "rule": rule, "outcome": verdict["outcome"], "status": verdict.get("status"),
                   "message": verdict.get("message", ""), "fix": verdict.get("fix", ""),
                   "causes": verdict.get("causes", []), "concerns": verdict.get("concerns", {}), "duration_s": share}


class ResultsFile:
    """One results file: its small members (`head`: schema, run, summary, warnings, diagnosis, changes, hellos)
    read at once, its records (certificates, probes, verdicts, tests) streamed when asked. Raises OSError,
    UnicodeDecodeError, json.JSONDecodeError (not JSON, where ijson says) and NotResults."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head = self._read_head()
        self.version = 2 if self.head.get("schema") == SCHEMA else 1
        self._certificates: dict[str, dict[str, Any]] | None = None
        self._tail_read = self.version == 2   # version 1 keeps warnings, diagnosis and changes after its records
        self._span_cache: dict[str, tuple[int, int]] | None = None

    def _events(self) -> Generator[tuple[str, str, Any], None, None]:
        with self.path.open("rb") as handle:
            try:
                yield from ijson.parse(handle, use_float=True)
            except ijson.JSONError as exc:
                raise _not_json(exc) from None

    def _read_head(self) -> dict[str, Any]:
        """The members before the first record list; version 2 writes every small member there."""
        laid_out = self._head_lines()
        if laid_out is not None:
            if laid_out.get("schema") not in SCHEMAS:
                raise NotResults(f"{self.path} is not a dualcert results file (schema {SCHEMA})")
            return laid_out
        events = self._events()
        found: dict[str, Any] = {}
        try:
            first = next(events, None)
            if first is None or first[1] != "start_map":
                raise NotResults(f"{self.path} is not a dualcert results file (schema {SCHEMA})")
            for prefix, event, value in events:
                if prefix or event != "map_key":
                    if prefix == "" and "schema" in found:
                        break   # the end of the document, or of a record list before the schema
                    continue    # a record list's events, before the schema (another writer's order)
                if value in BULK:
                    if "schema" in found:
                        break
                    continue
                found[value] = _build(events)
        finally:
            events.close()
        if found.get("schema") not in SCHEMAS:
            raise NotResults(f"{self.path} is not a dualcert results file (schema {SCHEMA})")
        return found

    def _head_lines(self) -> dict[str, Any] | None:
        """The head as dualcert lays it out, a member per line up to the line `"certificates":{`, decoded by json's
        C decoder: a 10,000-node `run` took ijson's Python object builder a second. None for another layout
        (pretty-printed, hand-made, version 1): the events are read then."""
        lines: list[str] = []
        with self.path.open(encoding="utf-8") as handle:
            if handle.readline(len(FIRST_LINE) + 1) != FIRST_LINE:
                return None
            lines.append(FIRST_LINE)
            for line in handle:
                if line.startswith('"certificates":{'):
                    break
                lines.append(line)
                if len(lines) > HEAD_LINES:
                    return None
            else:
                return None
        try:
            found = json.loads("".join(lines).rstrip().rstrip(",") + "}")
        except json.JSONDecodeError:
            return None
        return found if isinstance(found, dict) else None

    def section(self, name: str) -> Any:
        """A small member (`warnings`, `diagnosis`, `changes`, ...); version 1's after its records are read
        in one pass over the file, the records skipped."""
        if name not in self.head and not self._tail_read:
            self._tail_read = True
            events = self._events()
            next(events, None)
            for prefix, event, value in events:
                if prefix == "" and event == "map_key" and value not in BULK and value not in self.head:
                    self.head[value] = _build(events)
        return self.head.get(name)

    def _spans(self) -> dict[str, tuple[int, int]]:
        """Where each record list is in a version-2 file laid out by dualcert (each on lines of its own, in the
        writer's order): ijson then reads only that list's bytes instead of the whole file for each of them.
        Empty for another layout (the whole file is read for each list then)."""
        if self._span_cache is None:
            self._span_cache = {}
            if self.version == 2:
                with self.path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    self._span_cache = _layout(data)
        return self._span_cache

    def _source(self, handle: BinaryIO, prefix: str) -> Any:
        span = self._spans().get(prefix.split(".", 1)[0])
        return handle if span is None else _Slice(handle, *span)

    def _items(self, prefix: str) -> Iterator[Any]:
        with self.path.open("rb") as handle:
            try:
                yield from ijson.items(self._source(handle, prefix), prefix, use_float=True)
            except ijson.JSONError as exc:
                raise _not_json(exc) from None

    def certificates(self) -> dict[str, dict[str, Any]]:
        """Every certificate's facts by SHA-256 (each a dict with its `sha256`, as version 1's chains held them)."""
        if self._certificates is None:
            found: dict[str, dict[str, Any]] = {}
            if self.version == 2:
                for key, entry in self._kvitems("certificates"):
                    entry.pop("der", None)
                    found[key] = {"sha256": key, **entry}
            else:
                for probe in self._items("probes.item"):
                    for cert in probe.get("chain") or []:
                        found.setdefault(str(cert.get("sha256")), cert)
            self._certificates = found
        return self._certificates

    def _kvitems(self, prefix: str) -> Iterator[tuple[str, Any]]:
        with self.path.open("rb") as handle:
            try:
                yield from ijson.kvitems(self._source(handle, prefix), prefix, use_float=True)
            except ijson.JSONError as exc:
                raise _not_json(exc) from None

    def certificate_entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Version 2's certificate table as written: (SHA-256, its facts and DER in base64)."""
        return self._kvitems("certificates") if self.version == 2 else iter(())

    def der(self) -> Iterator[tuple[str, str]]:
        """(SHA-256, DER in base64) of every certificate."""
        if self.version == 2:
            for key, entry in self.certificate_entries():
                yield key, str(entry.get("der") or "")
        else:
            yield from self._kvitems("certificates")

    def endpoints(self) -> Iterator[dict[str, Any]]:
        """Version 2's endpoint records as written (version 1 has none: see probes())."""
        return self._items("endpoints.item") if self.version == 2 else iter(())

    def probes(self) -> Iterator[dict[str, Any]]:
        """Every probe as a version-1 record."""
        if self.version == 1:
            yield from self._items("probes.item")
            return
        certificates, hellos = self.certificates(), self.head.get("hellos") or {}
        for endpoint in self.endpoints():
            yield from flat_probes(endpoint, certificates, hellos)

    def verdicts(self) -> list[dict[str, Any]]:
        return list(self._items("verdicts.item")) if self.version == 2 else []

    def test_items(self) -> Iterator[dict[str, Any]]:
        """Version 2's test items as written (pytest's node id, its duration, its verdicts by subject)."""
        return self._items("tests.item") if self.version == 2 else iter(())

    def tests(self) -> Iterator[dict[str, Any]]:
        """Every test record as version 1 laid it out, its message without its subject."""
        if self.version == 1:
            for test in self._items("tests.item"):
                test["message"] = split_subject(str(test.get("message") or ""), str(test.get("id") or ""))
                yield test
            return
        verdicts = self.verdicts()
        for item in self.test_items():
            yield from flat_tests(item, verdicts)


def load_document(path: Path) -> dict[str, Any]:
    """A results file whole, as version 1 laid it out (probes with their chains' facts, test records, the
    certificates' DER by SHA-256) whatever its version: for small files and tests, not for large estates."""
    results = ResultsFile(path)
    document = dict(results.head)
    for name in ("warnings", "diagnosis", "changes"):
        if results.section(name) is not None:
            document[name] = results.section(name)
    document.pop("hellos", None)
    document["probes"] = list(results.probes())
    document["tests"] = list(results.tests())
    document["certificates"] = dict(results.der())
    return document


LISTS = ("certificates", "endpoints", "verdicts", "tests")   # the record lists, in the writer's order


def _layout(data: mmap.mmap) -> dict[str, tuple[int, int]]:
    """Each record list's bytes (`"name":[...]`), found at the line starts the writer gives them; a JSON string
    holds no newline, so a line that starts with `"tests":` is that member. Empty unless all are found, in order,
    each ending where the next begins."""
    if data[:len(FIRST_LINE)] != FIRST_LINE.encode():
        return {}
    starts, at = [], 0
    for name in LISTS:
        at = data.find(f'\n"{name}":'.encode(), at)
        if at < 0:
            return {}
        starts.append(at + 1)
    close = data.rfind(b"}")
    ends = [start - 2 for start in starts[1:]] + [close]   # before ",\n" / the document's closing brace
    spans = dict(zip(LISTS, zip(starts, ends, strict=True), strict=True))
    if any(data[end - 1:end] not in (b"]", b"}") for _, end in spans.values()) or \
            any(data[end:end + 1] != b"," for _, end in list(spans.values())[:-1]):
        return {}
    return spans


class _Slice:
    """A byte range of a file read as a document of its own, `{` + the range + `}` (ResultsFile._spans)."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        handle.seek(start)
        self._handle, self._left, self._tail = handle, end - start, b"}"
        self._head = b"{"

    def read(self, size: int = -1) -> bytes:
        if size == 0:   # ijson asks for nothing first, to learn whether the file gives bytes or text
            return b""
        head, self._head = self._head, b""
        size = self._left if size < 0 else max(0, min(size - len(head), self._left))
        body = self._handle.read(size) if size else b""
        self._left -= len(body)
        tail = b""
        if self._left <= 0 and self._tail:
            tail, self._tail = self._tail, b""
        return head + body + tail


def _build(events: Iterator[tuple[str, str, Any]]) -> Any:
    """The value whose first event is next, built from the events (the head's small members)."""
    builder = ijson.ObjectBuilder()
    depth = 0
    for _, event, value in events:
        builder.event(event, value)
        depth += event in ("start_map", "start_array")
        depth -= event in ("end_map", "end_array")
        if depth == 0:
            break
    return builder.value


def _not_json(exc: Exception) -> json.JSONDecodeError:
    """ijson's error as json's (what callers catch), at the position it names when it names one."""
    return json.JSONDecodeError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, "", 0)
