"""`dualcert merge`'s join: the shards' records streamed into one version-2 document (render.document), a file
and a record list at a time. Each shard's verdicts are renumbered into one table, its tests and endpoints
copied past compare.merge.Owners (no probe or test in two files) and counted, each certificate written once;
the failing and warning tests, and the probes they name, are kept for the grouped summary. Version-1 shards
are first laid out as version 2 in memory (they are the size version 1 could hold)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from dualcert.compare.merge import Owners
from dualcert.compare.results_file import ResultsFile, flat_probes, flat_tests, probe_id
from dualcert.render.document import EndpointTable, TestTable, certificate_entry, compact, document_chunks
from dualcert.render.summary import is_finding, summarize

READ_SIZE = 1 << 20


class Source:
    """One shard's records as version 2 has them, whatever the file's version."""

    def __init__(self, results: ResultsFile) -> None:
        self.results = results
        self.hellos: dict[str, str] = dict(results.head.get("hellos") or {})
        self._endpoints: EndpointTable | None = None
        self._tests: TestTable | None = None
        if results.version == 1:
            facts = results.certificates()
            self._endpoints = EndpointTable(facts)
            for probe in results.probes():
                self._endpoints.add(probe, [cert["sha256"] for cert in probe.get("chain") or []])
            self.hellos = self._endpoints.hellos
            self._tests = TestTable()
            for test in results.tests():
                self._tests.append(test)

    def verdicts(self) -> list[dict[str, Any]]:
        return self._tests.verdicts if self._tests is not None else self.results.verdicts()

    def items(self) -> Iterator[dict[str, Any]]:
        return self._tests.items() if self._tests is not None else self.results.test_items()

    def endpoints(self) -> Iterator[dict[str, Any]]:
        return self._endpoints.records() if self._endpoints is not None else self.results.endpoints()

    def certificates(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(SHA-256, the table's entry: facts and DER)."""
        if self.results.version == 2:
            yield from self.results.certificate_entries()
            return
        facts = self.results.certificates()
        for key, der in self.results.der():
            yield key, certificate_entry(facts.get(key, {}), der)


