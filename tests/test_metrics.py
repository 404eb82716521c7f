"""`--metrics FILE`: Prometheus text format for node_exporter's textfile collector, read back with
prometheus_client's parser, from runs against nginx presenting an RSA and an ECDSA certificate (the
formats themselves, and node_exporter reading the file: tests/test_metrics_textfile.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from dualcert.render.metrics import metrics_text
from dualcert.safetext import safe

from .conftest import run_cli
from .estates import SharedEstate, nginx_shared
from .test_metrics_textfile import textfile_problems

ENDPOINTS = 3


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedEstate]:
    with nginx_shared(tmp_path_factory.mktemp("metrics"), ENDPOINTS, days=20) as estate:
        yield estate


def samples(path: Path) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(path.read_text())}


def test_every_certificate_and_the_run_as_metrics(shared: SharedEstate, tmp_path: Path) -> None:
    inventory = shared.inventory(tmp_path / "site.yaml")
    before = time.time()
    result = run_cli("run", "--inventory", str(inventory), "--metrics", "textfile/dualcert.prom", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert [p.name for p in (tmp_path / "textfile").iterdir()] == ["dualcert.prom"]  # no temp file left behind
    found = samples(tmp_path / "textfile" / "dualcert.prom")
    not_after = found["dualcert_certificate_not_after_timestamp_seconds"]
    # Both certificates of every endpoint, the ECDSA one too, with issuer and self-signed as labels.
    assert {(s.labels["node"], s.labels["family"]) for s in not_after} == \
        {(f"web{i:02d}", f) for i in range(ENDPOINTS) for f in ("rsa", "ecdsa")}
    ecdsa = next(s for s in not_after if s.labels["family"] == "ecdsa")
    assert "Shared EC Issuing CA" in ecdsa.labels["issuer"]
    assert ecdsa.labels["self_signed"] == "false" and ecdsa.labels["site"] == "shared"
    assert 18 * 86400 < ecdsa.value - before < 20 * 86400  # issued "for 20 days" from a backdated notBefore
    assert all(18 < s.value < 20 for s in found["dualcert_certificate_days_left"])
    rule_tests = {(s.labels["rule"], s.labels["status"]): s.value for s in found["dualcert_rule_tests"]}
    assert rule_tests[("expiry", "warn")] >= 4 * ENDPOINTS and ("expiry", "fail") not in rule_tests
    assert {s.labels["outcome"]: s.value for s in found["dualcert_probes"]} == {"ok": 6 * ENDPOINTS}
    [exit_status] = found["dualcert_run_exit_status"]
    [compliant] = found["dualcert_last_compliant_run_timestamp_seconds"]
    [start] = found["dualcert_run_start_timestamp_seconds"]
    assert exit_status.value == 0 and before - 1 < start.value <= compliant.value <= time.time()
    assert found["dualcert_run_duration_seconds"][0].value > 0
    # A failing run (--strict makes the warnings fail) keeps the last compliant time it found in the file.
    failing = run_cli("run", "--inventory", str(inventory), "--strict", "--metrics", "textfile/dualcert.prom",
                      cwd=tmp_path)
    assert failing.returncode == 1
    again = samples(tmp_path / "textfile" / "dualcert.prom")
    assert again["dualcert_run_exit_status"][0].value == 1
    assert again["dualcert_last_compliant_run_timestamp_seconds"][0].value == compliant.value
    assert again["dualcert_run_start_timestamp_seconds"][0].value > start.value


def test_label_values_are_escaped() -> None:
    hostile = 'CN=a"b\\c\nd} x{="'
    document = {"run": {"site": 'si"te', "started": "2027-01-01T00:00:00+00:00",
                        "written": "2027-01-01T00:00:02+00:00", "exit_status": 0, "status": "complete"},
                "probes": [{"node": "n", "service": "s", "outcome": "ok",
                            "chain": [{"key_type": "ECDSA", "not_after": "2027-01-21T00:00:00+00:00",
                                       "issuer": hostile, "self_signed": True, "sha256": "ab"}]}],
                "tests": [{"rule": "expiry", "status": "warn"}]}
    text = metrics_text(document)
    found = {f.name: f.samples for f in text_string_to_metric_families(text)}
    # The same labels read as OpenMetrics, and nothing node_exporter's textfile collector would refuse.
    assert {f.name: f.samples for f in openmetrics_families(text)} == found and textfile_problems(text) == []
    [leaf] = found["dualcert_certificate_not_after_timestamp_seconds"]
    assert leaf.labels["issuer"] == safe(hostile) and leaf.labels["site"] == 'si"te'
    assert leaf.labels["self_signed"] == "true" and found["dualcert_certificate_days_left"][0].value == 20
    # Carried from a previous file only when this run is not compliant.
    failed = metrics_text({**document, "run": {**document["run"], "exit_status": 1}}, previous=text)
    assert 'dualcert_last_compliant_run_timestamp_seconds{site="si\\"te"} 1798761602' in failed
    assert "dualcert_last_compliant_run_timestamp_seconds" not in metrics_text(
        {**document, "run": {**document["run"], "exit_status": 1}})
