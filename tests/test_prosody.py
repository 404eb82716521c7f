"""XMPP STARTTLS against a real XMPP server from Debian: prosody, one VirtualHost holding an RSA
and an ECDSA certificate (LuaSec's `certificates` list), client-to-server and server-to-server
ports on 127.0.0.1. Each offer's leaf must be the one `openssl s_client -starttls` sees.

Prosody runs in the foreground from a temporary config directory (no system-wide change
beyond the package): `prosody --config FILE -F`. It only accepts connections here; nothing
it does reaches beyond loopback (no s2s dial-out: the probe never completes a stream)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from dualcert.estate.inventory import load_inventory
from dualcert.estate.model import Inventory
from dualcert.facts.chain import chain_facts
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.rules.diagnosis import diagnose

from .conftest import debian_binary, free_port
from .thirdparty import DualPKI, make_pki, running, wait_for_port

DOMAIN = "xmpp.dualcert.test"
NODE_HOST = "imp.example.test"   # the node's name differs from the XMPP domain it serves

PROSODY_CONF = """
-- dualcert test: one VirtualHost with an RSA and an ECDSA certificate, loopback only.
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
run_as_root = true
log = {{ info = "{dir}/prosody.log" }}
modules_enabled = {{ "tls", "saslauth", "dialback", "disco" }}
modules_disabled = {{ "posix" }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
c2s_direct_tls_ports = {{ }}
s2s_direct_tls_ports = {{ }}
ssl = {{
    certificates = {{
        {{ certificate = "{rsa_chain}", key = "{rsa_key}" }},
        {{ certificate = "{ec_chain}", key = "{ec_key}" }},
    }},
}}
VirtualHost "{domain}"
"""

S_CLIENT = {
    (Offer.ECDSA, TLSVersion.TLS1_2): ("-tls1_2", "-cipher", "aECDSA"),
    (Offer.RSA, TLSVersion.TLS1_2): ("-tls1_2", "-cipher", "aRSA"),
    (Offer.ECDSA, TLSVersion.TLS1_3): ("-tls1_3", "-sigalgs", "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512"),
    (Offer.RSA, TLSVersion.TLS1_3): ("-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:RSA+SHA256"),
}


@pytest.fixture(scope="module")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DualPKI, int, int]]:
    binary = debian_binary("prosody", "prosody")
    directory = tmp_path_factory.mktemp("prosody")
    (directory / "data").mkdir()
    (directory / "certs").mkdir()
    pki = make_pki(directory, DOMAIN)
    c2s, s2s = free_port(), free_port()
    conf = directory / "prosody.cfg.lua"
    conf.write_text(PROSODY_CONF.format(dir=directory, c2s=c2s, s2s=s2s, domain=DOMAIN, rsa_chain=pki.rsa[0],
                                        rsa_key=pki.rsa[1], ec_chain=pki.ec[0], ec_key=pki.ec[1]))
    with running([binary, "--config", str(conf), "-F"], c2s) as process:
        wait_for_port(s2s, process)
        yield pki, c2s, s2s


def _inventory(directory: Path, c2s: int, s2s: int, roots: Path) -> Inventory:
    path = directory / "xmpp.yaml"
    path.write_text(f"""
site: xmpp
trust: {roots}
nodes:
  - name: imp
    host: {NODE_HOST}
    address: 127.0.0.1
    services:
      - {{name: c2s, port: {c2s}, starttls: xmpp, xmpp_domain: {DOMAIN}, rsa_unit: cup-xmpp,
          ecdsa_unit: cup-xmpp-ECDSA}}
      - {{name: s2s, port: {s2s}, starttls: xmpp-server, xmpp_domain: {DOMAIN}, rsa_unit: cup-xmpp-s2s,
          ecdsa_unit: cup-xmpp-s2s-ECDSA}}
""")
    return load_inventory(path)


@pytest.fixture(scope="module")
def probed(prosody, tmp_path_factory) -> tuple[Inventory, dict[ProbeKey, Observation]]:
    pki, c2s, s2s = prosody
    inventory = _inventory(tmp_path_factory.mktemp("xmpp-inventory"), c2s, s2s, pki.roots)
    tasks = [ProbeTask(e, o, v) for e in inventory.endpoints() for o in (Offer.ECDSA, Offer.RSA) for v in TLSVersion]
    return inventory, ProbeRunner().run(tasks)


def s_client_leaf(port: int, starttls: str, options: tuple[str, ...]) -> str | None:
    result = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", starttls,
                             "-xmpphost", DOMAIN, *options], input=b"", capture_output=True, timeout=20)
    match = re.search(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", result.stdout, re.S)
    return x509.load_pem_x509_certificate(match.group()).fingerprint(hashes.SHA256()).hex() if match else None


@pytest.mark.parametrize("service", ["c2s", "s2s"])
def test_each_offer_gets_the_leaf_openssl_sees(prosody, probed, service: str) -> None:
    _, c2s, s2s = prosody
    _, observations = probed
    port, starttls = (c2s, "xmpp") if service == "c2s" else (s2s, "xmpp-server")
    for (offer, version), options in S_CLIENT.items():
        observation = observations[ProbeKey("imp", service, offer, version)]
        assert observation.outcome is Outcome.OK, observation
        leaf = chain_facts(observation.chain_der).leaf
        assert leaf.key_type == ("ECDSA" if offer is Offer.ECDSA else "RSA"), observation.key.test_id
        assert leaf.sha256 == s_client_leaf(port, starttls, options), observation.key.test_id


def test_prosody_with_ec_and_rsa_ca_certificates_is_s3(probed) -> None:
    inventory, observations = probed
    [diagnosis] = diagnose(inventory, observations, "S3")
    assert diagnosis.state == "S3", diagnosis.differs
    assert "cup-xmpp CA-signed, cup-xmpp-ECDSA signed by an EC CA" in diagnosis.nodes[0].why


def test_the_xmpp_domain_defaults_to_the_host_and_a_wrong_one_is_named(prosody, tmp_path: Path) -> None:
    """Without xmpp_domain the stream goes to the node's host, which prosody does not serve."""
    _, c2s, _ = prosody
    path = tmp_path / "nodomain.yaml"
    path.write_text(f"nodes:\n  - name: imp\n    host: {NODE_HOST}\n    address: 127.0.0.1\n"
                    f"    services: [{{name: c2s, port: {c2s}, starttls: xmpp}}]\n")
    [endpoint] = load_inventory(path).endpoints()
    [observation] = ProbeRunner().run([ProbeTask(endpoint, Offer.RSA, TLSVersion.TLS1_2)]).values()
    assert observation.outcome is Outcome.STARTTLS_FAILED and observation.phase == "starttls"
    assert "host-unknown" in observation.detail and "xmpp_domain" in observation.detail
