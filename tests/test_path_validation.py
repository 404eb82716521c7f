"""Path validation as a server's path (facts/path.py via TrustStore), on certificates generated here,
each case cross-checked against OpenSSL (`openssl verify -purpose sslserver`): our trusted/untrusted
verdict must be the one a mainstream TLS client reaches."""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from dualcert.estate.catalog import ServiceSpec
from dualcert.estate.model import Endpoint
from dualcert.facts.path import Cause
from dualcert.facts.prevalidation import Ahead
from dualcert.facts.trust import TrustStore, Validation
from dualcert.rules.causes import fix_for, untrusted_cause

from .pathpki import CLIENT_ONLY, NOW, SERVER_ONLY, Made, Spec, leaf_spec, make, new_key, openssl_signed

Case = tuple[list[Made], list[Made], bool, str]   # presented chain (leaf first), bundle, trusted?, reason part


def _standard(root_spec: Spec | None = None, inter_spec: Spec | None = None,
              leaf: Spec | None = None) -> tuple[Made, Made, Made]:
    root = make("Root CA", root_spec or Spec())
    inter = make("Issuing CA", inter_spec or Spec(eku=SERVER_ONLY), root)
    return root, inter, make("www.example.test", leaf or leaf_spec(), inter)


def good_server_auth_only_intermediate() -> Case:
    root, inter, leaf = _standard()
    return [leaf, inter], [root], True, "chains to"


def root_with_non_critical_basic_constraints() -> Case:
    root, inter, leaf = _standard(root_spec=Spec(bc_critical=False, ski_aki=False))
    return [leaf, inter], [root], True, "chains to"


def intermediate_with_internal_ca_deviations() -> Case:
    # Non-critical basicConstraints, no SKI/AKI, no EKU: what many internal CAs issue; OpenSSL accepts it.
    root, inter, leaf = _standard(inter_spec=Spec(bc_critical=False, ski_aki=False, eku=None))
    return [leaf, inter], [root], True, "chains to"


def intermediate_for_clients_only() -> Case:
    root, inter, leaf = _standard(inter_spec=Spec(eku=CLIENT_ONLY))
    return [leaf, inter], [root], False, "without serverAuth"


def intermediate_that_is_not_a_ca() -> Case:
    root, inter, leaf = _standard(inter_spec=Spec(ca=False))
    return [leaf, inter], [root], False, "not a CA"


def intermediate_without_key_cert_sign() -> Case:
    root, inter, leaf = _standard(inter_spec=Spec(key_usage="sign-only"))
    return [leaf, inter], [root], False, "keyCertSign"


def expired_intermediate() -> Case:
    root, inter, leaf = _standard(inter_spec=Spec(not_after=NOW - dt.timedelta(days=1)))
    return [leaf, inter], [root], False, "expired"


def name_constrained_intermediate_allows() -> Case:
    root, inter, leaf = _standard(inter_spec=Spec(permitted_dns=("example.test",)))
    return [leaf, inter], [root], True, "chains to"


def name_constrained_intermediate_forbids() -> Case:
    root, inter, leaf = _standard(inter_spec=Spec(permitted_dns=("example.test",)),
                                  leaf=leaf_spec(dns=("www.example.invalid",)))
    return [leaf, inter], [root], False, "name constraints"


def path_length_exceeded() -> Case:
    root = make("Root CA", Spec())
    policy = make("Policy CA", Spec(path_length=0), root)
    issuing = make("Issuing CA", Spec(), policy)
    leaf = make("www.example.test", leaf_spec(), issuing)
    return [leaf, issuing, policy], [root], False, "pathLenConstraint"


def intermediate_not_sent() -> Case:
    root, _, leaf = _standard()
    return [leaf], [root], False, "no certificate in the presented chain or the trust bundle is named"


def intermediate_not_sent_but_in_bundle() -> Case:
    root, inter, leaf = _standard()
    return [leaf], [root, inter], True, "chains to"


def leaf_for_clients_only() -> Case:
    root, inter, leaf = _standard(leaf=leaf_spec(eku=CLIENT_ONLY))
    return [leaf, inter], [root], False, "without serverAuth"


