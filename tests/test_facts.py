"""Chain facts from stored DER: key, signatures, self-signed, path validation, hostname."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dualcert.facts.chain import chain_facts
from dualcert.facts.hostname import hostname_matches
from dualcert.facts.trust import TrustStore

from .conftest import CERTS, FIXED_NOW, chain_der


def test_facts_of_an_ecdsa_leaf_signed_by_an_rsa_ca() -> None:
    facts = chain_facts(chain_der("ec_by_rsa_ca"))
    leaf, issuing = facts.certs
    assert (leaf.key_type, leaf.curve, leaf.key_size) == ("ECDSA", "secp256r1", 256)
    assert leaf.signed_with == "RSA" and leaf.signature_algorithm == "sha256WithRSAEncryption"
    assert leaf.issuer_common_name == "Example RSA Issuing CA"
    assert not leaf.self_signed and not leaf.is_ca and leaf.san_dns == ("uccx-pub.example.test",)
    assert issuing.is_ca and issuing.key_type == "RSA" and issuing.key_size == 2048
    assert len(leaf.sha256) == 64 and leaf.pem.startswith("-----BEGIN CERTIFICATE-----")


def test_self_signed_is_detected_by_signature_not_by_name() -> None:
    assert chain_facts(chain_der("ec_self")).leaf.self_signed
    assert chain_facts(chain_der("rsa_self")).leaf.signed_with == "RSA"
    assert not chain_facts(chain_der("ec_by_ec_ca")).leaf.self_signed


def test_validation_to_the_site_roots() -> None:
    store = TrustStore.from_pem_file(CERTS / "roots.pem")
    good = store.validate(chain_der("ec_by_ec_ca"), FIXED_NOW)
    assert good.trusted and "Example EC Root CA" in good.detail
    assert [c.common_name for c in good.path] == ["uccx-pub.example.test", "Example EC Issuing CA",
                                                  "Example EC Root CA"]
    assert store.validate(chain_der("ec_self"), FIXED_NOW).trusted is False
    only_rsa = TrustStore.from_pem_file(CERTS / "rsa_root.pem")
    assert only_rsa.validate(chain_der("ec_by_ec_ca"), FIXED_NOW).trusted is False
    assert only_rsa.validate(chain_der("ec_by_rsa_ca"), FIXED_NOW).trusted is True


def test_missing_intermediate_fails_validation() -> None:
    store = TrustStore.from_pem_file(CERTS / "roots.pem")
    leaf_only = chain_der("rsa_by_rsa_ca")[:1]
    assert store.validate(leaf_only, FIXED_NOW).trusted is False


def test_hostname_matching() -> None:
    assert hostname_matches(chain_der("ec_by_ec_ca"), "uccx-pub.example.test")[0]
    assert not hostname_matches(chain_der("ec_other_host"), "uccx-pub.example.test")[0]
    assert hostname_matches(chain_der("ec_ip_san"), "127.0.0.1")[0]
    assert not hostname_matches(chain_der("ec_ip_san"), "127.0.0.2")[0]


def test_unparseable_leaf_is_reported_not_raised() -> None:
    facts = chain_facts([b"\x30\x03\x02\x01\x00"])
    assert facts.certs == () and "cannot be parsed" in (facts.parse_error or "")


@pytest.mark.parametrize(("key", "digest", "algorithm"), [("ec", "sha1", "ecdsa-with-SHA1"),
                                                          ("rsa", "md5", "md5WithRSAEncryption")])
def test_a_legacy_signed_certificate_is_still_self_signed(tmp_path: Path, key: str, digest: str,
                                                          algorithm: str) -> None:
    """cryptography gives these legacy signature OIDs no parameters; their signatures verify all the same
    (whether the digest is acceptable is signature_hash's call), so the certificate is self-signed."""
    genkey = ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"] if key == "ec" else \
        ["genrsa", "-out", "key.pem", "2048"]
    subprocess.run(["openssl", *genkey], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", "key.pem", f"-{digest}", "-subj", "/CN=legacy",
                    "-days", "30", "-outform", "DER", "-out", "cert.der"], cwd=tmp_path, check=True,
                   capture_output=True)
    (leaf,) = chain_facts(((tmp_path / "cert.der").read_bytes(),)).certs
    assert leaf.signature_algorithm == algorithm and leaf.self_signed
