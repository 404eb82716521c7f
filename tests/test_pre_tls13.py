"""Servers that predate TLS 1.3 (issue 12): their TLS 1.3 versions are `unsupported`, not refused.

Each stack is real and started by the test; what it answers to a TLS 1.3-only hello is captured
in the observation's alert: GnuTLS with TLS 1.3 disabled and OpenSSL with a fixed TLS 1.2 method
(as OpenSSL 1.0.2 servers) answer handshake_failure, tlslite-ng and Tomcat (JSSE) capped at 1.2
answer protocol_version. One control hello per endpoint and version tells the two apart from a real
refusal: an ECDSA-only offer to these RSA-only servers stays `refused`."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from OpenSSL import SSL

from dualcert.compare.results_file import load_document
from dualcert.estate.inventory import load_inventory
from dualcert.lab.pki import CA, KeySpec
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.connection import classify_ssl_error
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.hello import OfferSpec
from dualcert.probe.observation import Outcome
from dualcert.probe.tls import client_context
from dualcert.rules.causes import Cause

from .conftest import debian_binary, free_port, run_cli
from .peers import tcp_peer
from .test_thirdparty_servers import inventory_for
from .thirdparty import (
    DualPKI,
    gnutls_serv,
    gnutls_serv_tls12,
    make_pki,
    openssl_fixed_tls12,
    openssl_s_server_tls13,
    running,
    tls12_dropping_tls13,
    tlslite_tls12,
    tomcat_dual,
)


def tomcat_tls12(pki: DualPKI) -> contextlib.AbstractContextManager[int]:
    return tomcat_dual(pki, protocols="TLSv1.2")


STACKS = {  # what each answers to a TLS 1.3-only ClientHello (captured with openssl s_client -tls1_3)
    "gnutls-serv NORMAL:-VERS-TLS1.3": (gnutls_serv_tls12, "handshake_failure"),
    "OpenSSL TLSv1_2_method (like 1.0.2)": (openssl_fixed_tls12, "handshake_failure"),
    "tlslite-ng maxVersion 1.2": (tlslite_tls12, "protocol_version"),
    "Tomcat 10 (JSSE) protocols=TLSv1.2, RSA and EC": (tomcat_tls12, "protocol_version"),
}


def probe_all(inventory: Path):
    endpoint = load_inventory(inventory).endpoints()[0]
    return {(k.offer, k.version): o for k, o in
            ProbeRunner().run([ProbeTask(endpoint, o, v) for o in Offer for v in TLSVersion]).items()}


@pytest.mark.parametrize("stack", STACKS)
def test_tls12_only_stack_is_unsupported_on_tls13_and_still_refuses_ecdsa(tmp_path: Path, stack: str) -> None:
    server, alert = STACKS[stack]
    pki = make_pki(tmp_path)
    with server(pki) as port:
        results = probe_all(inventory_for(tmp_path, port, pki.roots))
    for offer in Offer:
        tls13 = results[(offer, TLSVersion.TLS1_3)]
        assert tls13.outcome is Outcome.UNSUPPORTED, tls13
        assert tls13.alert == alert
        if alert != "protocol_version":  # the evidence: this offer's answer and the control's
            assert tls13.detail.startswith("the server does not speak TLS 1.3: it answered this offer with alert "
                                           f"{alert}, and a control hello offering every TLS 1.3 cipher suite")
    assert results[(Offer.RSA, TLSVersion.TLS1_2)].outcome is Outcome.OK
    assert results[(Offer.DEFAULT, TLSVersion.TLS1_2)].outcome is Outcome.OK
    ecdsa = results[(Offer.ECDSA, TLSVersion.TLS1_2)]
    if server is tomcat_tls12:  # it holds an EC certificate too
        assert ecdsa.outcome is Outcome.OK, ecdsa
        return
    # An RSA-only server refuses an ECDSA-only offer: the control completes, the refusal stands.
    assert ecdsa.outcome is Outcome.REFUSED and ecdsa.alert == "handshake_failure", ecdsa
    assert "(the server speaks TLS 1.2: " in ecdsa.detail   # the control, or the RSA offer, completed


def test_control_hello_only_when_every_offer_of_a_version_is_refused(tmp_path: Path) -> None:
    """TLS 1.3: all three offers refused, one control hello. TLS 1.2: the RSA offer completes, so the
    ECDSA refusal needs none. Six probes, seven connections."""
    connections: list[int] = []
    pki = make_pki(tmp_path)
    with openssl_fixed_tls12(pki, connections) as port:
        results = probe_all(inventory_for(tmp_path, port, pki.roots))
    assert len(connections) == len(results) + 1, len(connections)
    assert {o.outcome for (_, v), o in results.items() if v is TLSVersion.TLS1_3} == {Outcome.UNSUPPORTED}
    assert results[(Offer.ECDSA, TLSVersion.TLS1_2)].detail.endswith("(the server speaks TLS 1.2: another offer "
                                                                     "of it completed)")


def test_tls13_only_server_refusing_ecdsa_stays_refused(tmp_path: Path) -> None:
    """openssl s_server -tls1_3 with only an RSA certificate: TLS 1.2 is unsupported (protocol_version),
    the TLS 1.3 ECDSA-only offer is a real refusal."""
    pki = make_pki(tmp_path)
    pki.ec_leaf_only, pki.ec = pki.rsa_leaf_only, pki.rsa   # serve RSA in both slots: no ECDSA certificate
    pki.ec_issuing = pki.rsa_issuing
    with openssl_s_server_tls13(pki) as port:
        results = probe_all(inventory_for(tmp_path, port, pki.roots))
    assert {results[(o, TLSVersion.TLS1_2)].outcome for o in Offer} == {Outcome.UNSUPPORTED}
    assert {results[(o, TLSVersion.TLS1_2)].alert for o in Offer} == {"protocol_version"}
    ecdsa = results[(Offer.ECDSA, TLSVersion.TLS1_3)]
    assert ecdsa.outcome is Outcome.REFUSED, ecdsa
    assert "(the server speaks TLS 1.3: " in ecdsa.detail
    assert results[(Offer.RSA, TLSVersion.TLS1_3)].outcome is Outcome.OK


def test_tls13_only_gnutls_answers_tls12_with_handshake_failure_and_is_unsupported(tmp_path: Path) -> None:
    """The other direction: gnutls-serv with TLS 1.3 only answers a TLS 1.2 hello with
    handshake_failure (not protocol_version); the TLS 1.2 control is refused too."""
    pki = make_pki(tmp_path)
    with gnutls_serv(pki, "NORMAL:-VERS-ALL:+VERS-TLS1.3") as port:
        results = probe_all(inventory_for(tmp_path, port, pki.roots))
    for offer in Offer:
        tls12 = results[(offer, TLSVersion.TLS1_2)]
        assert tls12.outcome is Outcome.UNSUPPORTED and tls12.alert == "handshake_failure", tls12
        assert "and a control hello offering every TLS 1.2 cipher suite" in tls12.detail
        assert results[(offer, TLSVersion.TLS1_3)].outcome is Outcome.OK


def test_server_refusing_every_offer_but_the_control_stays_refused(tmp_path: Path) -> None:
    """openssl s_server with only an Ed25519 certificate: none of the three offers lists ed25519,
    so each is refused; the control hello does, completes, and the refusals stand."""
    leaf_key = ed25519.Ed25519PrivateKey.generate()
    root = CA.root("Ed25519 test root", KeySpec.ec())
    leaf = x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=dual.example.test")) \
        .issuer_name(root.cert.subject).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number()) \
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1)) \
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).sign(root.key, hashes.SHA256())
    (tmp_path / "ed.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ed.key").write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    (tmp_path / "roots.pem").write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    port = free_port()
    command = [debian_binary("openssl", "openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-www",
               "-cert", str(tmp_path / "ed.pem"), "-key", str(tmp_path / "ed.key")]
    with running(command, port):
        results = probe_all(inventory_for(tmp_path, port, tmp_path / "roots.pem"))
    assert {o.outcome for o in results.values()} == {Outcome.REFUSED}, results
    for (_, version), observation in results.items():
        spoken = version.value.replace("tls", "TLS ")
        assert observation.detail.endswith(f"(the server speaks {spoken}: a control hello with every {spoken} "
                                           "cipher suite and signature scheme completed)"), observation


def test_server_closing_without_alert_costs_one_control_per_version(tmp_path: Path) -> None:
    """A port that reads the hello and closes (no alert, no ServerHello), whatever it is offered, has
    shown no TLS at all: every probe is `no-tls-answer`, never `unsupported` (which would tell the user
    to upgrade a server that may not be one), after exactly one control per version."""
    hellos: list[bytes] = []
    lock = threading.Lock()

    def read_and_close(conn: socket.socket) -> None:
        data = conn.recv(65536)
        with lock:
            hellos.append(data)
        conn.shutdown(socket.SHUT_WR)

    with tcp_peer(read_and_close) as port:
        results = probe_all(inventory_for(tmp_path, port, make_pki(tmp_path).roots))
    assert {o.outcome for o in results.values()} == {Outcome.NO_TLS_ANSWER}
    assert {(o.alert, o.dropped, o.detail) for o in results.values()} == {
        (None, "closed", "no TLS answer: the server closed the connection before any TLS byte, and no hello of this "
                         "endpoint, control hellos included, got a TLS answer")}
    assert len(hellos) == len(Offer) * len(TLSVersion) + len(TLSVersion)   # six probes, two controls
    # No hello of ours is 256-511 bytes long, which old F5 BIG-IP stacks drop (the control hellos are padded).
    assert not [len(h) for h in hellos if 256 <= 4 + int.from_bytes(h[6:9], "big") <= 511]


def test_tls12_server_dropping_tls13_hellos_is_unsupported_with_its_tls12_as_evidence(tmp_path: Path) -> None:
    """Dropped TLS 1.3 hellos (no alert, no ServerHello, the control's too) on a server whose TLS 1.2
    completes: it speaks TLS, not TLS 1.3, so `unsupported`, and the detail names the evidence."""
    pki = make_pki(tmp_path)
    with tls12_dropping_tls13(pki) as port:
        results = probe_all(inventory_for(tmp_path, port, pki.roots))
    assert results[(Offer.RSA, TLSVersion.TLS1_2)].outcome is Outcome.OK
    assert results[(Offer.ECDSA, TLSVersion.TLS1_2)].outcome is Outcome.REFUSED
    for offer in Offer:
        tls13 = results[(offer, TLSVersion.TLS1_3)]
        assert tls13.outcome is Outcome.UNSUPPORTED and tls13.dropped == "closed", tls13
        assert tls13.detail.startswith("the server does not speak TLS 1.3: it answered this offer with a close "
                                       "without an alert, before any ServerHello, and a control hello offering")
        assert tls13.detail.endswith("; it speaks TLS: a TLS 1.2 handshake completed"), tls13.detail


def test_local_failure_is_an_error_never_unsupported(tmp_path: Path) -> None:
    """A hello our own OpenSSL cannot send (ECDSA suites, RSA-only signature schemes, TLS 1.2 only)
    fails before a byte leaves: `error`, not `unsupported`."""
    pki = make_pki(tmp_path)
    impossible = OfferSpec(Offer.ECDSA, TLSVersion.TLS1_2, "aECDSA:@SECLEVEL=0", "rsa_pkcs1_sha256")
    with openssl_fixed_tls12(pki) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        conn = SSL.Connection(client_context(impossible), sock)
        conn.set_connect_state()
        with pytest.raises(SSL.Error) as raised:
            conn.do_handshake()
    outcome, detail, alert = classify_ssl_error(raised.value)
    assert (outcome, alert) == (Outcome.ERROR, None)
    assert detail.startswith("local: OpenSSL could not build this ClientHello: ")


def test_default_policy_has_no_failure_for_missing_tls13_and_required_names_the_version(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with gnutls_serv_tls12(pki) as port:
        inventory = inventory_for(tmp_path, port, pki.roots)
        run_cli("run", "--inventory", str(inventory), cwd=tmp_path)
        default = load_document(tmp_path / "reports" / "thirdparty.json")["tests"]
        policy = tmp_path / "tls13.yaml"
        policy.write_text("extends: ec-ca-signed\nrules:\n  versions: {tls1.2: required, tls1.3: required}\n")
        run_cli("run", "--inventory", str(inventory), "--policy", str(policy), cwd=tmp_path)
        required = load_document(tmp_path / "reports" / "thirdparty.json")["tests"]
    tls13 = [t for t in default if t["rule"] == "presented_key" and t["id"].endswith("tls1.3")]
    assert len(tls13) == 3 and {t["status"] for t in tls13} == {"n/a"}, tls13
    assert not [t for t in default if t["id"].endswith("tls1.3") and t["status"] == "fail"]
    failed = [t for t in required if t["rule"] == "presented_key" and t["id"].endswith("tls1.3")]
    assert {t["outcome"] for t in failed} == {"failed"}, failed
    for test in failed:
        assert "does not speak TLS 1.3" in test["message"]
        assert "upgrade it to a release that supports TLS 1.3" in test["fix"]
        assert test["causes"] == [Cause.VERSION_MISSING], test
        assert "COP" not in test["fix"] and "certificate" not in test["fix"].lower()


def test_dual_certificate_tls12_only_server_in_s3_passes_the_default_policy(tmp_path: Path) -> None:
    """A VOS 11-14 node in S3 as dualcert sees it: RSA and EC-CA-signed ECDSA certificates, TLS 1.2
    only. Every rule passes or is n/a; nothing fails because TLS 1.3 is missing."""
    pki = make_pki(tmp_path)
    with gnutls_serv(pki, "NORMAL:-VERS-TLS1.3") as port:
        result = run_cli("run", "--inventory", str(inventory_for(tmp_path, port, pki.roots)), cwd=tmp_path)
    data = load_document(tmp_path / "reports" / "thirdparty.json")
    assert result.returncode == 0, [t for t in data["tests"] if t["status"] == "fail"]
    assert {p["outcome"] for p in data["probes"] if p["tls_version"] == "tls1.3"} == {"unsupported"}
    assert {p["outcome"] for p in data["probes"] if p["tls_version"] == "tls1.2"} == {"ok"}