def leaf_that_claims_to_be_a_ca() -> Case:
    root, inter, leaf = _standard(leaf=leaf_spec(ca=True))
    return [leaf, inter], [root], True, "chains to"


def leaf_without_eku() -> Case:
    root, inter, leaf = _standard(leaf=leaf_spec(eku=None))
    return [leaf, inter], [root], True, "chains to"


def same_name_other_key() -> Case:
    # An impostor CA with the pinned CA's name: its leaf must not chain to the real root.
    root, inter, _ = _standard()
    impostor = make("Issuing CA", Spec(eku=SERVER_ONLY), make("Root CA", Spec()))
    leaf = make("www.example.test", leaf_spec(), impostor)
    return [leaf, inter], [root], False, "does not verify"


def cross_signed_with_an_expired_cross_sign() -> Case:
    # Two paths: through the expired cross-sign (sent) and through the new root (in the bundle).
    old_root = make("Old Root CA", Spec())
    new_key_ = new_key()
    new_root = make("New Root CA", Spec(), key=new_key_)
    cross = make("New Root CA", Spec(not_after=NOW - dt.timedelta(days=2)), old_root,
                 key=new_key_)
    inter = make("Issuing CA", Spec(eku=SERVER_ONLY), new_root)
    leaf = make("www.example.test", leaf_spec(), inter)
    return [leaf, inter, cross], [old_root, new_root], True, "New Root CA"


def unhandled_critical_extension() -> Case:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    root, inter, leaf = _standard(inter_spec=Spec(extra=[odd]))
    return [leaf, inter], [root], False, "critical extension"


def expired_root() -> Case:
    root, inter, leaf = _standard(root_spec=Spec(not_after=NOW - dt.timedelta(days=3)))
    return [leaf, inter], [root], False, "expired"


CASES: list[Callable[[], Case]] = [
    good_server_auth_only_intermediate, root_with_non_critical_basic_constraints,
    intermediate_with_internal_ca_deviations, intermediate_for_clients_only, intermediate_that_is_not_a_ca,
    intermediate_without_key_cert_sign, expired_intermediate, name_constrained_intermediate_allows,
    name_constrained_intermediate_forbids, path_length_exceeded, intermediate_not_sent,
    intermediate_not_sent_but_in_bundle, leaf_for_clients_only, leaf_that_claims_to_be_a_ca, leaf_without_eku,
    same_name_other_key, cross_signed_with_an_expired_cross_sign, unhandled_critical_extension, expired_root,
]


def _store(bundle: list[Made], tmp_path: Path) -> TrustStore:
    path = tmp_path / "bundle.pem"
    path.write_bytes(b"".join(m.pem for m in bundle))
    return TrustStore.from_pem_file(path)


def openssl_trusts(chain: list[Made], bundle: list[Made], tmp_path: Path) -> tuple[bool, str]:
    """`openssl verify -purpose sslserver` at the tests' fixed time, with the bundle as CAfile and
    the rest of the presented chain as untrusted intermediates (what s_client does)."""
    (tmp_path / "leaf.pem").write_bytes(chain[0].pem)
    command = ["openssl", "verify", "-purpose", "sslserver", "-attime", str(int(NOW.timestamp())),
               "-CAfile", str(tmp_path / "bundle.pem")]
    if len(chain) > 1:
        (tmp_path / "untrusted.pem").write_bytes(b"".join(m.pem for m in chain[1:]))
        command += ["-untrusted", str(tmp_path / "untrusted.pem")]
    if any(not _self_signed(m) for m in bundle):
        command.append("-partial_chain")   # a bundle's intermediate is an anchor for us too
    done = subprocess.run([*command, str(tmp_path / "leaf.pem")], capture_output=True, text=True, timeout=30)
    return done.returncode == 0, done.stdout + done.stderr


def _self_signed(made: Made) -> bool:
    return made.cert.subject == made.cert.issuer


