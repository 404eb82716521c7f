"""Causes no other test produces on a real server (issue 23, section 2: every cause in the table of
rules/causes.py has a test on a real peer). One estate of real TLS servers (the lab's LabServer) and one
hostile peer on loopback, one policy with a section per node, one `dualcert run` with simulated
clients; each test reads the causes and fixes the run recorded for its node."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from dualcert.compare.results_file import load_document
from dualcert.lab.pki import CA, Issued, KeySpec
from dualcert.lab.server import LabServer, ServedEndpoint
from dualcert.probe.tls import server_context
from dualcert.rules.causes import Cause

from . import peers
from .conftest import run_cli

DOMAIN = "causes.test"

# Per node, over the policy's defaults: what each node is there to show.
POLICY = """\
extends: ec-ca-signed
nodes:
  ca-signed:
    rules: {signing: self}
  not-a-refusal:
    rules: {presents: {ecdsa: refused, rsa: any, default: any}}
clients:
  curve-blind:            # a TLS 1.3 client that signs with P-521 but offers no P-521 key exchange
    source: written for this test
    versions: [tls1.3]
    ciphers: [ECDHE-ECDSA-AES128-GCM-SHA256]
    sigalgs: [ecdsa_secp521r1_sha512, ecdsa_secp256r1_sha256]
    groups: [x25519, secp256r1]
  java8:
    accept_versions: [tls1.3]
    services:
      rsa-only-https: {key: ecdsa}
"""


def _host(node: str) -> str:
    return f"{node}.{DOMAIN}"


class Estate:
    """Each node's servers; the run's results JSON once it has run."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rsa_ca = CA.root("Causes RSA Root", KeySpec.rsa())
        self.ec_ca = CA.root("Causes EC Root", KeySpec.ec())
        self.nodes: list[str] = []
        self.endpoints: list[ServedEndpoint] = []
        self.results: dict[str, Any] = {}

    def chain(self, issued: Issued, stem: str) -> tuple[Path, Path]:
        return issued.write(self.directory, stem)

    def serve(self, *chains: tuple[Path, Path], **context: Any) -> ServedEndpoint:
        endpoint = ServedEndpoint(server_context(list(chains), **context))
        self.endpoints.append(endpoint)
        return endpoint

    def dual(self, names: list[str], stem: str) -> ServedEndpoint:
        return self.serve(self.chain(self.rsa_ca.issue(names, KeySpec.rsa()), f"{stem}-rsa"),
                          self.chain(self.ec_ca.issue(names, KeySpec.ec()), f"{stem}-ec"))

    def tests(self, node: str, rule: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.results["tests"] if (t["id"] == node or t["id"].startswith(f"{node}:"))
                and (rule is None or t["rule"] == rule) and t["status"] in ("fail", "warn")]


def _node(name: str, services: list[str], cluster: str | None = None) -> str:
    lines = [f"  - name: {name}", f"    host: {_host(name)}", "    address: 127.0.0.1", "    role: generic"]
    if cluster:
        lines.append(f"    cluster: {cluster}")
    lines.append("    services:")
    lines += [f"      - {service}" for service in services]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    work = tmp_path_factory.mktemp("causes")
    site = Estate(work)
    nodes: list[str] = []
    # A CA-signed dual server where the policy intends self-signed certificates.
    ca_signed = site.dual([_host("ca-signed")], "ca-signed")
    # An ECDSA-only server: the RSA-only offer is refused. On P-521, which Chrome neither signs with nor
    # offers for key exchange: Chrome cannot connect; curve-blind signs with it but lacks the group.
    p521 = site.serve(site.chain(site.ec_ca.issue([_host("ecdsa-only")], KeySpec.ec("secp521r1")), "p521"))
    # An RSA-only server whose service wants java8 to get ECDSA; java8 negotiates TLS 1.2 where TLS 1.3 is wanted.
    rsa_only = site.serve(site.chain(site.rsa_ca.issue([_host("rsa-only")], KeySpec.rsa()), "rsa-only"))
    # One node, two services declaring the same RSA slot, each presenting a different certificate.
    split = [site.dual([_host("split")], f"split-{i}") for i in range(2)]
    # A cluster of three: a multi-server certificate naming two of them, presented by both.
    shared = site.rsa_ca.issue([_host("pub"), _host("sub")], KeySpec.rsa())
    shared_ec = site.ec_ca.issue([_host("pub"), _host("sub")], KeySpec.ec())
    multi = site.serve(site.chain(shared, "multi-rsa"), site.chain(shared_ec, "multi-ec"))
    third = site.dual([_host("pub"), _host("sub"), _host("sub2")], "sub2")
    roots = work / "roots.pem"
    roots.write_bytes(b"".join(ca.cert.public_bytes(serialization.Encoding.PEM) for ca in (site.rsa_ca, site.ec_ca)))
    with ExitStack() as stack:
        stack.enter_context(LabServer(site.endpoints, workers=8))
        malformed = stack.enter_context(peers.tcp_peer(peers.malformed_certificate))
        nodes = [
            _node("ca-signed", [f"{{name: https, port: {ca_signed.port}}}"]),
            _node("ecdsa-only", [f"{{name: https, port: {p521.port}}}"]),
            _node("rsa-only", [f"{{name: rsa-only-https, port: {rsa_only.port}}}"]),
            _node("split", [f"{{name: https, port: {split[0].port}, rsa_unit: web, ecdsa_unit: web-ec}}",
                            f"{{name: admin, port: {split[1].port}, rsa_unit: web, ecdsa_unit: web-ec}}"]),
            _node("pub", [f"{{name: https, port: {multi.port}}}"], cluster="trio"),
            _node("sub", [f"{{name: https, port: {multi.port}}}"], cluster="trio"),
            _node("sub2", [f"{{name: https, port: {third.port}}}"], cluster="trio"),
            _node("not-a-refusal", [f"{{name: https, port: {malformed}}}"]),
        ]
        (work / "site.yaml").write_text("site: causes\ntrust: roots.pem\nnodes:\n" + "\n".join(nodes) + "\n")
        (work / "policy.yaml").write_text(POLICY)
        result = run_cli("run", "--inventory", "site.yaml", "--policy", "policy.yaml", "--clients",
                         "chrome,java8,curve-blind", cwd=work)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    site.results = load_document(work / "reports" / "causes.json")
    yield site


