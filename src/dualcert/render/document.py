"""The results JSON's layout, version 2 (docs/results-json.md), and its encoding a record at a time.

Each certificate once (`certificates`, by SHA-256: its parsed facts and DER); each endpoint once with the
chains it presented (lists of those keys) and its probes, which name their chain by its place in that list;
each hello's openssl arguments once (`hellos`); each distinct verdict once (`verdicts`) and the tests as
pytest ran them, each naming its verdicts by their place per subject. Built from a run's records (render.
results) or a version-1 file's (render.fanin); read back by compare.results_file. One record per line.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from dualcert.compare.results_file import ENDPOINT_FIELDS, PROBE_DEFAULTS, SCHEMA, flat_probes, split_subject
from dualcert.probe.reproduce import split_command
from dualcert.render.summary import is_finding

EMPTY: dict[str, Any] = {"causes": [], "concerns": {}}   # a record's values when it lacks the key
TEST_KEYS = ("id", "test", "nodeid", "rule", "outcome", "status", "message", "fix", "causes", "concerns", "duration_s")
BATCH = 2000   # records per write


def compact(value: Any) -> str:
    """JSON without spaces: the results file's encoding."""
    return json.dumps(value, separators=(",", ":"))


class EndpointTable:
    """Probe records grouped by endpoint as version 2 writes them; `add` takes a version-1 record whose chain
    is its list of SHA-256 keys. Iterating hands out version-1 records again, chains resolved by `facts`."""

    def __init__(self, facts: Mapping[str, dict[str, Any]]) -> None:
        self.facts = facts                                  # SHA-256 -> the certificate's facts (with sha256)
        self.hellos: dict[str, str] = {}                    # "offer:tls_version" -> openssl arguments
        self._endpoints: dict[tuple[str, str], dict[str, Any]] = {}
        self._count = 0
        self.outcomes: dict[str, int] = {}                 # probes by outcome

    def add(self, probe: Mapping[str, Any], chain: Sequence[str]) -> None:
        key = (str(probe["node"]), str(probe["service"]))
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = {"node": key[0], "service": key[1],
                                               **{k: probe.get(k) for k in ENDPOINT_FIELDS}, "chains": [],
                                               "probes": []}
        record: dict[str, Any] = {"offer": probe["offer"], "tls_version": probe["tls_version"]}
        record.update((k, probe.get(k)) for k in ENDPOINT_FIELDS if probe.get(k) != endpoint[k])
        record["outcome"] = probe["outcome"]
        for name, default in PROBE_DEFAULTS.items():
            value = probe.get(name, default)
            if value != default:
                record[name] = round(value, 2) if name.endswith("_ms") and isinstance(value, float) else value
        self._reproduce(endpoint, record, str(probe.get("reproduce") or ""))
        if chain:
            chains: list[list[str]] = endpoint["chains"]
            listed = list(chain)
            record["chain"] = chains.index(listed) if listed in chains else len(chains)
            if record["chain"] == len(chains):
                chains.append(listed)
        endpoint["probes"].append(record)
        self._count += 1
        self.outcomes[record["outcome"]] = self.outcomes.get(record["outcome"], 0) + 1

    def _reproduce(self, endpoint: dict[str, Any], record: dict[str, Any], command: str) -> None:
        """The endpoint's part of the line once, the hello's once in `hellos`; a line of another shape stays whole."""
        if not command:   # none recorded (an older file's probe): said, so that none is made up from the parts
            record["reproduce"] = ""
            return
        hello_key = f"{record['offer']}:{record['tls_version']}"
        parts = split_command(command, self.hellos.get(hello_key)) or split_command(command)
        if parts is None or self.hellos.setdefault(hello_key, parts[1]) != parts[1] \
                or endpoint.setdefault("reproduce", parts[0]) != parts[0]:
            record["reproduce"] = command

    def __len__(self) -> int:
        return self._count

    def records(self, order: Iterable[tuple[str, str]] = ()) -> Iterator[dict[str, Any]]:
        """The endpoints as written, reproduce line before the chains: those `order` names (node, service) in its
        order (the inventory's), then the others as their first probe landed."""
        placed = {key: self._endpoints[key] for key in order if key in self._endpoints}
        for endpoint in [*placed.values(), *(e for k, e in self._endpoints.items() if k not in placed)]:
            yield {k: endpoint[k] for k in ("node", "service", *ENDPOINT_FIELDS, "reproduce", "chains", "probes")
                   if k in endpoint}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for endpoint in self._endpoints.values():
            yield from flat_probes(endpoint, self.facts, self.hellos)

    def __contains__(self, key: object) -> bool:
        """(node, service, offer, tls_version) probed."""
        if not isinstance(key, tuple) or len(key) != 4:
            return False
        endpoint = self._endpoints.get((key[0], key[1]))
        return endpoint is not None and any(p["offer"] == key[2] and p["tls_version"] == key[3]
                                            for p in endpoint["probes"])


