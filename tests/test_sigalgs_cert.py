"""TLS 1.3 signature_algorithms_cert (issue 12, section 7): OpenSSL's client never sends it and the
bindings cannot add it, so the ECDSA-only TLS 1.3 hello formally (RFC 8446 section 4.2.3) also asks
for ECDSA signatures on the chain. What an RSA-signed ECDSA chain (state S2) then gets from real
servers: each presents it anyway (RFC 8446 section 4.4.2.2: a server without a matching chain
SHOULD send one of its choice), so dualcert judges the chain really served, RSA signature and all."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dualcert.estate.inventory import load_inventory
from dualcert.facts.chain import chain_facts
from dualcert.lab.pki import CA, KeySpec
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.hello import ECDSA_SIGALGS
from dualcert.probe.observation import Outcome

from .peers import tcp_peer
from .test_thirdparty_servers import inventory_for, probe_all
from .thirdparty import DualPKI, gnutls_serv, nginx_dual, tomcat_dual

SIGNATURE_ALGORITHMS, SIGNATURE_ALGORITHMS_CERT = 13, 50
ECDSA_CODES = {0x0403, 0x0503, 0x0603}  # ecdsa_secp256r1_sha256, _secp384r1_sha384, _secp521r1_sha512


def extensions(hello: bytes) -> dict[int, bytes]:
    """The extensions of a ClientHello record, by type."""
    body = hello[5 + 4:]                       # record header, handshake header
    at = 2 + 32                                # legacy_version, random
    at += 1 + body[at]                         # session id
    at += 2 + struct.unpack_from("!H", body, at)[0]   # cipher suites
    at += 1 + body[at]                         # compression methods
    end = at + 2 + struct.unpack_from("!H", body, at)[0]
    at += 2
    found = {}
    while at < end:
        kind, length = struct.unpack_from("!HH", body, at)
        found[kind] = body[at + 4:at + 4 + length]
        at += 4 + length
    return found


def test_ecdsa_tls13_hello_restricts_signature_algorithms_and_has_no_signature_algorithms_cert(tmp_path: Path) -> None:
    hellos: list[bytes] = []
    done = threading.Event()

    def capture(conn: socket.socket) -> None:
        hellos.append(conn.recv(65536))
        done.set()
        conn.close()

    with tcp_peer(capture) as port:
        (endpoint,) = load_inventory(inventory_for(tmp_path, port, s2_pki(tmp_path).roots)).endpoints()
        ProbeRunner().run([ProbeTask(endpoint, Offer.ECDSA, TLSVersion.TLS1_3)])
    assert done.is_set()
    found = extensions(hellos[0])
    schemes = found[SIGNATURE_ALGORITHMS][2:]
    assert {int.from_bytes(schemes[i:i + 2], "big") for i in range(0, len(schemes), 2)} == ECDSA_CODES
    assert len(ECDSA_SIGALGS) == len(ECDSA_CODES)
    # The limitation docs/checks.md states: if this fails, the binding can now send it: send it.
    assert SIGNATURE_ALGORITHMS_CERT not in found


def s2_pki(directory: Path, host: str = "dual.example.test") -> DualPKI:
    """State S2: the RSA and the ECDSA leaf both signed by one RSA issuing CA (CSCvb58580)."""
    root = CA.root("S2 RSA Root", KeySpec.rsa())
    issuing = root.sub_ca("S2 RSA Issuing CA")
    rsa_leaf, ec_leaf = issuing.issue([host], KeySpec.rsa()), issuing.issue([host], KeySpec.ec())

    def pem(name: str, cert) -> Path:
        (directory / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return directory / name

    return DualPKI(directory, rsa_leaf.write(directory, "rsa"), ec_leaf.write(directory, "ec"),
                   pem("rsa-leaf.pem", rsa_leaf.cert), pem("ec-leaf.pem", ec_leaf.cert),
                   pem("issuing.pem", issuing.cert), pem("issuing.pem", issuing.cert), pem("roots.pem", root.cert))


SERVERS: dict[str, Callable[[DualPKI], object]] = {"nginx (OpenSSL)": nginx_dual, "gnutls-serv": gnutls_serv,
                                                   "Tomcat 10 (JSSE)": tomcat_dual}


@pytest.mark.parametrize("server", SERVERS)
def test_s2_chain_on_a_tls13_ecdsa_only_offer(tmp_path: Path, server: str) -> None:
    pki = s2_pki(tmp_path)
    with SERVERS[server](pki) as port:  # type: ignore[attr-defined]
        results = probe_all(inventory_for(tmp_path, port, pki.roots))
    observation = next(o for k, o in results.items() if k.offer is Offer.ECDSA and k.version is TLSVersion.TLS1_3)
    assert observation.outcome is Outcome.OK, observation
    facts = chain_facts(observation.chain_der)
    assert facts.leaf.key_type == "ECDSA" and facts.leaf.signed_with == "RSA"
