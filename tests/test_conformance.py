"""Conformance of what dualcert accepts as a server chain, over real TLS (issue 22): ~150 cases generated here from
RFC 5280 / RFC 6125 / the CA/B BRs, each served on 127.0.0.1 and judged by `dualcert run`, beside OpenSSL,
Go's crypto/x509 and webpki judging the same certificates. Agreement must reach 99 %, and every deviation
from both the expected verdict and the validators' majority must be one docs/checks.md lists as
deliberate; a limbo file (DUALCERT_LIMBO=/path/limbo.json) is held to 99 % too. docs/checks.md,
"Conformance"."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conformance import limbo
from .conformance.agreement import MIN_AGREEMENT, Outcome, documented_deviations, measure
from .conformance.case import Case
from .conformance.harness import batches
from .conformance.judges import DEBIAN_CRATES
from .conformance.registry import generate
from .conftest import REPO, debian_binary, missing_capability

pytestmark = pytest.mark.conformance
CHECKS = REPO / "docs" / "checks.md"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the validators are built (once for the module) and the cases served from; the tools the
    validators need installed first when missing (as root)."""
    debian_binary(f"/usr/lib/{sysconfig.get_config_var('MULTIARCH')}/faketime/libfaketime.so.1", "libfaketime")
    debian_binary(str(next(DEBIAN_CRATES.glob("webpki-0.22*"), DEBIAN_CRATES / "webpki-0.22.0")), "librust-webpki-dev")
    if not (Path.home() / ".cargo/bin/cargo").exists():   # rustup's, where the machine has it; else Debian's
        debian_binary("cargo", "cargo")
    yield tmp_path_factory.mktemp("conformance")


def _show(outcome: Outcome, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The table on the terminal (whatever -s says) and in reports/<name>.txt."""
    table = outcome.table()
    (REPO / "reports").mkdir(exist_ok=True)
    (REPO / "reports" / f"{name}.txt").write_text(table + "\n", encoding="utf-8")
    with capsys.disabled():
        print(f"\n{table}\n(also in reports/{name}.txt)")


def _complete(outcome: Outcome) -> None:
    if outcome.missing:
        missing_capability("validators not run: " + "; ".join(f"{k}: {v}" for k, v in outcome.missing.items()))


def test_generated_cases_agree_with_the_validators(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = generate(dt.datetime.now(dt.UTC))
    assert 100 <= len(cases) <= 200
    outcome = measure(cases, work / "generated")
    _show(outcome, "conformance", capsys)
    _complete(outcome)
    # Each validator tells accept from reject (a judge that cannot run or says one word would agree with nothing).
    for name in ("openssl", "go", "webpki"):
        said = {row.validators[name].accepted for row in outcome.rows}
        assert {True, False} <= said, f"{name} judged every case alike: {said}"
    documented = documented_deviations(CHECKS)
    deviating = {row.case.id for row in outcome.deviations}
    assert not deviating - set(documented), (
        f"deviations docs/checks.md does not list as deliberate: {sorted(deviating - set(documented))}")
    assert not set(documented) - deviating, f"listed deviations that now agree: {sorted(set(documented) - deviating)}"
    # Nobody-can-serve cases are counted and bounded: the ones docs/checks.md lists, each with its reason.
    unservable = documented_deviations(CHECKS, "### Cases that cannot be served")
    assert set(outcome.unservable) == set(unservable), outcome.unservable
    assert len(outcome.served) >= 0.95 * len(cases)
    assert outcome.agreement() >= MIN_AGREEMENT, f"agreement {outcome.agreement():.1%} < {MIN_AGREEMENT:.0%}"


def test_runs_never_mix_validation_times_nor_share_a_certificate() -> None:
    """One trust bundle holds a run's cases: two cases with a certificate of the same name and key (a limbo
    file's may) go to different runs, and so do cases of different validation times."""
    cases = {c.id: c for c in generate(dt.datetime.now(dt.UTC))}
    one, other, fixed = cases["path-root-leaf"], cases["host-exact"], cases["time-valid-then"]
    twin = dataclasses.replace(one, id="twin", peer="other.example.test")
    assert [[c.id for c in run] for run in batches([one, other, twin, fixed])] == [
        ["path-root-leaf", "host-exact"], ["twin"], ["time-valid-then"]]


def _limbo_cases(cases: list[Case]) -> list[Case]:
    """A few generated cases of every kind the reader must carry: a validation time, an IP peer, a chain
    of several certificates, accepted and rejected ones (their dualcert verdicts are the expected ones)."""
    wanted = ("path-two-intermediates", "time-valid-then", "time-expired-then", "host-ipv6-san", "nc-excluded-ip",
              "eku-leaf-client-auth", "selfsigned-leaf-pinned", "host-peer-trailing-dot")
    return [c for c in cases if c.id in wanted]


def test_a_limbo_file_is_read_and_run_by_the_same_harness(work: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A limbo-format file written from generated cases (plus entries the harness cannot run) reads back
    to the same cases, and the harness serves and judges them as it does the generated set."""
    originals = _limbo_cases(generate(dt.datetime.now(dt.UTC)))
    assert len(originals) == 8
    data = limbo.dump(originals)
    extra = {"client": {"validation_kind": "CLIENT"}, "nokey": {"peer_certificate_key": None},
             "email": {"expected_peer_name": {"kind": "RFC822", "value": "a@b.test"}},
             "unicode": {"expected_peer_name": {"kind": "DNS", "value": "bücher.test"}},
             "depth": {"max_chain_depth": 1}}
    for name, change in extra.items():
        data["testcases"].append({**data["testcases"][0], "id": f"dualcert::odd::{name}", **change})   # type: ignore
    path = tmp_path / "limbo.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded, skipped = limbo.load(path)
    assert sorted(skipped) == sorted(f"dualcert::odd::{name}" for name in extra), skipped
    assert "A-labels only" in skipped["dualcert::odd::unicode"] and "server" in skipped["dualcert::odd::client"]
    assert len(loaded) == len(originals)
    for original, read in zip(originals, loaded, strict=True):
        assert read.id == f"dualcert.{original.category}.{original.id.removeprefix(original.category + '-')}"
        assert (read.expected, read.trusted, read.chain, read.key_pem, read.peer, read.at) == (
            original.expected, original.trusted, original.chain, original.key_pem, original.peer, original.at)
    outcome = measure(loaded, work / "limbo-roundtrip")
    _show(outcome, "conformance-limbo-roundtrip", capsys)
    _complete(outcome)
    assert not outcome.unservable and len(outcome.run_seconds) == 2   # now, and the fixed validation time
    assert [row.dualcert.accepted for row in outcome.rows] == [c.expected for c in loaded]   # type: ignore[union-attr]


# x509-limbo's published file, when the user gives one (not vendored here: docs/checks.md, Conformance). The
# test exists only then: without the file there is nothing to run, and the reader is tested above.
LIMBO = os.environ.get("DUALCERT_LIMBO")
if LIMBO:
    def test_a_limbo_corpus_when_given(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """DUALCERT_LIMBO=/path/limbo.json (x509-limbo's published file, not vendored here): its server cases
        that can be served, judged like the generated ones, must agree at 99 %."""
        cases, skipped = limbo.load(Path(LIMBO))
        outcome = measure(cases, work / "limbo")
        outcome.unservable.update({f"{k} (not run)": v for k, v in skipped.items()})
        _show(outcome, "conformance-limbo", capsys)
        _complete(outcome)
        assert outcome.agreement() >= MIN_AGREEMENT, f"agreement {outcome.agreement():.1%} < {MIN_AGREEMENT:.0%}"
