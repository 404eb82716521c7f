"""Every typed cause a failing or warning verdict can have, and the fix each one gets: one table.

A rule decides *why* a check fails (a Cause); the fix is then looked up here, never chosen beside the
rule. The cause travels with the verdict (`Verdict.causes`) into the results JSON (`causes` of a test
record), so a script can act on it without parsing the message. The texts themselves are built in
rules/remedies.py from the role's words; tests/test_cause_table.py checks that every cause has a test
that produces it on a real server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dualcert.facts import path
from dualcert.rules import remedies
from dualcert.verdict import Status, Verdict


class Cause(StrEnum):
    """Why a verdict fails or warns; FIXES says what each means and what to do."""

    UNREACHABLE = "unreachable"
    UNRESOLVED = "unresolved"
    NO_TLS = "no-tls"
    CHAIN_TOO_LARGE = "chain-too-large"
    MALFORMED_CERTIFICATE = "malformed-certificate"
    NOT_A_REFUSAL = "not-a-refusal"
    VERSION_MISSING = "version-missing"
    RELEASE_VERSION = "release-version"
    ECDSA_NOT_PRESENTED = "ecdsa-not-presented"
    RSA_NOT_PRESENTED = "rsa-not-presented"
    ECDSA_NOT_WANTED = "ecdsa-not-wanted"
    BROWSER_GETS_ECDSA = "browser-gets-ecdsa"
    BROWSER_GETS_RSA = "browser-gets-rsa"
    BROWSER_CURVE = "browser-curve"
    SELF_SIGNED = "self-signed"
    CA_SIGNED = "ca-signed"
    WRONG_ISSUER = "wrong-issuer"
    ECDSA_UNDER_RSA_CA = "ecdsa-under-rsa-ca"
    ISSUER_UNSEEN = "issuer-unseen"
    INTERMEDIATE_NOT_SENT = "intermediate-not-sent"
    NO_TRUST_BUNDLE = "no-trust-bundle"
    UNKNOWN_ISSUER = "unknown-issuer"
    SELF_SIGNED_UNTRUSTED = "self-signed-untrusted"
    MISSING_INTERMEDIATE = "missing-intermediate"
    LEAF_VALIDITY = "leaf-validity"
    CA_VALIDITY = "ca-validity"
    BAD_SIGNATURE = "bad-signature"
    PROFILE = "profile"
    TOO_COMPLEX = "too-complex"
    HOSTNAME = "hostname"
    NOT_YET_VALID = "not-yet-valid"
    LEAF_EXPIRING = "leaf-expiring"
    CA_EXPIRING = "ca-expiring"
    WEAK_SIGNATURE = "weak-signature"
    WEAK_KEY = "weak-key"
    WEAK_CA_KEY = "weak-ca-key"
    WEAK_ANCHOR = "weak-anchor"
    LINT = "lint"
    CLIENT_CANNOT_CONNECT = "client-cannot-connect"
    CLIENT_GETS_OTHER_FAMILY = "client-gets-other-family"
    CLIENT_UNTRUSTED = "client-untrusted"
    CLIENT_CURVE = "client-curve"
    CLIENT_VERSION = "client-version"
    SELF_SIGNED_TWIN = "self-signed-twin"
    UNIT_SPLIT = "unit-split"
    PLAINTEXT_TWIN = "plaintext-twin"
    ROOTS_DIFFER = "roots-differ"
    SAN_GAP = "san-gap"
    STATE = "deployment-state"
    UNDECLARED_CHANGE = "undeclared-change"


@dataclass(frozen=True)
class Remedy:
    means: str                   # the cause in words (docs/checks.md renders the table)
    fix: Callable[..., str]      # its fix, from rules/remedies.py, given the rule's arguments


FIXES: dict[Cause, Remedy] = {
    Cause.UNREACHABLE: Remedy(
        "the port refused the connection, timed out, or the handshake failed before any certificate",
        lambda: remedies.UNREACHABLE),
    Cause.UNRESOLVED: Remedy("the node's host name does not resolve from the runner", lambda: remedies.UNRESOLVED),
    Cause.NO_TLS: Remedy("the port answers something else than TLS, or drops every hello", lambda: remedies.NO_TLS),
    Cause.CHAIN_TOO_LARGE: Remedy("the server's certificate chain exceeds what TLS clients read (100 KiB in OpenSSL)",
                                  remedies.shorten_chain),
    Cause.MALFORMED_CERTIFICATE: Remedy("the server sent a certificate that cannot be parsed",
                                        remedies.reissue_malformed),
    Cause.NOT_A_REFUSAL: Remedy(
        "the offer was to be refused; the handshake ended otherwise, so a certificate may have been sent",
        remedies.not_a_refusal),
    Cause.VERSION_MISSING: Remedy("the policy requires a TLS version the server does not speak",
                                  remedies.version_missing),
    Cause.RELEASE_VERSION: Remedy(
        "the node's release should speak a TLS version the server does not (the catalog's fix)",
        lambda endpoint: endpoint.release.fix),
    Cause.ECDSA_NOT_PRESENTED: Remedy("an ECDSA certificate is intended for the offer; it got RSA or nothing",
                                      remedies.present_ecdsa),
    Cause.RSA_NOT_PRESENTED: Remedy("an RSA certificate is intended for the offer; it got ECDSA or nothing",
                                    remedies.present_rsa),
    Cause.ECDSA_NOT_WANTED: Remedy("an ECDSA certificate is presented where the policy or the release wants none",
                                   remedies.stop_ecdsa),
    Cause.BROWSER_GETS_ECDSA: Remedy(
        "a browser-like offer gets ECDSA where RSA is intended, while RSA-only offers get RSA",
        remedies.browser_gets_ecdsa),
    Cause.BROWSER_GETS_RSA: Remedy("a browser-like offer gets RSA where ECDSA is intended", remedies.browser_gets_rsa),
    Cause.BROWSER_CURVE: Remedy(
        "a browser-like TLS 1.3 offer is refused: the ECDSA leaf's curve has no scheme browsers offer (P-521)",
        remedies.browser_curve),
    Cause.SELF_SIGNED: Remedy("a self-signed certificate where a CA-signed one is intended", remedies.sign_with_ca),
    Cause.CA_SIGNED: Remedy("a CA-signed certificate where a self-signed one is intended",
                            lambda: remedies.CA_SIGNED_NOW),
    Cause.WRONG_ISSUER: Remedy("not issued by the CA (DN or SHA-256 pin) the policy names", remedies.sign_with_ca),
    Cause.ECDSA_UNDER_RSA_CA: Remedy("an ECDSA certificate with an RSA signature above it (CSCvb58580)",
                                     remedies.ecdsa_signed_by_rsa),
    Cause.ISSUER_UNSEEN: Remedy("nothing above the leaf is sent or in the trust bundle: its signers cannot be judged",
                                remedies.send_intermediate_or_bundle),
    Cause.INTERMEDIATE_NOT_SENT: Remedy(
        "a path exists through the trust bundle, but the server does not send an intermediate",
        remedies.send_chain),
    Cause.NO_TRUST_BUNDLE: Remedy("the policy requires trust and the inventory has no trust bundle",
                                  lambda: remedies.ADD_TRUST_BUNDLE),
    Cause.UNKNOWN_ISSUER: Remedy("no path reaches the trust bundle: the root is not in it", remedies.add_trust),
    Cause.SELF_SIGNED_UNTRUSTED: Remedy(
        "a self-signed leaf that is not itself in the trust bundle (a self-signed certificate has no root to trust)",
        remedies.trust_self_signed),
    Cause.MISSING_INTERMEDIATE: Remedy("a CA-signed leaf whose issuer is neither sent nor in the bundle",
                                       remedies.missing_intermediate),
    Cause.LEAF_VALIDITY: Remedy("the leaf is outside its validity period, so no path is valid",
                                remedies.leaf_out_of_validity),
    Cause.CA_VALIDITY: Remedy("a CA certificate on the path is expired or not yet valid", remedies.ca_out_of_validity),
    Cause.BAD_SIGNATURE: Remedy("a signature on the path does not verify with its named issuer's key",
                                remedies.bad_signature),
    Cause.PROFILE: Remedy(
        "a certificate on the path breaks a rule clients apply (CA flags, key usage, EKU, name constraints)",
        remedies.profile),
    Cause.TOO_COMPLEX: Remedy("the path's name constraints need more work than validators allow (250,000 comparisons)",
                              remedies.too_complex),
    Cause.HOSTNAME: Remedy("the leaf does not name the host the node is reached by", remedies.hostname),
    Cause.NOT_YET_VALID: Remedy("a certificate of the chain is not valid yet", lambda: remedies.NOT_YET_VALID),
    Cause.LEAF_EXPIRING: Remedy("the leaf expires within the policy's window, or has expired", remedies.renew),
    Cause.CA_EXPIRING: Remedy("a CA certificate of the chain expires first, within the policy's window",
                              remedies.renew_ca),
    Cause.WEAK_SIGNATURE: Remedy("a certificate of the path is signed with a forbidden hash (SHA-1, MD5)",
                                 remedies.weak_signature),
    Cause.WEAK_KEY: Remedy("the leaf's key is under the policy's size or on a curve it does not allow",
                           remedies.weak_key),
    Cause.WEAK_CA_KEY: Remedy("a CA certificate above the leaf has such a key", remedies.weak_ca_key),
    Cause.WEAK_ANCHOR: Remedy("the trust bundle's root on the path has a key the key rule would refuse (report only)",
                              lambda: remedies.WEAK_ANCHOR),
    Cause.LINT: Remedy(
        "a deviation from RFC 5280 / the CA/B profile that clients accept, or the chain sent out of order",
        lambda: remedies.LINT),
    Cause.CLIENT_CANNOT_CONNECT: Remedy("a simulated client's offer finds nothing it can use",
                                        remedies.client_cannot_connect),
    Cause.CLIENT_GETS_OTHER_FAMILY: Remedy(
        "a simulated client gets the other key family than the policy intends for it",
        remedies.client_gets_other_family),
    Cause.CLIENT_UNTRUSTED: Remedy("a simulated client cannot build a path to its trust stores (a prompt or a refusal)",
                                   remedies.client_untrusted),
    Cause.CLIENT_CURVE: Remedy("the leaf's curve is not one the simulated client supports", remedies.client_curve),
    Cause.CLIENT_VERSION: Remedy("a simulated client negotiates a TLS version the policy does not accept for it",
                                 remedies.client_version),
    Cause.SELF_SIGNED_TWIN: Remedy("a CA-signed RSA certificate beside its self-signed ECDSA twin (the digest's S4)",
                                   remedies.sign_ecdsa_step),
    Cause.UNIT_SPLIT: Remedy("services sharing one certificate slot present different certificates",
                             remedies.reupload_unit),
    Cause.PLAINTEXT_TWIN: Remedy("a service's plain-text twin port accepts connections (report only)",
                                 remedies.close_plaintext),
    Cause.ROOTS_DIFFER: Remedy("nodes of one role chain to different roots", remedies.sign_with_same_ca),
    Cause.SAN_GAP: Remedy("a multi-server certificate does not name every node of the role", remedies.multi_server_san),
    Cause.STATE: Remedy("the cluster is not in its intended deployment state (the digest's S1-S4)",
                        lambda diagnosis: diagnosis.fix()),
    Cause.UNDECLARED_CHANGE: Remedy(
        "a presented certificate changed since the baseline and expected_changes does not allow it",
        lambda: remedies.DECLARE_CHANGE),
}

# Why no path was accepted (facts.path) -> the cause of the trust failure. A leaf whose issuer is not
# sent is MISSING_INTERMEDIATE instead of UNKNOWN_ISSUER (see untrusted_cause).
_BY_PATH = {path.Cause.UNKNOWN_ISSUER: Cause.UNKNOWN_ISSUER, path.Cause.LEAF_VALIDITY: Cause.LEAF_VALIDITY,
            path.Cause.CA_VALIDITY: Cause.CA_VALIDITY, path.Cause.SIGNATURE: Cause.BAD_SIGNATURE,
            path.Cause.PROFILE: Cause.PROFILE, path.Cause.TOO_COMPLEX: Cause.TOO_COMPLEX}


def untrusted_cause(why: path.Cause, issuer_sent: bool, self_signed: bool = False) -> Cause:
    """The cause of a chain that does not validate: a missing root is not an expired CA, a CA-signed
    leaf whose issuer is not sent lacks its intermediate, and a self-signed leaf has no root to add."""
    if why is path.Cause.UNKNOWN_ISSUER and self_signed:
        return Cause.SELF_SIGNED_UNTRUSTED
    if why is path.Cause.UNKNOWN_ISSUER and not issuer_sent:
        return Cause.MISSING_INTERMEDIATE
    return _BY_PATH.get(why, Cause.UNKNOWN_ISSUER)


def fix_for(cause: Cause, *args: Any, **kwargs: Any) -> str:
    """The fix of `cause`, built from the table's entry with the rule's arguments."""
    return FIXES[cause].fix(*args, **kwargs)


def finding(rule: str, status: Status, message: str, cause: Cause, *args: Any, **kwargs: Any) -> Verdict:
    """A failing or warning verdict with its cause and that cause's fix."""
    return Verdict(rule, status, message, fix_for(cause, *args, **kwargs), causes=(cause,))


def failed(rule: str, message: str, cause: Cause, *args: Any, **kwargs: Any) -> Verdict:
    return finding(rule, Status.FAIL, message, cause, *args, **kwargs)


def combined(rule: str, status: Status, lead: str, problems: list[tuple[str, Cause, str]]) -> Verdict:
    """One verdict for several problems (message, cause, fix): `lead`, their messages and their distinct
    fixes joined."""
    return Verdict(rule, status, lead + "; ".join(message for message, _, _ in problems),
                   " ".join(dict.fromkeys(fix for _, _, fix in problems)),
                   causes=tuple(dict.fromkeys(cause for _, cause, _ in problems)))