@pytest.mark.parametrize("build", CASES, ids=lambda f: f.__name__)
def test_validation_matches_openssl(build: Callable[[], Case], tmp_path: Path) -> None:
    chain, bundle, trusted, reason = build()
    store = _store(bundle, tmp_path)
    validation = store.validate(tuple(m.der for m in chain), NOW)
    assert validation.trusted is trusted, validation.detail
    assert reason in validation.detail
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to cross-check the verdicts (Debian package openssl)")
    openssl_ok, said = openssl_trusts(chain, bundle, tmp_path)
    assert openssl_ok is trusted, f"OpenSSL disagrees: {said}"


def test_trusted_path_reaches_the_bundle_root_through_a_bundle_intermediate(tmp_path: Path) -> None:
    chain, bundle, _, _ = intermediate_not_sent_but_in_bundle()
    validation = _store(bundle, tmp_path).validate((chain[0].der,), NOW)
    assert [c.common_name for c in validation.path] == ["www.example.test", "Issuing CA", "Root CA"]


def test_the_verifiers_reason_is_kept_not_rewritten(tmp_path: Path) -> None:
    chain, bundle, _, _ = intermediate_for_clients_only()
    detail = _store(bundle, tmp_path).validate(tuple(m.der for m in chain), NOW).detail
    assert "'Issuing CA' has an extendedKeyUsage without serverAuth (clientAuth)" in detail


def test_sha1_intermediate_is_a_path_its_hash_is_judged_elsewhere(tmp_path: Path) -> None:
    root = make("Root CA", Spec(), key=new_key("rsa"))
    sha1_inter = openssl_signed("SHA-1 Issuing CA", root)
    assert isinstance(sha1_inter.cert.signature_hash_algorithm, hashes.SHA1)
    leaf = make("www.example.test", leaf_spec(), sha1_inter)
    assert _store([root], tmp_path).validate((leaf.der, sha1_inter.der), NOW).trusted is True
    assert openssl_trusts([leaf, sha1_inter], [root], tmp_path)[0]


def test_issuer_pin_means_the_pinned_ca_signed_the_leaf(tmp_path: Path) -> None:
    from dualcert.facts.trust import signed_by_pin

    root, inter, leaf = _standard()
    pin = inter.cert.fingerprint(hashes.SHA256()).hex()
    store = _store([root], tmp_path)
    assert signed_by_pin((leaf.der, inter.der), pin, store)
    assert signed_by_pin((leaf.der,), pin, _store([root, inter], tmp_path))   # pinned CA from the bundle
    # Another CA with the same name issued this leaf; the pinned CA is appended to the chain.
    impostor = make("Issuing CA", Spec(eku=SERVER_ONLY), root)
    other_leaf = make("www.example.test", leaf_spec(), impostor)
    assert impostor.cert.subject == inter.cert.subject
    assert not signed_by_pin((other_leaf.der, impostor.der, inter.der), pin, store)
    assert not signed_by_pin((leaf.der,), pin, store)   # pinned CA nowhere to be seen


@pytest.mark.parametrize("dn, same", [
    ("CN=Issuing CA,O=dualcert tests", True),
    ("cn=issuing  ca, o=DUALCERT TESTS", True),        # case and white space fold, as RFC 5280 7.1 says
    ("O=dualcert tests,CN=Issuing CA", False),          # the RDN order is part of the name
    ("CN=Issuing CA,O=dualcert tests,C=US", False),
    ("CN=Issuing CA\\, O=dualcert tests", False),       # an escaped comma is one value, not two RDNs
])
def test_issuer_dn_is_compared_as_parsed_rdns(dn: str, same: bool) -> None:
    from dualcert.facts.trust import issuer_named
    from dualcert.policy.model import IssuerRule

    _, _, leaf = _standard()
    assert issuer_named((leaf.der,), IssuerRule(dn=dn).name) is same


def test_a_dn_that_does_not_parse_is_a_policy_error(tmp_path: Path) -> None:
    from dualcert.errors import UsageError
    from dualcert.policy.load import load_policy

    policy = tmp_path / "p.yaml"
    policy.write_text('extends: ec-ca-signed\nrules: {issuer: {ecdsa: {dn: "Example Issuing CA"}}}\n')
    with pytest.raises(UsageError, match="not an RFC 4514 distinguished name"):
        load_policy(str(policy))


