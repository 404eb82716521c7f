"""One server, one outcome (issue 21, sections 2 and 3): servers that reset, close, answer in another
protocol or never answer give the same outcome, detail and verdict on every run, so `dualcert diff`
of two runs of an unchanged estate shows no change. A port that shows no TLS at all is never told to
upgrade its TLS version, and each such port is one finding, not one per offer."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from dualcert.compare.results_file import load_document

from .conftest import run_cli
from .peers import (
    close_after_client_hello,
    http_plaintext,
    reset_after_client_hello,
    reset_at_accept,
    tarpit,
    tcp_peer,
)

RUNS = 10
HOSTILE = {  # service name -> (the peer, the outcome every probe of it must get)
    "reset-at-accept": (reset_at_accept, "no-tls-answer"),
    "reset-after-hello": (reset_after_client_hello, "no-tls-answer"),
    "close-after-hello": (close_after_client_hello, "no-tls-answer"),
    "plain-http": (http_plaintext, "not-tls"),
    "tarpit": (tarpit, "timeout"),
}


def _probes(document: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {f"{p['service']}:{p['offer']}:{p['tls_version']}": (p["outcome"], p["detail"], p.get("dropped"),
                                                                   p["alert"], p["phase"], p["probed"])
            for p in document["probes"]}


def _verdicts(document: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {t["nodeid"]: (t["outcome"], t["status"], t["message"], t["fix"], t["causes"]) for t in document["tests"]}


def test_hostile_servers_get_the_same_outcome_detail_and_verdict_on_every_run(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        ports = {name: stack.enter_context(tcp_peer(handler, max_connections=RUNS * 12, hold_seconds=5))
                 for name, (handler, _) in HOSTILE.items()}
        services = "\n".join(f"      - {{name: {name}, port: {port}}}" for name, port in ports.items())
        (tmp_path / "hostile.yaml").write_text(
            f"site: hostile\nnodes:\n  - name: box\n    host: box.example.test\n    address: 127.0.0.1\n"
            f"    services:\n{services}\n")
        runs = []
        for index in range(RUNS):
            result = run_cli("run", "--inventory", "hostile.yaml", "--json", f"run{index}.json",
                             "--", "--handshake-timeout", "1", cwd=tmp_path)
            assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
            runs.append(load_document(tmp_path / f"run{index}.json"))

    first = runs[0]
    for name, (_, outcome) in HOSTILE.items():
        assert {v[0] for k, v in _probes(first).items() if k.startswith(f"{name}:")} == {outcome}, name
    for index, other in enumerate(runs[1:], 1):
        assert _probes(other) == _probes(first), f"run {index} differs from run 0"
        assert _verdicts(other) == _verdicts(first), f"run {index} differs from run 0"

    # No dead or non-TLS port is told to upgrade its TLS version, and each is one finding.
    failures = first["summary"]["failures"]
    assert not [f for f in failures if "upgrade it to a release" in f["fix"]], failures
    presented = [f for f in failures if f["rule"] == "presented_key"]
    for name in HOSTILE:
        holding = [f for f in presented if name in f["where"].get("box", [])]
        assert len(holding) == 1, (name, holding)
        assert holding[0]["tests"] >= 6 and holding[0]["cause"].startswith("no TLS conversation with the port: ")
    no_tls = [f for f in presented if "no-tls-answer" in f["cause"]]
    assert no_tls and all("firewall, load balancer or proxy" in f["fix"] and "versions" in f["fix"] for f in no_tls)

    for index in range(1, RUNS):
        diff = run_cli("diff", "run0.json", f"run{index}.json", cwd=tmp_path)
        assert diff.returncode == 0, diff.stdout[-2000:] + diff.stderr[-2000:]
        assert "no differences" in diff.stdout, diff.stdout
