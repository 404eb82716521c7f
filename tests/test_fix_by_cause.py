"""The fix follows the cause (issue 23, section 2), each measured on a real server: a browser that gets
ECDSA where RSA is intended while the RSA-only offer gets RSA, a CA-signed leaf whose intermediate is
not sent, a host name that does not resolve, and a server declared RSA-only (`ecdsa_unit: null`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from dualcert.compare.results_file import load_document
from dualcert.rules import remedies
from dualcert.rules.causes import Cause

from .conftest import debian_binary, free_port, missing_capability, run_cli
from .test_thirdparty_servers import inventory_for
from .thirdparty import DUAL_SERVER, make_pki, nginx_serving, running


def _results(tmp_path: Path, site: str = "thirdparty") -> dict[str, Any]:
    data: dict[str, Any] = load_document(tmp_path / "reports" / f"{site}.json")
    return data

def _failed(data: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [t for t in data["tests"] if t["rule"] == rule and t["status"] in ("fail", "warn")]

def test_browser_given_ecdsa_where_rsa_is_intended_is_told_about_the_servers_order(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    policy = tmp_path / "browsers-rsa.yaml"
    policy.write_text("extends: ec-ca-signed\nrules:\n  presents: {ecdsa: ecdsa, rsa: rsa, default: rsa}\n")
    port = free_port()
    server = DUAL_SERVER.format(port=port, rsa_chain=pki.rsa[0], rsa_key=pki.rsa[1], ec_chain=pki.ec[0],
                                ec_key=pki.ec[1])
    with nginx_serving(pki.directory, server, port):   # nginx follows the client's order: ECDSA first
        result = run_cli("run", "--inventory", str(inventory_for(tmp_path, port, pki.roots)), "--policy", str(policy),
                         cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-2000:]
    data = _results(tmp_path)
    failed = _failed(data, "presented_key")
    assert {t["id"].split(":", 2)[2] for t in failed} == {"default:tls1.2", "default:tls1.3"}, failed
    for test in failed:
        assert test["causes"] == [Cause.BROWSER_GETS_ECDSA], test
        assert "prefers ECDSA for clients that offer both" in test["fix"], test["fix"]
        assert "must present" not in test["fix"]   # the RSA certificate is there: the RSA-only offers passed

def test_ca_signed_leaf_without_its_intermediate_is_told_to_send_it(tmp_path: Path) -> None:
    """nginx sends the EC leaf alone; the bundle holds the roots only. The trust failure and every
    client that cannot build the path lead with sending the intermediate, not with re-signing."""
    pki = make_pki(tmp_path)
    port = free_port()
    server = DUAL_SERVER.format(port=port, rsa_chain=pki.rsa[0], rsa_key=pki.rsa[1], ec_chain=pki.ec_leaf_only,
                                ec_key=pki.ec[1])
    with nginx_serving(pki.directory, server, port):
        run_cli("run", "--inventory", str(inventory_for(tmp_path, port, pki.roots)), "--clients", "chrome,java17",
                cwd=tmp_path)
    data = _results(tmp_path)
    trust = [t for t in _failed(data, "trust") if ":ecdsa:" in t["id"]]
    assert trust and all(t["causes"] == [Cause.MISSING_INTERMEDIATE] for t in trust), trust
    assert all(t["fix"].startswith("on dual: https does not send the CA that issued the server's ECDSA "
                                              "certificate") for t in trust), trust
    clients = [t for t in _failed(data, "client_accepts") if "ECDSA" in t["message"] or "EC " in t["message"]]
    assert clients, [t["message"] for t in _failed(data, "client_accepts")]
    for test in clients:
        assert Cause.CLIENT_UNTRUSTED in test["causes"], test
        assert "does not send the CA that issued" in test["fix"] and "generate a CSR" not in test["fix"], test

def test_a_name_that_does_not_resolve_is_told_so_and_offered_address(tmp_path: Path) -> None:
    """Resolution runs in a network namespace of our own (`unshare -n`): nothing leaves this machine."""
    if not shutil.which("unshare") or os.geteuid() != 0:
        missing_capability("needs root and unshare(1) to isolate the DNS lookup in a private network namespace")
    (tmp_path / "dns.yaml").write_text("site: dns\nnodes:\n  - name: ghost\n    host: ghost.invalid\n"
                                       "    services: [{name: https, port: 443}]\n")
    result = subprocess.run(["unshare", "-n", sys.executable, "-m", "dualcert.cli", "run", "--inventory", "dns.yaml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    failed = _failed(_results(tmp_path, "dns"), "presented_key")
    assert failed and {t["fix"] for t in failed} == {remedies.UNRESOLVED}
    assert {tuple(t["causes"]) for t in failed} == {(Cause.UNRESOLVED,)}
    assert "firewall" not in remedies.UNRESOLVED and "address:" in remedies.UNRESOLVED

def test_a_service_declared_rsa_only_is_diagnosed_rsa_only(tmp_path: Path) -> None:
    """openssl s_server with only the RSA certificate, declared `ecdsa_unit: null` in the inventory:
    the node is rsa-only by design, as intended, and the run passes."""
    pki = make_pki(tmp_path)
    port = free_port()
    command = [debian_binary("openssl", "openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-www",
               "-cert", str(pki.rsa_leaf_only), "-key", str(pki.rsa[1]), "-cert_chain", str(pki.rsa_issuing)]
    (tmp_path / "rsa.yaml").write_text(
        f"site: rsa\ntrust: {pki.roots}\nnodes:\n  - name: web\n    host: dual.example.test\n    address: 127.0.0.1\n"
        f"    services: [{{name: https, port: {port}, ecdsa_unit: null}}]\n")
    with running(command, port):
        result = run_cli("run", "--inventory", "rsa.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    data = _results(tmp_path, "rsa")
    [state] = [t for t in data["tests"] if t["rule"] == "deployment_state"]
    assert state["status"] == "pass" and "measured state rsa-only" in state["message"], state
    assert data["diagnosis"][0]["state"] == "rsa-only"
