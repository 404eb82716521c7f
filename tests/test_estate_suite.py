"""The estate suite end to end through `dualcert run`: the report-only plain-text rule warns
by default and fails only with --strict; the estate tests alone probe what they need."""

from __future__ import annotations

import socket
from pathlib import Path

from dualcert.compare.results_file import load_document
from dualcert.rules.causes import Cause

from .conftest import run_cli
from .peers import closed_port


def inventory(tmp_path: Path, plain_port: int) -> Path:
    path = tmp_path / "plain.yaml"
    path.write_text("site: plain\nnodes:\n  - name: finesse\n    host: finesse.example.test\n    address: 127.0.0.1\n"
                    f"    services: [{{name: live, port: {closed_port()}, plaintext_port: {plain_port}}}]\n")
    return path


def estate_tests(tmp_path: Path) -> dict[str, dict]:
    data = load_document(tmp_path / "reports" / "plain.json")
    return {t["test"]: t for t in data["tests"] if t["id"] == "finesse"}


def test_plaintext_listener_warns_and_fails_only_when_strict(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        path = inventory(tmp_path, listener.getsockname()[1])
        run_cli("run", "--inventory", str(path), "--", "-k", "plaintext", cwd=tmp_path)
        warned = estate_tests(tmp_path)["test_plaintext_listener"]
        run_cli("run", "--inventory", str(path), "--strict", "--", "-k", "plaintext", cwd=tmp_path)
        strict = estate_tests(tmp_path)["test_plaintext_listener"]
    assert (warned["outcome"], warned["status"]) == ("passed", "warn")
    assert "accepts connections beside" in warned["message"] and "close the plain-text port" in warned["fix"]
    assert warned["causes"] == [Cause.PLAINTEXT_TWIN]
    assert strict["outcome"] == "failed"


def test_closed_plaintext_twin_passes(tmp_path: Path) -> None:
    path = inventory(tmp_path, closed_port())
    result = run_cli("run", "--inventory", str(path), "--", "-k", "plaintext", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert estate_tests(tmp_path)["test_plaintext_listener"]["outcome"] == "passed"


def test_estate_tests_alone_probe_their_nodes(tmp_path: Path) -> None:
    """Selecting only the cluster test still probes the node and writes the diagnosis."""
    path = inventory(tmp_path, closed_port())
    result = run_cli("run", "--inventory", str(path), "--", "-k", "deployment_state", cwd=tmp_path)
    data = load_document(tmp_path / "reports" / "plain.json")
    assert result.returncode == 1
    assert {p["offer"] for p in data["probes"]} == {"ecdsa", "rsa", "default"}
    assert [d["state"] for d in data["diagnosis"]] == ["unknown"]
    [test] = data["tests"]
    assert test["test"] == "test_deployment_state" and test["id"] == "plain" and test["outcome"] == "failed"
