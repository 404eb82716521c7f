"""signature_hash, key_strength over the whole path, and chain_lint, on chains generated here
(SHA-1 certificates by OpenSSL's CLI: cryptography refuses to sign them)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dualcert.estate.inventory import load_inventory
from dualcert.facts.trust import TrustStore
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.load import load_policy
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.rules.chain_rules import chain_lint, key_strength, signature_hash
from dualcert.rules.probe_rules import Case, trust
from dualcert.verdict import Status

from .pathpki import NOW, SERVER_ONLY, Made, Spec, leaf_spec, make, new_key, openssl_signed

HOST = "uccx-pub.example.test"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("inv") / "site.yaml"
    path.write_text(f"nodes:\n  - {{name: pub, host: {HOST}, role: uccx}}\n")
    return next(e for e in load_inventory(path).endpoints() if e.service.name == "tomcat")


def case(endpoint, chain: tuple[Made, ...], bundle: tuple[Made, ...], tmp_path: Path, **policy: object) -> Case:
    (tmp_path / "bundle.pem").write_bytes(b"".join(m.pem for m in bundle))
    expectation = dataclasses.replace(
        load_policy("ec-ca-signed").expectation(endpoint, Offer.RSA, TLSVersion.TLS1_2), **policy)
    observation = Observation(ProbeKey("pub", "tomcat", Offer.RSA, TLSVersion.TLS1_2), HOST, None, 8443,
                              Outcome.OK, chain_der=tuple(m.der for m in chain))
    return Case(endpoint, Offer.RSA, TLSVersion.TLS1_2, expectation, observation,
                TrustStore.from_pem_file(tmp_path / "bundle.pem"), NOW)


def rsa_leaf(issuer: Made) -> Made:
    return make(HOST, leaf_spec(dns=(HOST,)), issuer, key=new_key("rsa"))


def test_sha1_intermediate_fails_naming_certificate_and_hash(endpoint, tmp_path: Path) -> None:
    root = make("Root CA", Spec(), key=new_key("rsa"))
    inter = openssl_signed("Old Issuing CA", root)
    found = case(endpoint, (rsa_leaf(inter), inter), (root,), tmp_path)
    verdict = signature_hash(found)
    assert verdict.status is Status.FAIL
    assert "'Old Issuing CA' is signed with SHA1" in verdict.message and "sha1WithRSAEncryption" in verdict.message
    assert trust(found).status is Status.PASS   # a client builds the path; the hash is this rule's finding
    # The policy may allow it.
    assert signature_hash(case(endpoint, (rsa_leaf(inter), inter), (root,), tmp_path,
                               forbidden_hashes=("md5",))).status is Status.PASS


def test_md5_leaf_fails(endpoint, tmp_path: Path) -> None:
    root = make("Root CA", Spec(), key=new_key("rsa"))
    inter = make("Issuing CA", Spec(eku=SERVER_ONLY), root, key=new_key("rsa"))
    leaf = openssl_signed(HOST, inter, digest="md5", ca=False)
    verdict = signature_hash(case(endpoint, (leaf, inter), (root,), tmp_path))
    assert verdict.status is Status.FAIL and f"'{HOST}' is signed with MD5" in verdict.message


def test_a_bundle_roots_sha1_self_signature_is_exempt_unless_checked(endpoint, tmp_path: Path) -> None:
    root = openssl_signed("SHA-1 Root CA", None)
    inter = make("Issuing CA", Spec(eku=SERVER_ONLY), root, key=new_key("rsa"))
    chain = (rsa_leaf(inter), inter)
    assert signature_hash(case(endpoint, chain, (root,), tmp_path)).status is Status.PASS
    checked = signature_hash(case(endpoint, chain, (root,), tmp_path, check_bundle_roots=True))
    assert checked.status is Status.FAIL and "'SHA-1 Root CA'" in checked.message


def test_weak_intermediate_key_fails_key_strength_a_weak_exempt_root_warns(endpoint, tmp_path: Path) -> None:
    weak_root = make("Root CA", Spec(), key=rsa.generate_private_key(65537, 1024))
    weak_inter = make("Weak Issuing CA", Spec(eku=SERVER_ONLY), weak_root, key=rsa.generate_private_key(65537, 1024))
    strong_inter = make("Issuing CA", Spec(eku=SERVER_ONLY), weak_root, key=new_key("rsa"))
    weak = key_strength(case(endpoint, (rsa_leaf(weak_inter), weak_inter), (weak_root,), tmp_path))
    assert weak.status is Status.FAIL and "'Weak Issuing CA' has an RSA 1024-bit key" in weak.message
    chain = (rsa_leaf(strong_inter), strong_inter)
    # An exempt anchor is not judged by the policy, but a weak one is named in a warning (issue 22).
    exempt = key_strength(case(endpoint, chain, (weak_root,), tmp_path))
    assert exempt.status is Status.WARN and "'Root CA' has an RSA 1024-bit key" in exempt.message
    checked = key_strength(case(endpoint, chain, (weak_root,), tmp_path, check_bundle_roots=True))
    assert checked.status is Status.FAIL and "'Root CA' has an RSA 1024-bit key" in checked.message


def test_chain_lint_names_each_deviation_and_only_warns(endpoint, tmp_path: Path) -> None:
    root = make("Root CA", Spec(bc_critical=False))
    inter = make("Internal CA", Spec(bc_critical=False, ski_aki=False, key_usage=None), root)
    leaf = make(HOST, leaf_spec(dns=(HOST,), eku=None, ca=True), inter)
    found = case(endpoint, (leaf, inter), (root,), tmp_path)
    assert trust(found).status is Status.PASS
    lint = chain_lint(found)
    assert lint.status is Status.WARN
    for said in ("'Internal CA': ", "a CA without keyUsage", "basicConstraints not marked critical",
                 "no subjectKeyIdentifier", f"'{HOST}': a server certificate with basicConstraints cA=true",
                 "no extendedKeyUsage"):
        assert said in lint.message
    assert "'Root CA'" not in lint.message   # the bundle's anchor, exempt by default
    checked = chain_lint(case(endpoint, (leaf, inter), (root,), tmp_path, check_bundle_roots=True))
    assert "'Root CA': basicConstraints not marked critical" in checked.message
    clean_root = make("Root CA", Spec())
    clean_inter = make("Issuing CA", Spec(eku=SERVER_ONLY), clean_root)
    clean = case(endpoint, (make(HOST, leaf_spec(dns=(HOST,)), clean_inter), clean_inter), (clean_root,), tmp_path)
    assert chain_lint(clean).status is Status.PASS


def test_chain_lint_notes_order_and_strays(endpoint, tmp_path: Path) -> None:
    root = make("Root CA", Spec())
    policy = make("Policy CA", Spec(), root)
    inter = make("Issuing CA", Spec(eku=SERVER_ONLY), policy)
    leaf = make(HOST, leaf_spec(dns=(HOST,)), inter)
    stray = make("Unrelated CA", Spec())
    reversed_ = case(endpoint, (leaf, policy, inter), (root,), tmp_path)
    assert trust(reversed_).status is Status.PASS
    assert "out of order" in chain_lint(reversed_).message
    extra = chain_lint(case(endpoint, (leaf, inter, policy, stray), (root,), tmp_path))
    assert extra.status is Status.WARN and "1 certificate(s) not on the path: 'Unrelated CA'" in extra.message
    assert chain_lint(case(endpoint, (leaf, inter, policy, root), (root,), tmp_path)).status is Status.PASS


def test_issuer_pin_fails_for_a_same_name_ca_with_the_pinned_one_appended(endpoint, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes

    from dualcert.policy.model import IssuerRule
    from dualcert.rules.probe_rules import issuer

    root = make("Root CA", Spec(), key=new_key("rsa"))
    pinned = make("Issuing CA", Spec(eku=SERVER_ONLY), root, key=new_key("rsa"))
    impostor = make("Issuing CA", Spec(eku=SERVER_ONLY), root, key=new_key("rsa"))
    pin = {"rsa": IssuerRule(sha256=pinned.cert.fingerprint(hashes.SHA256()).hex())}
    good = issuer(case(endpoint, (rsa_leaf(pinned), pinned), (root,), tmp_path, issuers=pin))
    assert good.status is Status.PASS
    bad = issuer(case(endpoint, (rsa_leaf(impostor), impostor, pinned), (root,), tmp_path, issuers=pin))
    assert bad.status is Status.FAIL and "the pinned CA did not sign the leaf" in bad.message


def test_a_sha1_self_signed_certificate_is_self_signed(endpoint, tmp_path: Path) -> None:
    # cryptography's verify_directly_issued_by refuses SHA-1: the old facts called such a root CA-signed.
    from dualcert.facts.chain import der_facts

    old = openssl_signed(HOST, None, ca=False)
    facts = der_facts(old.der)
    assert facts.self_signed and facts.signature_hash == "sha1"
    verdict = signature_hash(case(endpoint, (old,), (make("Other Root CA", Spec()),), tmp_path))
    assert verdict.status is Status.FAIL and f"'{HOST}' is signed with SHA1" in verdict.message
