"""`--metrics` in the formats it claims, from a real `dualcert run` against the embedded lab: the
Prometheus text format that node_exporter's textfile collector parses (prometheus_client's text
parser, the collector's rules, and Debian's node_exporter itself reading the file), and OpenMetrics
(prometheus_client's OpenMetrics parser: `# UNIT`, `# EOF`)."""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from dualcert.lab import Lab
from dualcert.render.metrics import FAMILIES, LAST_COMPLIANT, metrics_text

from .conftest import debian_binary, free_port, run_cli

PROBES_PER_ENDPOINT = 6   # 3 offers x 2 TLS versions
# Families the lab run has no samples for: no compliant run yet, and no merge that left nodes unchecked.
LATER = {LAST_COMPLIANT, "dualcert_node_not_checked"}

# --- node_exporter's textfile rules --------------------------------------------------------
# The collector reads each *.prom file with prometheus/common's text parser (expfmt.TextParser) and
# drops the whole file on a parse error or on a sample with a timestamp; a duplicate series gets past
# the parser but fails the registry's gathering (the series is dropped, an error logged).
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'   # the text format's three escapes only
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL},?)*)\}})? (\S+)(?: (\S+))?$")
METADATA = re.compile(rf"^# (HELP|TYPE) ({NAME}) (.*)$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
OWN_PREFIXES = ("node_", "go_", "process_", "promhttp_")   # what node_exporter exposes itself


def textfile_problems(text: str) -> list[str]:
    """What node_exporter's textfile collector would reject or lose in `text`, one line each."""
    problems: list[str] = [] if text.endswith("\n") else ["no newline at the end: unexpected end of input"]
    metadata: set[tuple[str, str]] = set()
    series: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    finished: set[str] = set()   # families that another family has followed: they may not come back
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            found = METADATA.match(line)
            if found is None:
                continue   # any other comment (`# UNIT`, `# EOF`) is ignored by the text format
            kind, name, rest = found.groups()
            if (kind, name) in metadata:
                problems.append(f"line {number}: second {kind} line for {name}")
            metadata.add((kind, name))
            if kind == "TYPE" and rest not in TYPES:
                problems.append(f"line {number}: unknown type {rest!r}")
            if kind == "HELP" and not re.fullmatch(r'(?:[^\\]|\\[\\n"])*', rest):
                problems.append(f"line {number}: HELP escape other than \\\\, \\n and \\\"")
        else:
            found = SAMPLE.match(line)
            if found is None:
                problems.append(f"line {number}: not a sample (name, escaped labels, value): {line[:80]}")
                continue
            name, labels, value, timestamp = found.group(1), found.group(2) or "", found.group(5), found.group(6)
            pairs = re.findall(LABEL, labels)
            if len({key for key, _ in pairs}) != len(pairs):
                problems.append(f"line {number}: a label name twice")
            if (name, frozenset(pairs)) in series:
                problems.append(f"line {number}: duplicate series {name}{{{labels}}}")
            series.add((name, frozenset(pairs)))
            if timestamp is not None:
                problems.append(f"line {number}: a timestamp (node_exporter skips the whole file)")
            try:
                float(value)
            except ValueError:
                problems.append(f"line {number}: value {value!r} is not a number")
        if name != current:
            if name in finished:
                problems.append(f"line {number}: {name} again after another family (families must be contiguous)")
            if current:
                finished.add(current)
            current = name
        if not name.startswith("dualcert_") or name.startswith(OWN_PREFIXES):
            problems.append(f"line {number}: {name} is not in dualcert's namespace")
    return problems


@dataclass
class LabMetrics:
    directory: Path
    text: str
    results: dict
    probes: int


@pytest.fixture(scope="module")
def lab_metrics(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> LabMetrics:
    cwd = tmp_path_factory.mktemp("textfile")
    result = run_cli("run", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path),
                     "--metrics", "textfile/dualcert.prom", cwd=cwd)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]   # S1, S2, ... fail by design
    assert [p.name for p in (cwd / "textfile").iterdir()] == ["dualcert.prom"]
    return LabMetrics(cwd / "textfile", (cwd / "textfile" / "dualcert.prom").read_text(encoding="utf-8"),
                      json.loads((cwd / "reports" / "lab.json").read_text()),
                      len(lab.endpoints) * PROBES_PER_ENDPOINT)


def _series(families: Iterator) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in families:
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


def test_text_format_and_openmetrics_parsers_read_the_same_metrics(lab_metrics: LabMetrics) -> None:
    text = lab_metrics.text
    # OpenMetrics: its parser refused the file without the closing `# EOF` ("Missing # EOF at end").
    as_openmetrics = list(openmetrics_families(text))
    assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1
    assert {f.name: f.unit for f in as_openmetrics} == {n: f.unit for n, f in FAMILIES.items() if n not in LATER}
    assert {f.type for f in as_openmetrics} == {"gauge"}
    # The text format's parser (the one node_exporter's collector shares) reads the very same series.
    series = _series(iter(as_openmetrics))
    assert _series(text_families(text)) == series
    probes = {dict(labels)["outcome"]: value for (name, labels), value in series.items() if name == "dualcert_probes"}
    assert sum(probes.values()) == lab_metrics.probes and probes["ok"] > 0
    leaves = [dict(labels) for name, labels in series if name == "dualcert_certificate_not_after_timestamp_seconds"]
    assert {leaf["family"] for leaf in leaves} == {"rsa", "ecdsa"}
    assert len(leaves) == len({(leaf["node"], leaf["service"], leaf["family"]) for leaf in leaves})
    # A whole run checked every node of the inventory: the coverage gauge a merge's alert reads says so.
    nodes = {dict(labels)["coverage"]: value for (name, labels), value in series.items() if name == "dualcert_nodes"}
    estate = lab_metrics.results["run"]["coverage"]["estate"]
    assert nodes == {"checked": len(estate), "not_checked": 0} and estate