class Join:
    """The join's state: the merged verdict table, the counts, what the summary needs, the records spooled to
    temporary files (certificates, endpoints, tests) until the head, which counts them, is written first."""

    def __init__(self, sources: Sequence[Source], paths: Sequence[Path], spool: Path) -> None:
        self.sources, self.owners = sources, Owners(paths)
        self.verdicts: list[dict[str, Any]] = []
        self._verdict_index: dict[tuple[Any, ...], int] = {}
        self._uses: list[int] = []                        # how many tests name each verdict
        self._rule_sets: dict[tuple[int, ...], frozenset[str]] = {}
        self.probe_counts: dict[str, int] = {}
        self.notable: list[dict[str, Any]] = []
        self.named: dict[str, dict[str, Any]] = {}        # probe id -> its endpoint (the probes findings name)
        self.hellos: dict[str, str] = {}
        self.facts: dict[str, dict[str, Any]] = {}        # the certificates of the probes findings name
        self._spool = spool

    def _file(self, name: str) -> IO[str]:
        return tempfile.TemporaryFile("w+", encoding="utf-8", dir=self._spool, prefix=f".dualcert-merge-{name}-")

    def run(self) -> tuple[IO[str], IO[str], IO[str]]:
        tests, endpoints, certificates = self._file("tests"), self._file("endpoints"), self._file("certificates")
        for index, source in enumerate(self.sources):
            self._tests(index, source, tests)
        for index, source in enumerate(self.sources):
            self._endpoints(index, source, endpoints)
        needed = {key for endpoint in self.named.values() for chain in endpoint.get("chains") or [] for key in chain}
        written: set[str] = set()
        for source in self.sources:
            for key, entry in source.certificates():
                if key not in written:
                    written.add(key)
                    certificates.write(_line(key, entry))
                    if key in needed:
                        self.facts[key] = {"sha256": key, **{k: v for k, v in entry.items() if k != "der"}}
        return certificates, endpoints, tests

    def _tests(self, index: int, source: Source, out: IO[str]) -> None:
        renumbered = []
        for verdict in source.verdicts():
            key = tuple(sorted((k, str(v)) for k, v in verdict.items()))
            number = self._verdict_index.get(key)
            if number is None:
                number = self._verdict_index[key] = len(self.verdicts)
                self.verdicts.append(verdict)
                self._uses.append(0)
            renumbered.append(number)
        finding = [is_finding(v.get("status"), v.get("outcome")) for v in self.verdicts]
        uses = self._uses
        for item in source.items():
            results = {subject: [renumbered[ref] for ref in refs] for subject, refs in item["results"].items()}
            item["results"] = results
            noted = False
            for subject, refs in results.items():
                self.owners.tests(index, subject, self._rules(refs))
                for ref in refs:
                    uses[ref] += 1
                    noted = noted or finding[ref]
            if noted:
                self.notable += [t for t in flat_tests(item, self.verdicts)
                                 if is_finding(t.get("status"), t.get("outcome"))]
            out.write(_line(None, item))

    def _rules(self, refs: list[int]) -> frozenset[str]:
        """The rules of a subject's verdicts, one set per distinct list of verdicts."""
        key = tuple(refs)
        rules = self._rule_sets.get(key)
        if rules is None:
            rules = self._rule_sets[key] = frozenset(str(self.verdicts[r].get("rule") or self.verdicts[r].get("test"))
                                                     for r in refs)
        return rules

    def tallies(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """The tests by outcome, and by (rule, status), from how often each verdict was named."""
        counts: dict[str, int] = {}
        by_rule: dict[tuple[str, str], int] = {}
        for verdict, uses in zip(self.verdicts, self._uses, strict=True):
            if uses:
                counts[verdict["outcome"]] = counts.get(verdict["outcome"], 0) + uses
                rule, status = verdict.get("rule") or verdict.get("test"), verdict.get("status") or verdict["outcome"]
                key = (str(rule), str(status))
                by_rule[key] = by_rule.get(key, 0) + uses
        return counts, by_rule

    def _endpoints(self, index: int, source: Source, out: IO[str]) -> None:
        named = {str(t.get("id")) for t in self.notable}
        for endpoint in source.endpoints():
            for probe in endpoint.get("probes") or []:
                key = probe_id({**probe, "node": endpoint["node"], "service": endpoint["service"]})
                self.owners.probe(index, key)
                self.probe_counts[probe["outcome"]] = self.probe_counts.get(probe["outcome"], 0) + 1
                if key in named:
                    self.named[key] = endpoint
            for hello, args in source.hellos.items():
                self.hellos.setdefault(hello, args)
            out.write(_line(None, endpoint))

    def summary(self) -> dict[str, Any]:
        probes = [p for endpoint in {id(e): e for e in self.named.values()}.values()
                  for p in flat_probes(endpoint, self.facts, self.hellos)]
        return summarize(self.notable, probes)


def _line(key: str | None, record: Any) -> str:
    return f"\n{compact(key)}:{compact(record)}," if key is not None else f"\n{compact(record)},"


def joined_chunks(head: dict[str, Any], join: Join, spooled: tuple[IO[str], IO[str], IO[str]]) -> Iterator[str]:
    """The merged document: its head, then the spooled records (each line ends in a comma: the last one's is
    dropped), the verdicts between the endpoints and the tests."""
    certificates, endpoints, tests = spooled
    for chunk in document_chunks(head, (), (), (), ()):
        if chunk.startswith(',\n"certificates":{'):
            yield chunk
            yield from _spooled(certificates)
        elif chunk.startswith(',\n"endpoints":['):
            yield chunk
            yield from _spooled(endpoints)
        elif chunk.startswith(',\n"verdicts":['):
            yield chunk
            yield "".join(_line(None, v) for v in join.verdicts).rstrip(",")
        elif chunk.startswith(',\n"tests":['):
            yield chunk
            yield from _spooled(tests)
        else:
            yield chunk


def _spooled(handle: IO[str]) -> Iterator[str]:
    handle.flush()
    handle.seek(0)
    previous = ""
    while True:
        block = handle.read(READ_SIZE)
        if not block:
            break
        if previous:
            yield previous
        previous = block
    yield previous.rstrip(",")
    handle.close()