def test_any_extended_key_usage_is_accepted_where_openssl_refuses(tmp_path: Path) -> None:
    # The one documented difference (docs/checks.md): RFC 5280 makes anyExtendedKeyUsage any purpose;
    # OpenSSL's sslserver purpose wants serverAuth itself.
    from cryptography.x509.oid import ExtendedKeyUsageOID

    root = make("Root CA", Spec())
    inter = make("Issuing CA", Spec(eku=(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,)), root)
    leaf = make("www.example.test", leaf_spec(), inter)
    assert _store([root], tmp_path).validate((leaf.der, inter.der), NOW).trusted is True
    assert openssl_trusts([leaf, inter], [root], tmp_path)[0] is False


def test_look_alike_issuers_cost_bounded_work_and_do_not_hide_the_real_one(tmp_path: Path) -> None:
    from dualcert.facts.path import MAX_SIGNATURE_CHECKS

    root, inter, leaf = _standard()
    fakes = [make("Issuing CA", Spec(eku=SERVER_ONLY), root) for _ in range(MAX_SIGNATURE_CHECKS + 20)]
    store = _store([root], tmp_path)
    padded = (leaf.der, *(f.der for f in fakes))
    assert store.validate((*padded, inter.der), NOW).trusted is True   # the AKI picks the real issuer first
    hopeless = store.validate(padded, NOW)
    assert hopeless.trusted is False and "does not verify" in hopeless.detail


def expired_leaf() -> Case:
    root, inter, leaf = _standard(leaf=leaf_spec(not_after=NOW - dt.timedelta(days=1)))
    return [leaf, inter], [root], False, "expired"


