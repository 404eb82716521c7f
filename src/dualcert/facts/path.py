"""Building and checking a server certificate's path to the site's trust anchors, as mainstream clients do.

Why not cryptography's x509.verification: its verifier applies the CA/Browser Web PKI profile with
no way to relax it (v3 only, SHA-2 signatures only, RSA of 2048 bits or more, a critical
basicConstraints even on the trust anchor). An internal CA that OpenSSL (`verify -purpose
sslserver`), Java and browsers accept would be "untrusted" with a misleading reason. Here a path
is what those clients accept (RFC 5280 section 6 for the checks that matter: signatures, validity,
cA and keyCertSign, path length, name constraints, unhandled critical extensions, serverAuth
purpose); deviations from the profiles are reported by their own rules (chain_lint,
signature_hash, key_strength), never as "untrusted". Hostname is its own rule too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from dualcert.facts.chain import extension, label, rfc4514, self_issued, verify_signature
from dualcert.facts.constraints import MAX_CONSTRAINT_COMPARISONS, refused_name
from dualcert.facts.names import name_key

MAX_INTERMEDIATES = 10     # a path longer than this is refused (OpenSSL allows 100; real paths have 1-3)
MAX_SIGNATURE_CHECKS = 256  # a hostile chain of look-alike issuers costs at most this many verifications
# Critical extensions OpenSSL handles (x509_vfy.c / v3_purp.c supported_nids); any other critical one fails a path.
HANDLED_CRITICAL = frozenset({
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.POLICY_CONSTRAINTS, ExtensionOID.POLICY_MAPPINGS, ExtensionOID.INHIBIT_ANY_POLICY,
    x509.ObjectIdentifier("2.16.840.1.113730.1.1"),   # Netscape certificate type
    x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14"),      # proxyCertInfo
    x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7"),       # sbgp-ipAddrBlock
    x509.ObjectIdentifier("1.3.6.1.5.5.7.1.8"),       # sbgp-autonomousSysNum
})
SERVER_EKUS = frozenset({ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE})


class Cause(StrEnum):
    """Why no path was accepted, for choosing the fix (the reason says it in words)."""

    NONE = ""                      # a path was found
    UNKNOWN_ISSUER = "unknown-issuer"  # no path reaches the bundle: an issuer or the root is missing from it
    LEAF_VALIDITY = "leaf-validity"    # the leaf itself is expired or not yet valid
    CA_VALIDITY = "ca-validity"        # a CA certificate on the path is expired or not yet valid
    SIGNATURE = "signature"            # a signature does not verify
    PROFILE = "profile"                # a path reached the bundle but a certificate breaks a rule clients apply
    TOO_COMPLEX = "too-complex"        # checking the path's name constraints needs more work than clients allow


@dataclass(frozen=True)
class Problem:
    """Why a path is refused: in words, its cause, the certificate it is about and what of it was checked."""

    reason: str
    cause: Cause
    certificate: x509.Certificate | None = None
    check: str = ""   # validity | signature | issuer | extensions | extendedKeyUsage | keyUsage | basicConstraints
    #                   | pathLenConstraint | nameConstraints | path length


@dataclass(frozen=True)
class PathResult:
    path: tuple[x509.Certificate, ...]   # leaf ... anchor when found, else ()
    reason: str                           # why no path, or a one-line summary of the path
    cause: Cause = Cause.NONE
    certificate: str = ""                 # the SHA-256 (hex) of the certificate the reason is about
    check: str = ""                       # what of it was checked (Problem.check)


_CHECKED: dict[tuple[bytes, bytes], str | None] = {}   # (cert, issuer) SHA-256 -> signature_error's answer
CHECKED_MAX = 65536


def signature_error(cert: x509.Certificate, issuer: x509.Certificate,
                    pair: tuple[bytes, bytes] | None = None) -> str | None:
    """None when `issuer`'s key verifies `cert`'s signature (SHA-1 and MD5 included: whether they are
    acceptable is the signature_hash rule's call, not the path's), else why not. Remembered per pair
    (their SHA-256 fingerprints, given as `pair` when the caller has them): an estate's leaves share a
    few intermediates, whose own signatures were verified once per chain."""
    pair = pair or (cert.fingerprint(hashes.SHA256()), issuer.fingerprint(hashes.SHA256()))
    if pair in _CHECKED:
        return _CHECKED[pair]
    if len(_CHECKED) >= CHECKED_MAX:
        _CHECKED.clear()
    answer = _CHECKED[pair] = _signature_error(cert, issuer)
    return answer


def _signature_error(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    try:
        verify_signature(cert, issuer)
    except InvalidSignature:
        return f"the signature of {label(cert)} does not verify with the key of {label(issuer)}"
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        return f"the signature of {label(cert)} ({_sig_name(cert)}) cannot be verified with {label(issuer)}: {exc}"
    return None


def _sig_name(cert: x509.Certificate) -> str:
    return getattr(cert.signature_algorithm_oid, "_name", cert.signature_algorithm_oid.dotted_string)





class Anchors:
    """A trust bundle indexed once (by fingerprint and by subject), for every path built against it."""

    def __init__(self, certs: Sequence[x509.Certificate]) -> None:
        self.by_id = {id(c): c.fingerprint(hashes.SHA256()) for c in certs}   # the certs live as long as this
        self.prints = set(self.by_id.values())
        self.by_subject: dict[object, list[x509.Certificate]] = {}
        for cert in certs:
            self.by_subject.setdefault(name_key(cert.subject), []).append(cert)


def find_path(leaf: x509.Certificate, presented: Sequence[x509.Certificate], anchors: Anchors,
              now: dt.datetime) -> PathResult:
    """The first acceptable path from `leaf` to a certificate of `anchors`, through the presented
    certificates and the anchors (a bundle may hold intermediates too). Every candidate path is tried
    (cross-signed CAs give two), so an expired cross-sign does not hide a good path; when none is
    acceptable, the reason is the one of the path that got furthest."""
    anchor_prints = anchors.prints
    # Each certificate's fingerprint once per call (by id: every certificate here outlives the call).
    prints: dict[int, bytes] = {}

    def fingerprint(cert: x509.Certificate) -> bytes:
        found = anchors.by_id.get(id(cert)) or prints.get(id(cert))
        if found is None:
            found = prints[id(cert)] = cert.fingerprint(hashes.SHA256())
        return found

    by_subject: dict[object, list[x509.Certificate]] = {}
    seen: set[bytes] = set()
    for cert in presented:   # presented first: what the server sends is what clients try first
        fp = fingerprint(cert)
        if fp not in seen and fp not in anchor_prints:
            seen.add(fp)
            by_subject.setdefault(name_key(cert.subject), []).append(cert)
    budget = [MAX_SIGNATURE_CHECKS]
    comparisons = [MAX_CONSTRAINT_COMPARISONS]   # shared by every path this call tries
    # (rank, problem): 2+ = a complete path failed a check, 1 = bad signature, 0 = no issuer found
    failures: list[tuple[int, Problem]] = []

    def extend(path: list[x509.Certificate]) -> tuple[x509.Certificate, ...] | None:
        current = path[-1]
        if fingerprint(current) in anchor_prints and len(path) > 1:
            # A bundle certificate is an anchor whatever it is; go on to its own issuer in the bundle if there is one.
            if not self_issued(current):
                longer = _issuers(path, anchors_only=True)
                if longer:
                    return longer
            problem = path_problem(path, now, comparisons)
            if problem is None:
                return tuple(path)
            failures.append((2 + len(path), problem))
            return None
        if len(path) > MAX_INTERMEDIATES + 1:
            failures.append((0, Problem(f"the path is longer than {MAX_INTERMEDIATES} intermediates", Cause.PROFILE,
                                        current, "path length")))
            return None
        return _issuers(path, anchors_only=False)

    def _issuers(path: list[x509.Certificate], anchors_only: bool) -> tuple[x509.Certificate, ...] | None:
        current = path[-1]
        on_path = {fingerprint(c) for c in path}
        named = name_key(current.issuer)
        candidates = [c for c in [*by_subject.get(named, []), *anchors.by_subject.get(named, [])]
                      if fingerprint(c) not in on_path and (not anchors_only or fingerprint(c) in anchor_prints)]
        # Issuers whose key identifier matches the authorityKeyIdentifier first, as OpenSSL orders them:
        # a chain padded with look-alike issuers then costs one signature check, not the budget.
        wanted = _key_id(extension(current, x509.AuthorityKeyIdentifier))
        if wanted is not None:
            candidates.sort(key=lambda c: _key_id(extension(c, x509.SubjectKeyIdentifier)) != wanted)
        if not candidates and not anchors_only:
            if self_issued(current) and signature_error(current, current) is None:
                failures.append((1, Problem(f"the path ends at the self-signed {label(current)}, which is not in the "
                                            "trust bundle", Cause.UNKNOWN_ISSUER, current, "issuer")))
            else:
                failures.append((0, Problem(f"no certificate in the presented chain or the trust bundle is named "
                                            f"{rfc4514(current.issuer)!r}, the issuer of {label(current)}",
                                            Cause.UNKNOWN_ISSUER, current, "issuer")))
        for candidate in candidates:
            if budget[0] <= 0:
                failures.append((0, Problem(f"gave up after {MAX_SIGNATURE_CHECKS} signature checks",
                                            Cause.UNKNOWN_ISSUER, current, "signature")))
                return None
            budget[0] -= 1
            bad = signature_error(current, candidate, (fingerprint(current), fingerprint(candidate)))
            if bad:
                failures.append((1, Problem(bad, Cause.SIGNATURE, current, "signature")))
                continue
            found = extend([*path, candidate])
            if found:
                return found
        return None

    found = extend([leaf])
    if found:
        return PathResult(found, f"chains to {rfc4514(found[-1].subject)}")
    if not failures:
        return PathResult((), "no path", Cause.UNKNOWN_ISSUER)
    _, worst = max(failures, key=lambda f: f[0])
    about = worst.certificate.fingerprint(hashes.SHA256()).hex() if worst.certificate is not None else ""
    return PathResult((), worst.reason, worst.cause, about, worst.check)


def _key_id(value: x509.AuthorityKeyIdentifier | x509.SubjectKeyIdentifier | None) -> bytes | None:
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return value.key_identifier
    return value.digest if value is not None else None


# A check's finding: what of the certificate was checked, and why it fails.
Finding = tuple[str, str] | None


def path_problem(path: Sequence[x509.Certificate], now: dt.datetime,
                 comparisons: list[int] | None = None) -> Problem | None:
    """Why a built path (leaf first, anchor last) is not acceptable to a TLS client: the first finding,
    its cause and the certificate it is about; None when it is acceptable. `comparisons`: the
    name-constraint work left."""
    left = comparisons if comparisons is not None else [MAX_CONSTRAINT_COMPARISONS]
    for index, cert in enumerate(path):
        invalid = _validity(cert, now)
        if invalid:
            return Problem(invalid, Cause.LEAF_VALIDITY if index == 0 else Cause.CA_VALIDITY, cert, "validity")
        found = _critical(cert) or _purpose(cert, is_ca=index > 0)
        if index > 0:
            found = found or _ca_problem(cert, anchor=index == len(path) - 1) or _path_length(path, index)
            if not found and (refused := refused_name(path, index, left)):
                reason, too_complex = refused
                return Problem(reason, Cause.TOO_COMPLEX if too_complex else Cause.PROFILE, cert, "nameConstraints")
        if found:
            check, reason = found
            return Problem(reason, Cause.PROFILE, cert, check)
    return None


def _validity(cert: x509.Certificate, now: dt.datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"{label(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if now > cert.not_valid_after_utc:
        return f"{label(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    return None


def _critical(cert: x509.Certificate) -> Finding:
    try:
        extensions = list(cert.extensions)
    except (x509.DuplicateExtension, ValueError) as exc:   # duplicate or malformed extensions
        return "extensions", f"the extensions of {label(cert)} cannot be parsed: {exc}"
    for ext in extensions:
        if ext.critical and ext.oid not in HANDLED_CRITICAL:
            name = getattr(ext.oid, "_name", "") or ext.oid.dotted_string
            return "extensions", f"{label(cert)} has a critical extension clients do not handle ({name})"
    return None


def _purpose(cert: x509.Certificate, *, is_ca: bool) -> Finding:
    """serverAuth purpose: EKU absent, or it names serverAuth or anyExtendedKeyUsage (leaf and CAs);
    a leaf's keyUsage, when present, allows a TLS key exchange or signature."""
    eku = extension(cert, x509.ExtendedKeyUsage)
    if eku is not None and not SERVER_EKUS & set(eku):
        names = ", ".join(getattr(o, "_name", o.dotted_string) for o in eku)
        return "extendedKeyUsage", f"{label(cert)} has an extendedKeyUsage without serverAuth ({names})"
    ku = extension(cert, x509.KeyUsage)
    if not is_ca and ku is not None and not (ku.digital_signature or ku.key_encipherment or ku.key_agreement):
        return "keyUsage", f"the keyUsage of {label(cert)} allows neither digitalSignature nor keyEncipherment"
    return None


