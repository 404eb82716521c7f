"""Every typed cause a failing or warning verdict can have, and the fix each one gets: one table.

A rule decides *why* a check fails (a Cause); the fix is then looked up here, never chosen beside the
rule. The cause travels with the verdict (`Verdict.causes`) into the results JSON (`causes` of a test
record), so a script can act on it without parsing the message. The texts themselves are built in
rules/remedies.py from the role's words; tests/test_cause_table.py checks that every cause has a test
that produces it on a real server.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from dualcert.facts import path
from dualcert.rules import remedies
from dualcert.verdict import Status, Verdict


class Cause(StrEnum):
    # The port: no certificate could be judged.
    UNREACHABLE = "unreachable"                    # refused, timed out, or the handshake failed otherwise
    UNRESOLVED = "unresolved"                      # the host name does not resolve
    NO_TLS = "no-tls"                              # the port answers something else, or drops every hello
    CHAIN_TOO_LARGE = "chain-too-large"            # the server's chain exceeds what clients read
    MALFORMED_CERTIFICATE = "malformed-certificate"  # a certificate that cannot be parsed
    NOT_A_REFUSAL = "not-a-refusal"                # a refusal was intended; the handshake ended otherwise
    # Which certificate an offer gets.
    VERSION_MISSING = "version-missing"            # the policy requires a TLS version the server lacks
    RELEASE_VERSION = "release-version"            # the node's release should speak that version (catalog fix)
    ECDSA_NOT_PRESENTED = "ecdsa-not-presented"
    RSA_NOT_PRESENTED = "rsa-not-presented"
    ECDSA_NOT_WANTED = "ecdsa-not-wanted"          # ECDSA presented where the policy or release wants none
    BROWSER_GETS_ECDSA = "browser-gets-ecdsa"      # the server prefers ECDSA for browsers; RSA is intended
    BROWSER_GETS_RSA = "browser-gets-rsa"          # the server gives browsers RSA; ECDSA is intended
    # Who signed it, and what the server sends with it.
    SELF_SIGNED = "self-signed"                    # CA-signed intended
    CA_SIGNED = "ca-signed"                        # self-signed intended
    WRONG_ISSUER = "wrong-issuer"                  # not the issuer (DN or pin) the policy names
    ECDSA_UNDER_RSA_CA = "ecdsa-under-rsa-ca"      # CSCvb58580
    ISSUER_UNSEEN = "issuer-unseen"                # nothing above the leaf is sent or in the bundle
    INTERMEDIATE_NOT_SENT = "intermediate-not-sent"  # a path exists through the bundle, not through what is sent
    # Trust, by why no path was accepted (facts.path.Cause), the host name and the dates.
    NO_TRUST_BUNDLE = "no-trust-bundle"
    UNKNOWN_ISSUER = "unknown-issuer"              # the root is not in the bundle
    MISSING_INTERMEDIATE = "missing-intermediate"  # a CA-signed leaf whose issuer is neither sent nor bundled
    LEAF_VALIDITY = "leaf-validity"
    CA_VALIDITY = "ca-validity"
    BAD_SIGNATURE = "bad-signature"
    PROFILE = "profile"                            # a certificate on the path breaks a rule clients apply
    TOO_COMPLEX = "too-complex"                    # name constraints beyond the work bound
    HOSTNAME = "hostname"
    NOT_YET_VALID = "not-yet-valid"
    LEAF_EXPIRING = "leaf-expiring"
    CA_EXPIRING = "ca-expiring"
    # Strength and form.
    WEAK_SIGNATURE = "weak-signature"
    WEAK_KEY = "weak-key"
    WEAK_CA_KEY = "weak-ca-key"
    WEAK_ANCHOR = "weak-anchor"
    LINT = "lint"
    # Simulated clients.
    CLIENT_CANNOT_CONNECT = "client-cannot-connect"
    CLIENT_GETS_OTHER_FAMILY = "client-gets-other-family"
    CLIENT_UNTRUSTED = "client-untrusted"
    CLIENT_CURVE = "client-curve"
    CLIENT_VERSION = "client-version"
    # Across a node's services and a cluster's nodes.
    SELF_SIGNED_TWIN = "self-signed-twin"          # a CA-signed RSA certificate beside a self-signed ECDSA twin (S4)
    UNIT_SPLIT = "unit-split"                      # one certificate slot, different certificates on its ports
    PLAINTEXT_TWIN = "plaintext-twin"
    ROOTS_DIFFER = "roots-differ"
    SAN_GAP = "san-gap"                            # a multi-server certificate that misses a node
    STATE = "deployment-state"                     # the cluster is not in its intended state
    # Against the baseline (--baseline).
    UNDECLARED_CHANGE = "undeclared-change"        # a presented certificate changed, not in expected_changes


FIXES: dict[Cause, Callable[..., str]] = {
    Cause.UNREACHABLE: lambda: remedies.UNREACHABLE,
    Cause.UNRESOLVED: lambda: remedies.UNRESOLVED,
    Cause.NO_TLS: lambda: remedies.NO_TLS,
    Cause.CHAIN_TOO_LARGE: remedies.shorten_chain,
    Cause.MALFORMED_CERTIFICATE: remedies.reissue_malformed,
    Cause.NOT_A_REFUSAL: remedies.not_a_refusal,
    Cause.VERSION_MISSING: remedies.version_missing,
    Cause.RELEASE_VERSION: lambda endpoint: endpoint.release.fix,
    Cause.ECDSA_NOT_PRESENTED: remedies.present_ecdsa,
    Cause.RSA_NOT_PRESENTED: remedies.present_rsa,
    Cause.ECDSA_NOT_WANTED: remedies.stop_ecdsa,
    Cause.BROWSER_GETS_ECDSA: remedies.browser_gets_ecdsa,
    Cause.BROWSER_GETS_RSA: remedies.browser_gets_rsa,
    Cause.SELF_SIGNED: remedies.sign_with_ca,
    Cause.CA_SIGNED: lambda: remedies.CA_SIGNED_NOW,
    Cause.WRONG_ISSUER: remedies.sign_with_ca,
    Cause.ECDSA_UNDER_RSA_CA: remedies.ecdsa_signed_by_rsa,
    Cause.ISSUER_UNSEEN: remedies.send_intermediate_or_bundle,
    Cause.INTERMEDIATE_NOT_SENT: remedies.send_chain,
    Cause.NO_TRUST_BUNDLE: lambda: remedies.ADD_TRUST_BUNDLE,
    Cause.UNKNOWN_ISSUER: remedies.add_trust,
    Cause.MISSING_INTERMEDIATE: remedies.missing_intermediate,
    Cause.LEAF_VALIDITY: remedies.leaf_out_of_validity,
    Cause.CA_VALIDITY: remedies.ca_out_of_validity,
    Cause.BAD_SIGNATURE: remedies.bad_signature,
    Cause.PROFILE: remedies.profile,
    Cause.TOO_COMPLEX: remedies.too_complex,
    Cause.HOSTNAME: remedies.hostname,
    Cause.NOT_YET_VALID: lambda: remedies.NOT_YET_VALID,
    Cause.LEAF_EXPIRING: remedies.renew,
    Cause.CA_EXPIRING: remedies.renew_ca,
    Cause.WEAK_SIGNATURE: remedies.weak_signature,
    Cause.WEAK_KEY: remedies.weak_key,
    Cause.WEAK_CA_KEY: remedies.weak_ca_key,
    Cause.WEAK_ANCHOR: lambda: remedies.WEAK_ANCHOR,
    Cause.LINT: lambda: remedies.LINT,
    Cause.CLIENT_CANNOT_CONNECT: remedies.client_cannot_connect,
    Cause.CLIENT_GETS_OTHER_FAMILY: remedies.client_gets_other_family,
    Cause.CLIENT_UNTRUSTED: remedies.client_untrusted,
    Cause.CLIENT_CURVE: remedies.client_curve,
    Cause.CLIENT_VERSION: remedies.client_version,
    Cause.SELF_SIGNED_TWIN: remedies.sign_ecdsa_step,
    Cause.UNIT_SPLIT: remedies.reupload_unit,
    Cause.PLAINTEXT_TWIN: remedies.close_plaintext,
    Cause.ROOTS_DIFFER: remedies.sign_with_same_ca,
    Cause.SAN_GAP: remedies.multi_server_san,
    Cause.STATE: lambda diagnosis: diagnosis.fix(),
    Cause.UNDECLARED_CHANGE: lambda: remedies.DECLARE_CHANGE,
}

# Why no path was accepted (facts.path) -> the cause of the trust failure. A leaf whose issuer is not
# sent is MISSING_INTERMEDIATE instead of UNKNOWN_ISSUER (see untrusted_cause).
_BY_PATH = {path.Cause.UNKNOWN_ISSUER: Cause.UNKNOWN_ISSUER, path.Cause.LEAF_VALIDITY: Cause.LEAF_VALIDITY,
            path.Cause.CA_VALIDITY: Cause.CA_VALIDITY, path.Cause.SIGNATURE: Cause.BAD_SIGNATURE,
            path.Cause.PROFILE: Cause.PROFILE, path.Cause.TOO_COMPLEX: Cause.TOO_COMPLEX}


def untrusted_cause(why: path.Cause, issuer_sent: bool) -> Cause:
    """The cause of a chain that does not validate: a missing root is not an expired CA, and a
    CA-signed leaf whose issuer is not sent lacks its intermediate."""
    if why is path.Cause.UNKNOWN_ISSUER and not issuer_sent:
        return Cause.MISSING_INTERMEDIATE
    return _BY_PATH.get(why, Cause.UNKNOWN_ISSUER)


def fix_for(cause: Cause, *args: Any, **kwargs: Any) -> str:
    """The fix of `cause`, built from the table's entry with the rule's arguments."""
    return FIXES[cause](*args, **kwargs)


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
