"""Host names with a trailing dot (an absolute DNS name, "uccx.example.com."): the SNI is sent
without the dot and the hostname rule compares without it (RFC 6066 section 3)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from dualcert.compare.results_file import load_document
from dualcert.estate.inventory import load_inventory
from dualcert.lab.pki import CA, KeySpec
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Outcome

from .conftest import debian_binary, free_port, run_cli
from .thirdparty import running


def test_trailing_dot_host_sends_sni_without_it_and_matches_the_certificate(tmp_path: Path) -> None:
    """openssl s_server serves its -cert2 only when the SNI is exactly `dual.example.test`
    (its -servername), and its other certificate, for another name, otherwise."""
    root = CA.root("SNI Root", KeySpec.rsa())
    named = root.issue(["dual.example.test"], KeySpec.rsa()).write(tmp_path, "named")
    other = root.issue(["other.example.test"], KeySpec.rsa()).write(tmp_path, "other")
    port = free_port()
    command = [debian_binary("openssl", "openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-www",
               "-cert", str(other[0]), "-key", str(other[1]), "-servername", "dual.example.test",
               "-cert2", str(named[0]), "-key2", str(named[1])]
    inventory = tmp_path / "dot.yaml"
    inventory.write_text(f"site: dot\nnodes:\n  - name: dual\n    host: dual.example.test.\n    address: 127.0.0.1\n"
                         f"    services: [{{name: https, port: {port}}}]\n")
    with running(command, port):
        (endpoint,) = load_inventory(inventory).endpoints()
        assert endpoint.sni == "dual.example.test"
        (observation,) = ProbeRunner().run([ProbeTask(endpoint, Offer.RSA, TLSVersion.TLS1_2)]).values()
        run_cli("run", "--inventory", str(inventory), "--policy", "self-signed", "--", "--offers", "rsa",
                cwd=tmp_path)
    assert observation.outcome is Outcome.OK
    leaf = x509.load_der_x509_certificate(observation.chain_der[0])
    served = x509.load_pem_x509_certificates(named[0].read_bytes())[0]
    assert leaf.fingerprint(hashes.SHA256()) == served.fingerprint(hashes.SHA256())
    tests = load_document(tmp_path / "reports" / "dot.json")["tests"]
    verdicts = {t["id"]: t["status"] for t in tests if t["rule"] == "hostname"}
    assert verdicts and set(verdicts.values()) == {"pass"}, tests