def _ca_problem(cert: x509.Certificate, *, anchor: bool) -> Finding:
    """keyUsage, if present, has keyCertSign; basicConstraints says cA. Without it only the anchor may be a CA
    (a v1 self-signed root, or keyUsage keyCertSign): OpenSSL, Go and webpki refuse such an intermediate."""
    usage = extension(cert, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return "keyUsage", f"{label(cert)} signs certificates but its keyUsage lacks keyCertSign"
    constraints = extension(cert, x509.BasicConstraints)
    if constraints is not None:
        return None if constraints.ca else ("basicConstraints", f"{label(cert)} is not a CA (basicConstraints cA is "
                                                                "false)")
    if anchor and (usage is not None or (cert.version is x509.Version.v1 and self_issued(cert))):
        return None
    return "basicConstraints", f"{label(cert)} signs certificates but has no basicConstraints (it is not a CA)"


def _path_length(path: Sequence[x509.Certificate], index: int) -> Finding:
    constraints = extension(path[index], x509.BasicConstraints)
    limit = constraints.path_length if constraints is not None else None
    if limit is None:
        return None
    below = sum(1 for c in path[1:index] if not self_issued(c))
    if below > limit:
        return "pathLenConstraint", (f"{label(path[index])} allows {limit} intermediate(s) below it "
                                     f"(pathLenConstraint), the path has {below}")
    return None