@pytest.mark.parametrize(("build", "cause"), [
    (intermediate_not_sent, Cause.UNKNOWN_ISSUER), (expired_leaf, Cause.LEAF_VALIDITY),
    (expired_intermediate, Cause.CA_VALIDITY), (expired_root, Cause.CA_VALIDITY),
    (intermediate_for_clients_only, Cause.PROFILE), (name_constrained_intermediate_forbids, Cause.PROFILE),
    (same_name_other_key, Cause.SIGNATURE), (good_server_auth_only_intermediate, Cause.NONE),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_an_untrusted_path_says_why_so_the_fix_fits(build: Callable[[], Case], cause: Cause,
                                                    tmp_path: Path) -> None:
    """The trust rule's fix follows the cause: an expired CA is not fixed by adding a root to the bundle."""
    chain, bundle, _, _ = build()
    validation = _store(bundle, tmp_path).validate(tuple(m.der for m in chain), NOW)
    assert validation.cause is cause, validation.detail
    endpoint = Endpoint("web", "c", "generic", "web.example.test", "127.0.0.1",
                        ServiceSpec("https", 443, rsa_unit="the RSA certificate", ecdsa_unit="the ECDSA certificate"))
    fix = fix_for(untrusted_cause(validation.cause, issuer_sent=True), endpoint, "RSA")
    assert ("trust bundle if it is your CA" in fix) is (cause in (Cause.UNKNOWN_ISSUER, Cause.NONE))
    assert ("does not verify with its issuer's key" in fix) is (cause is Cause.SIGNATURE)
    assert ("renew it" in fix) is (cause is Cause.LEAF_VALIDITY)


# (case, which certificate of the case the finding is about: index in chain + bundle, the check)
CONCERNS: list[tuple[Callable[[], Case], int, str]] = [
    (intermediate_for_clients_only, 1, "extendedKeyUsage"), (intermediate_that_is_not_a_ca, 1, "basicConstraints"),
    (intermediate_without_key_cert_sign, 1, "keyUsage"), (expired_intermediate, 1, "validity"),
    (name_constrained_intermediate_forbids, 1, "nameConstraints"), (path_length_exceeded, 2, "pathLenConstraint"),
    (intermediate_not_sent, 0, "issuer"), (leaf_for_clients_only, 0, "extendedKeyUsage"),
    (same_name_other_key, 0, "signature"), (unhandled_critical_extension, 1, "extensions"),
    (expired_root, 2, "validity"),
]


@pytest.mark.parametrize(("build", "index", "check"), CONCERNS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_an_untrusted_path_names_the_certificate_and_the_check(build: Callable[[], Case], index: int, check: str,
                                                                tmp_path: Path) -> None:
    """What a validator names (which certificate, which extension or constraint), kept as data beside the
    words, in this process and as the second process sends it back."""
    chain, bundle, _, _ = build()
    ders = tuple(m.der for m in chain)
    expected = [*chain, *bundle][index].cert.fingerprint(hashes.SHA256()).hex()
    for validation in (_store(bundle, tmp_path).validate(ders, NOW), _second_process(_store(bundle, tmp_path), ders)):
        assert validation.trusted is False
        assert (validation.certificate, validation.check) == (expected, check), validation.detail


def _second_process(store: TrustStore, chain: tuple[bytes, ...]) -> Validation:
    ahead = store.validate_ahead([chain], NOW, at_least=1)
    assert ahead is not None
    try:
        assert ahead.wait(timeout=60), "the second process did not finish"
        validation = store.validate(chain, NOW)
        assert ahead.taken == 1   # it came from the second process
        return validation
    finally:
        ahead.close()


def test_validation_in_a_second_process_is_the_same_validation(tmp_path: Path) -> None:
    """Every case's chain, plus a pinned leaf and an unparseable chain, against one bundle holding every
    case's: what the second process sends back (facts/prevalidation.py) is what this process computes."""
    chains, bundle = [], []
    for build in CASES:
        chain, case_bundle, _, _ = build()
        chains.append(tuple(m.der for m in chain))
        bundle += case_bundle
    pinned = good_server_auth_only_intermediate()[0][0]
    bundle.append(pinned)
    chains += [(pinned.der,), (b"\x30\x03\x02\x01\x00",)]
    here, ahead_store = _store(bundle, tmp_path), _store(bundle, tmp_path)
    ahead = ahead_store.validate_ahead(chains, NOW, at_least=1)
    assert ahead is not None
    try:
        assert ahead.wait(timeout=60), "the second process did not finish"
        for chain in chains:
            assert ahead_store.validate(chain, NOW) == here.validate(chain, NOW)
        assert ahead.taken == len(chains)   # every one came from the second process
        verdicts = {here.validate(c, NOW).trusted for c in chains}
        assert verdicts == {True, False}   # both kinds crossed
    finally:
        ahead.close()


def test_validation_goes_on_in_place_when_the_second_process_is_gone(tmp_path: Path) -> None:
    """The child killed before it answered (a run ending, an interpreter that cannot start it): every chain
    is still validated, here, with the same result."""
    chain, bundle, trusted, reason = good_server_auth_only_intermediate()
    store = _store(bundle, tmp_path)
    chains = [tuple(m.der for m in chain)] * 1 + [(m.der,) for m in chain[:1]]
    ahead = store.validate_ahead(chains, NOW, at_least=1)
    assert ahead is not None
    ahead.close()   # killed at once, and its reader stopped
    assert ahead.wait(timeout=5)
    first = store.validate(chains[0], NOW)
    assert first.trusted is trusted and reason in first.detail
    assert store.validate(chains[1], NOW) == _store(bundle, tmp_path).validate(chains[1], NOW)


def _report_signal_mask(jobs, answers) -> None:
    """A second process's job (module level: spawn imports it by name): say which signals it blocks."""
    jobs.recv()
    answers.send([(0, sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, set())))])


def test_the_second_process_cannot_be_interrupted_but_this_one_can() -> None:
    """A Ctrl-C reaches the whole process group: the child starts with SIGINT and SIGTERM blocked (its
    interpreter would print tracebacks while it starts; the run ends it), and this process's mask is
    as it was."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    ahead = Ahead(_report_signal_mask)
    ahead.give("job", ["mask"])
    try:
        assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before
        assert ahead.wait(timeout=60)
        blocked = ahead.take("mask")
        assert blocked is not None and {int(signal.SIGINT), int(signal.SIGTERM)} <= set(blocked)
    finally:
        ahead.close()


# --- name constraints as the validators users run apply them (issue 22, section 2) ------------------

def test_other_name_constraint_is_refused(tmp_path: Path) -> None:
    """A critical name constraint on otherName, which TLS clients cannot check: Go refuses the critical
    extension it cannot handle and webpki the constraint type (x509-limbo expects a refusal); OpenSSL 3.0
    checks a constraint only against names of its type and accepts a leaf without otherName."""
    other = x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03a@b")
    root, inter, leaf = _standard(inter_spec=Spec(permitted_dns=("example.test",), permitted_other=(other,)))
    validation = _store([root], tmp_path).validate((leaf.der, inter.der), NOW)
    assert validation.trusted is False and validation.cause is Cause.PROFILE, validation.detail
    assert "use a form clients cannot check (OtherName)" in validation.detail


def test_a_wildcard_san_reaching_into_an_excluded_subtree_is_refused(tmp_path: Path) -> None:
    """*.example.test matches bad.example.test, which the CA excludes: Go refuses it (CVE-2025-61727),
    so does x509-limbo's expectation; OpenSSL 3.0 does not look into wildcards and accepts."""
    root, inter, leaf = _standard(inter_spec=Spec(excluded_dns=("bad.example.test",)),
                                  leaf=leaf_spec(dns=("*.example.test",)))
    validation = _store([root], tmp_path).validate((leaf.der, inter.der), NOW)
    assert validation.trusted is False and validation.cause is Cause.PROFILE, validation.detail
    assert "do not allow '*.example.test'" in validation.detail
    fine = make("*.good.test", leaf_spec(dns=("*.good.test",)), inter)   # outside the exclusion: accepted
    assert _store([root], tmp_path).validate((fine.der, inter.der), NOW).trusted is True


def test_an_invalid_dns_san_under_name_constraints_is_refused(tmp_path: Path) -> None:
    """'www..example.test' ends in '.example.test', but it is no host name: a constraint cannot be
    checked against it (Go refuses it), so the path is refused; without constraints it is the hostname
    rule's business, not the path's."""
    root, inter, leaf = _standard(inter_spec=Spec(permitted_dns=("example.test",)),
                                  leaf=leaf_spec(dns=("www..example.test",)))
    validation = _store([root], tmp_path).validate((leaf.der, inter.der), NOW)
    assert validation.trusted is False and "not a valid DNS name" in validation.detail, validation.detail
    root2, inter2, leaf2 = _standard(leaf=leaf_spec(dns=("www..example.test",)))
    assert _store([root2], tmp_path).validate((leaf2.der, inter2.der), NOW).trusted is True


def test_name_constraint_work_is_bounded_with_its_own_cause(tmp_path: Path) -> None:
    """600 permitted subtrees against 500 SANs is 300,000 comparisons, past the bound: refused as
    too complex (the fix says so), never a stalled run."""
    from dualcert.facts.path import MAX_CONSTRAINT_COMPARISONS

    subtrees = tuple(f"zone{i}.example.test" for i in range(600))
    sans = tuple(f"host{i}.zone{i}.example.test" for i in range(500))
    assert len(subtrees) * len(sans) > MAX_CONSTRAINT_COMPARISONS
    root, inter, leaf = _standard(inter_spec=Spec(permitted_dns=subtrees), leaf=leaf_spec(dns=sans))
    validation = _store([root], tmp_path).validate((leaf.der, inter.der), NOW)
    assert validation.trusted is False and validation.cause is Cause.TOO_COMPLEX, validation.detail
    assert "250,000 comparisons" in validation.detail
    endpoint = Endpoint("web", "c", "generic", "web.example.test", "127.0.0.1", ServiceSpec("https", 443))
    assert "fewer name constraints" in fix_for(untrusted_cause(validation.cause, issuer_sent=True), endpoint, "ECDSA")
    small = make("small", leaf_spec(dns=sans[:10]), inter)   # the same CA, little work: accepted
    assert _store([root], tmp_path).validate((small.der, inter.der), NOW).trusted is True