def test_the_file_keeps_node_exporters_textfile_rules(lab_metrics: LabMetrics) -> None:
    assert textfile_problems(lab_metrics.text) == []
    # Every family once, HELP and TYPE (and UNIT) before its samples.
    heads = [line.split()[2] for line in lab_metrics.text.splitlines() if line.startswith("# HELP ")]
    assert len(heads) == len(set(heads)) == len(FAMILIES) - len(LATER)


BREAKAGES = [   # (id, what a regression could write, the problem the rules name)
    ("duplicate-series", lambda t: t.replace(_first(t), f"{_first(t)}\n{_first(t)}", 1), "duplicate series"),
    ("second-help", lambda t: t + "\n".join(_block(t, "dualcert_probes")) + "\n",
     "second HELP line for dualcert_probes"),
    ("interleaved", lambda t: t + _first(t).replace("} ", ',x="1"} ') + "\n", "again after another family"),
    ("timestamp", lambda t: t.replace(_first(t), _first(t) + " 1700000000000", 1), "a timestamp"),
    ("unescaped-quote", lambda t: t.replace('family="ecdsa"', 'family="ec"dsa"'), "not a sample"),
    ("unknown-escape", lambda t: t.replace('family="ecdsa"', 'family="ec\\dsa"'), "not a sample"),
    ("invalid-name", lambda t: t.replace("dualcert_probes", "dualcert-probes"), "not a sample"),
    ("node-namespace", lambda t: t.replace("dualcert_probes", "node_probes"), "node_probes is not in dualcert's"),
    ("no-final-newline", lambda t: t.rstrip("\n"), "no newline at the end"),
    ("help-escape", lambda t: t.replace("Unix time.", "Unix\\time."), "HELP escape other than"),
]


@pytest.mark.parametrize(("breakage", "problem"), [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES])
def test_the_rules_find_what_node_exporter_rejects(lab_metrics: LabMetrics, breakage: Callable[[str], str],
                                                   problem: str) -> None:
    """The rules above can fail: each breakage of the real file is found, and named."""
    assert textfile_problems(lab_metrics.text) == []
    assert problem in "\n".join(textfile_problems(breakage(lab_metrics.text)))


def _first(text: str) -> str:
    """The file's first certificate sample."""
    return next(line for line in text.splitlines() if line.startswith("dualcert_certificate_not_after"))


def _block(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith((f"# HELP {name} ", f"# TYPE {name} ", f"{name}{{"))]


def _scrape(port: int, process: subprocess.Popen[bytes]) -> str:
    """node_exporter's /metrics, once it listens (no proxy: loopback only)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 15
    while True:
        try:
            with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_node_exporter_reads_the_file_and_two_sites_side_by_side(lab_metrics: LabMetrics, tmp_path: Path) -> None:
    """Debian's node_exporter, its textfile collector alone, on 127.0.0.1: the lab's file and a second
    site's (same families and help texts, another `site` label) are read whole, every series kept."""
    binary = debian_binary("prometheus-node-exporter", "prometheus-node-exporter")
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    (textfiles / "dualcert.prom").write_text(lab_metrics.text, encoding="utf-8")
    other = copy.deepcopy(lab_metrics.results)
    other["run"]["site"] = "other"
    (textfiles / "dualcert-other.prom").write_text(metrics_text(other), encoding="utf-8")
    port = free_port()
    log = tmp_path / "node_exporter.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([binary, "--collector.disable-defaults", "--collector.textfile",
                                    f"--collector.textfile.directory={textfiles}",
                                    f"--web.listen-address=127.0.0.1:{port}"],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            scraped = _series(text_families(_scrape(port, process)))
            errors = [line for line in log.read_text(errors="replace").splitlines() if "level=error" in line.lower()]
            # A file node_exporter cannot parse is an error it reports: the checks above can fail.
            (textfiles / "broken.prom").write_text(lab_metrics.text + "\n".join(_block(lab_metrics.text,
                                                                                      "dualcert_probes")) + "\n")
            broken = _series(text_families(_scrape(port, process)))
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert errors == [], errors[:3]
    assert scraped[("node_textfile_scrape_error", frozenset())] == 0
    assert {dict(labels)["file"].rsplit("/", 1)[-1] for name, labels in scraped
            if name == "node_textfile_mtime_seconds"} == {"dualcert.prom", "dualcert-other.prom"}
    expected = _series(text_families(lab_metrics.text)) | _series(text_families(metrics_text(other)))
    kept = {key: value for key, value in scraped.items() if key[0].startswith("dualcert_")}
    assert kept.keys() == expected.keys()
    assert all(kept[key] == value or math.isclose(kept[key], value) for key, value in expected.items())
    assert broken[("node_textfile_scrape_error", frozenset())] == 1
