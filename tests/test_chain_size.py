"""Certificate lists above OpenSSL's 100 KiB limit (issue 12, section 9): a 10,000-SAN leaf
served by openssl s_server is `chain-too-large`, naming the limit, not a bare `error`; 1,000 SANs
are read. The Python bindings cannot raise SSL_CTX_set_max_cert_list (probe/connection.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from dualcert.compare.results_file import load_document
from dualcert.estate.inventory import load_inventory
from dualcert.facts.chain import chain_facts
from dualcert.lab.pki import CA, KeySpec
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Outcome

from .conftest import debian_binary, free_port, run_cli
from .thirdparty import running


def chain_der_of(path: Path) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return [x509.load_pem_x509_certificates(path.read_bytes())[0].public_bytes(Encoding.DER)]


@pytest.mark.parametrize("sans", [1_000, 10_000])
def test_many_sans_against_openssl_s_server(tmp_path: Path, sans: int) -> None:
    names = ["dual.example.test", *(f"host-{n:05d}.san.example.test" for n in range(sans - 1))]
    chain, key = CA.root("SAN Root", KeySpec.rsa()).sub_ca("SAN Issuing CA").issue(names, KeySpec.rsa()) \
        .write(tmp_path, "many")
    size = len(chain.read_bytes())  # PEM: about 4/3 of the DER the Certificate message carries
    port = free_port()
    command = [debian_binary("openssl", "openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-www",
               "-cert", str(chain), "-key", str(key)]
    inventory = tmp_path / "sans.yaml"
    inventory.write_text(f"site: sans\nnodes:\n  - name: sans\n    host: dual.example.test\n    address: 127.0.0.1\n"
                         f"    services: [{{name: https, port: {port}}}]\n")
    (endpoint,) = load_inventory(inventory).endpoints()
    tasks = [ProbeTask(endpoint, Offer.RSA, version) for version in TLSVersion]
    with running(command, port):
        results = ProbeRunner().run(tasks)
        s_client = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}"], input=b"",
                                  capture_output=True, timeout=30)
        run_cli("run", "--inventory", str(inventory), "--policy", "self-signed", "--", "--offers", "rsa",
                "--tls-versions", "tls1.2", cwd=tmp_path)
    [verdict] = [t for t in load_document(tmp_path / "reports" / "sans.json")["tests"]
                 if t["rule"] == "presented_key"]
    for task in tasks:
        observation = results[task.key]
        if sans == 1_000:
            assert observation.outcome is Outcome.OK, observation
            assert len(chain_facts(observation.chain_der).leaf.san_dns) == sans
            continue
        assert size * 3 // 4 > 100 * 1024
        assert observation.outcome is Outcome.CHAIN_TOO_LARGE and observation.phase == "handshake", observation
        assert "certificate-list limit of 102,400 bytes" in observation.detail
        der = sum(len(c) for c in chain_der_of(chain))  # the leaf: s_server sends the first certificate only
        kib = int(re.search(r"Certificate message \(about ([\d,]+) KiB", observation.detail)[1].replace(",", ""))
        assert 0.9 * der / 1024 < kib < 1.2 * der / 1024 + 17, (kib, der)
    if sans == 1_000:
        assert verdict["status"] == "pass", verdict
        return
    # OpenSSL's own client, with its defaults, fails the same way: a finding, with its own fix.
    assert b"excessive message size" in s_client.stdout + s_client.stderr
    assert verdict["status"] == "fail" and "certificate chain that cannot be read" in verdict["message"]
    assert "fewer subject alternative names" in verdict["fix"] and "reachable" not in verdict["fix"]