def _with(tests: list[dict[str, Any]], cause: Cause) -> list[dict[str, Any]]:
    return [t for t in tests if cause in t.get("causes", ())]


def test_a_ca_signed_server_where_self_signed_is_intended(estate: Estate) -> None:
    found = _with(estate.tests("ca-signed", "issuer"), Cause.CA_SIGNED)
    assert found and all("expected a self-signed certificate" in t["message"] for t in found), found
    assert all("CA-signed profile" in t["fix"] for t in found)


def test_an_ecdsa_only_server_refuses_the_rsa_offer(estate: Estate) -> None:
    found = _with(estate.tests("ecdsa-only", "presented_key"), Cause.RSA_NOT_PRESENTED)
    assert {t["id"].split(":", 2)[2] for t in found} == {"rsa:tls1.2", "rsa:tls1.3"}, found
    assert all("must present the server's RSA certificate to RSA clients" in t["fix"] for t in found), found


def test_a_browser_refused_for_the_leafs_curve_is_told_the_curve(estate: Estate) -> None:
    """Over TLS 1.3 the browser-like offer is refused because of the leaf's curve: P-521 is no scheme of theirs."""
    (found,) = _with(estate.tests("ecdsa-only", "presented_key"), Cause.BROWSER_CURVE)
    assert found["id"].endswith(":default:tls1.3") and "on secp521r1" in found["message"], found
    assert "no TLS 1.3 signature scheme for secp521r1" in found["fix"] and "P-256 or P-384" in found["fix"], found


def test_a_client_that_cannot_connect_is_told_what_to_enable(estate: Estate) -> None:
    found = _with(estate.tests("ecdsa-only", "client_key"), Cause.CLIENT_CANNOT_CONNECT)
    assert found and all("Chrome" in t["fix"] and "finds nothing it can use" in t["fix"] for t in found), found


def test_a_leaf_on_a_curve_the_client_lacks(estate: Estate) -> None:
    found = _with(estate.tests("ecdsa-only", "client_accepts"), Cause.CLIENT_CURVE)
    assert found and all("secp521r1" in t["message"] and "P-256 or P-384" in t["fix"] for t in found), found


def test_a_client_given_the_other_family(estate: Estate) -> None:
    found = _with(estate.tests("rsa-only", "client_key"), Cause.CLIENT_GETS_OTHER_FAMILY)
    assert found and all("to get ECDSA" in t["fix"] for t in found), found


def test_a_client_on_a_version_the_policy_does_not_accept(estate: Estate) -> None:
    found = _with(estate.tests("rsa-only", "client_protocol"), Cause.CLIENT_VERSION)
    assert found and all("negotiated tls1.2" in t["message"].lower() for t in found), found


def test_one_certificate_slot_with_two_certificates(estate: Estate) -> None:
    found = _with(estate.tests("split", "unit_consistency"), Cause.UNIT_SPLIT)
    assert found and all("web differs across ports" in t["message"] for t in found), found
    assert all("re-upload the current certificate as web" in t["fix"] for t in found)


def test_a_multi_server_certificate_that_misses_a_node(estate: Estate) -> None:
    found = _with(estate.tests("trio", "cluster_roots"), Cause.SAN_GAP)
    assert found and all("but not sub2.causes.test" in t["message"] for t in found), found
    assert all("(one multi-server certificate)" in t["fix"] for t in found)


def test_an_end_after_the_certificate_is_not_a_refusal(estate: Estate) -> None:
    found = _with(estate.tests("not-a-refusal", "presented_key"), Cause.NOT_A_REFUSAL)
    assert {t["id"].split(":")[2] for t in found} == {"ecdsa"}, estate.tests("not-a-refusal")
    assert all("that is not a refusal" in t["message"] for t in found)


def test_no_trust_bundle(tmp_path: Path) -> None:
    """The one cause an estate with a bundle cannot show: the policy requires trust, the inventory has none."""
    ca = CA.root("Causes Root", KeySpec.ec())
    endpoint = ServedEndpoint(server_context([ca.issue([_host("web")], KeySpec.ec()).write(tmp_path, "web")]))
    with LabServer([endpoint]):
        (tmp_path / "site.yaml").write_text("site: nobundle\nnodes:\n" +
                                            _node("web", [f"{{name: https, port: {endpoint.port}}}"]) + "\n")
        run_cli("run", "--inventory", "site.yaml", cwd=tmp_path)
    tests = load_document(tmp_path / "reports" / "nobundle.json")["tests"]
    found = _with([t for t in tests if t["rule"] == "trust"], Cause.NO_TRUST_BUNDLE)
    assert found and all("trust: <PEM file of your roots>" in t["fix"] for t in found), tests