class TestTable:
    """Test records as version 2 keeps them: each distinct verdict (rule, outcome, status, message without its
    subject, fix, causes) once, and per pytest item its verdicts by subject. Counts by outcome and by (rule,
    status), and the failing and warning records (`notable`, for the grouped summary), are kept as they come."""

    __test__ = False   # not a pytest test class, whatever its name

    def __init__(self) -> None:
        self.verdicts: list[dict[str, Any]] = []
        self._index: dict[tuple[Any, ...], int] = {}
        self._items: list[dict[str, Any]] = []
        self._count = 0
        self.notable: list[dict[str, Any]] = []
        self.outcomes: dict[str, int] = {}
        self.rule_status: dict[tuple[str, str], int] = {}

    def append(self, record: Mapping[str, Any]) -> None:
        self.add_row(tuple(record.get(k, EMPTY.get(k)) for k in TEST_KEYS))

    def add_row(self, row: tuple[Any, ...]) -> None:
        """One record as the tuple of its TEST_KEYS values."""
        subject, test, nodeid, rule, outcome, status, message, fix, causes, concerns, duration = row
        subject = str(subject)
        message = split_subject(str(message or ""), subject)
        key = (rule, test, outcome, status, message, fix or "", tuple(causes or ()), tuple((concerns or {}).items()))
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self.verdicts)
            self.verdicts.append(self.verdict(key))
        item = self._items[-1] if self._items and self._items[-1]["nodeid"] == nodeid else None
        if item is None:
            item = {"nodeid": nodeid, "duration_s": 0.0, "results": {}}
            self._items.append(item)
        item["duration_s"] += float(duration or 0)
        item["results"].setdefault(subject, []).append(index)
        self._count += 1
        self.outcomes[str(outcome)] = self.outcomes.get(str(outcome), 0) + 1
        counted = (str(rule or test), str(status or outcome))
        self.rule_status[counted] = self.rule_status.get(counted, 0) + 1
        if is_finding(status, outcome):
            self.notable.append(dict(zip(TEST_KEYS, (subject, test, nodeid, rule, outcome, status, message,
                                                     fix or "", list(causes or ()), dict(concerns or {}), duration),
                                                strict=True)))

    @staticmethod
    def verdict(key: tuple[Any, ...]) -> dict[str, Any]:
        rule, test, outcome, status, message, fix, causes, concerns = key
        verdict: dict[str, Any] = {"rule": rule, "outcome": outcome, "status": status, "message": message}
        if test != f"test_{rule}":
            verdict["test"] = test
        if fix:
            verdict["fix"] = fix
        if causes:
            verdict["causes"] = list(causes)
        if concerns:
            verdict["concerns"] = dict(concerns)
        return verdict

    def items(self) -> Iterator[dict[str, Any]]:
        for item in self._items:
            yield {**item, "duration_s": round(item["duration_s"], 4)}

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        """Nothing held outside memory (kept for the recorder's session end)."""


def certificate_entry(facts: Mapping[str, Any], der: bytes | str | None) -> dict[str, Any]:
    entry = {k: v for k, v in facts.items() if k != "sha256"}
    if der is not None:
        entry["der"] = base64.b64encode(der).decode() if isinstance(der, bytes) else der
    return entry


def document_chunks(head: Mapping[str, Any], certificates: Iterable[tuple[str, Mapping[str, Any]]],
                    endpoints: Iterable[Mapping[str, Any]], verdicts: Iterable[Mapping[str, Any]],
                    items: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The document's text in pieces: the small members first (a reader may stop at `certificates`), then the
    certificates (before the endpoints that refer to them), the endpoints, the verdicts and the tests."""
    yield "{" + ",\n".join(f"{compact(k)}:{compact(v)}" for k, v in {"schema": SCHEMA, **head}.items())
    yield ',\n"certificates":{'
    yield from _batched((f"\n{compact(k)}:{compact(v)}" for k, v in certificates), "}")
    for name, records in (("endpoints", endpoints), ("verdicts", verdicts), ("tests", items)):
        yield f',\n"{name}":['
        yield from _batched((f"\n{compact(r)}" for r in records), "]")
    yield "}\n"


def _batched(texts: Iterable[str], close: str) -> Iterator[str]:
    """The texts comma-separated, BATCH at a time, then `close`."""
    batch: list[str] = []
    first = True
    for text in texts:
        batch.append(text)
        if len(batch) >= BATCH:
            yield ("" if first else ",") + ",".join(batch)
            first, batch = False, []
    yield ("" if first or not batch else ",") + ",".join(batch) + close
