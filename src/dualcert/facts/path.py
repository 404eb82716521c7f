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
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from dualcert.facts.chain import rfc4514, verify_signature
from dualcert.facts.names import name_key, same_name

MAX_INTERMEDIATES = 10     # a path longer than this is refused (OpenSSL allows 100; real paths have 1-3)
MAX_SIGNATURE_CHECKS = 256  # a hostile chain of look-alike issuers costs at most this many verifications
# Name-constraint comparisons (names x subtrees) one validation may make, over every path it tries: Go's
# crypto/x509 default (VerifyOptions.MaxConstraintComparisions, 250,000). A chain that needs more is
# refused with its own cause, in milliseconds, instead of stalling the run (issue 22).
MAX_CONSTRAINT_COMPARISONS = 250_000
# The name forms whose constraints are checked; a constraint of any other form (otherName, registeredID)
# cannot be honoured, and a client refuses the path (OpenSSL: unsupported name constraint type).
CHECKED_FORMS = (x509.DNSName, x509.IPAddress, x509.DirectoryName, x509.RFC822Name, x509.UniformResourceIdentifier)
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
E = TypeVar("E", bound=x509.ExtensionType)
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
class PathResult:
    path: tuple[x509.Certificate, ...]   # leaf ... anchor when found, else ()
    reason: str                           # why no path, or a one-line summary of the path
    cause: Cause = Cause.NONE


def label(cert: x509.Certificate) -> str:
    """A certificate by name, for messages: its CN, else its whole subject."""
    try:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        cns = []
    return repr(str(cns[0].value)) if cns else repr(rfc4514(cert.subject))


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


def self_issued(cert: x509.Certificate) -> bool:
    return same_name(cert.subject, cert.issuer)


def extension(cert: x509.Certificate, kind: type[E]) -> E | None:
    """The value of one extension, None when absent (malformed extensions fail the path in _critical)."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):   # DuplicateExtension is no ValueError
        return None


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
    # (rank, reason, cause): 2+ = a complete path failed a check, 1 = bad signature, 0 = no issuer found
    failures: list[tuple[int, str, Cause]] = []

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
            failures.append((2 + len(path), *problem))
            return None
        if len(path) > MAX_INTERMEDIATES + 1:
            failures.append((0, f"the path is longer than {MAX_INTERMEDIATES} intermediates", Cause.PROFILE))
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
                failures.append((1, f"the path ends at the self-signed {label(current)}, which is not in the "
                                    "trust bundle", Cause.UNKNOWN_ISSUER))
            else:
                failures.append((0, f"no certificate in the presented chain or the trust bundle is named "
                                    f"{rfc4514(current.issuer)!r}, the issuer of {label(current)}",
                                 Cause.UNKNOWN_ISSUER))
        for candidate in candidates:
            if budget[0] <= 0:
                failures.append((0, f"gave up after {MAX_SIGNATURE_CHECKS} signature checks", Cause.UNKNOWN_ISSUER))
                return None
            budget[0] -= 1
            bad = signature_error(current, candidate, (fingerprint(current), fingerprint(candidate)))
            if bad:
                failures.append((1, bad, Cause.SIGNATURE))
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
    _, reason, cause = max(failures, key=lambda f: f[0])
    return PathResult((), reason, cause)


def _key_id(value: x509.AuthorityKeyIdentifier | x509.SubjectKeyIdentifier | None) -> bytes | None:
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return value.key_identifier
    return value.digest if value is not None else None


def path_problem(path: Sequence[x509.Certificate], now: dt.datetime,
                 comparisons: list[int] | None = None) -> tuple[str, Cause] | None:
    """Why a built path (leaf first, anchor last) is not acceptable to a TLS client, and the cause of
    that first finding; None when it is acceptable. `comparisons`: the name-constraint work left."""
    left = comparisons if comparisons is not None else [MAX_CONSTRAINT_COMPARISONS]
    for index, cert in enumerate(path):
        invalid = _validity(cert, now)
        if invalid:
            return invalid, Cause.LEAF_VALIDITY if index == 0 else Cause.CA_VALIDITY
        problem = _critical(cert) or _purpose(cert, is_ca=index > 0)
        if index > 0:
            problem = problem or _ca_problem(cert, anchor=index == len(path) - 1) or _path_length(path, index)
            if not problem and (constrained := _name_constraints(path, index, left)):
                return constrained
        if problem:
            return problem, Cause.PROFILE
    return None


def _validity(cert: x509.Certificate, now: dt.datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"{label(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
    if now > cert.not_valid_after_utc:
        return f"{label(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    return None


def _critical(cert: x509.Certificate) -> str | None:
    try:
        extensions = list(cert.extensions)
    except (x509.DuplicateExtension, ValueError) as exc:   # duplicate or malformed extensions
        return f"the extensions of {label(cert)} cannot be parsed: {exc}"
    for ext in extensions:
        if ext.critical and ext.oid not in HANDLED_CRITICAL:
            name = getattr(ext.oid, "_name", "") or ext.oid.dotted_string
            return f"{label(cert)} has a critical extension clients do not handle ({name})"
    return None


def _purpose(cert: x509.Certificate, *, is_ca: bool) -> str | None:
    """serverAuth purpose: EKU absent, or it names serverAuth or anyExtendedKeyUsage (leaf and CAs);
    a leaf's keyUsage, when present, allows a TLS key exchange or signature."""
    eku = extension(cert, x509.ExtendedKeyUsage)
    if eku is not None and not SERVER_EKUS & set(eku):
        names = ", ".join(getattr(o, "_name", o.dotted_string) for o in eku)
        return f"{label(cert)} has an extendedKeyUsage without serverAuth ({names})"
    ku = extension(cert, x509.KeyUsage)
    if not is_ca and ku is not None and not (ku.digital_signature or ku.key_encipherment or ku.key_agreement):
        return f"the keyUsage of {label(cert)} allows neither digitalSignature nor keyEncipherment"
    return None


def _ca_problem(cert: x509.Certificate, *, anchor: bool) -> str | None:
    """keyUsage, if present, has keyCertSign; basicConstraints says cA. Without it only the anchor may be a CA
    (a v1 self-signed root, or keyUsage keyCertSign): OpenSSL, Go and webpki refuse such an intermediate."""
    usage = extension(cert, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return f"{label(cert)} signs certificates but its keyUsage lacks keyCertSign"
    constraints = extension(cert, x509.BasicConstraints)
    if constraints is not None:
        return None if constraints.ca else f"{label(cert)} is not a CA (basicConstraints cA is false)"
    if anchor and (usage is not None or (cert.version is x509.Version.v1 and self_issued(cert))):
        return None
    return f"{label(cert)} signs certificates but has no basicConstraints (it is not a CA)"


def _path_length(path: Sequence[x509.Certificate], index: int) -> str | None:
    constraints = extension(path[index], x509.BasicConstraints)
    limit = constraints.path_length if constraints is not None else None
    if limit is None:
        return None
    below = sum(1 for c in path[1:index] if not self_issued(c))
    if below > limit:
        return f"{label(path[index])} allows {limit} intermediate(s) below it (pathLenConstraint), the path has {below}"
    return None


def _name_constraints(path: Sequence[x509.Certificate], index: int, left: list[int]) -> tuple[str, Cause] | None:
    """The first name below path[index] its name constraints refuse (RFC 5280 4.2.1.10), spending
    `left`, the validation's comparison budget."""
    nc = extension(path[index], x509.NameConstraints)
    if nc is None:
        return None
    subtrees = [*(nc.permitted_subtrees or []), *(nc.excluded_subtrees or [])]
    odd = sorted({type(s).__name__ for s in subtrees if not isinstance(s, CHECKED_FORMS)})
    if odd:
        return (f"the name constraints of {label(path[index])} use a form clients cannot check "
                f"({', '.join(odd)}): clients refuse the path", Cause.PROFILE)
    dns_constrained = any(isinstance(s, x509.DNSName) for s in subtrees)
    for below, cert in enumerate(path[:index]):
        if below > 0 and self_issued(cert):
            continue
        names = _names(cert, is_leaf=below == 0)
        left[0] -= len(names) * len(subtrees)
        if left[0] < 0:
            return (f"checking the name constraints of {label(path[index])} against {label(cert)} needs more than "
                    f"{MAX_CONSTRAINT_COMPARISONS:,} comparisons (names x constraints), the bound clients such as "
                    "Go's crypto/x509 apply: the path is refused", Cause.TOO_COMPLEX)
        for name in names:
            if dns_constrained and isinstance(name, x509.DNSName) and not _dns_syntax(name.value):
                return (f"{label(cert)} carries {_show(name)}, not a valid DNS name, under the name constraints "
                        f"of {label(path[index])}", Cause.PROFILE)
            if not _allowed(name, nc):
                return (f"the name constraints of {label(path[index])} do not allow {_show(name)} in "
                        f"{label(cert)}", Cause.PROFILE)
    return None


def _dns_syntax(value: str) -> bool:
    """A host name a constraint can be checked against: labels of letters, digits, '-' and '_', none
    empty, an optional leading '*' label (a wildcard)."""
    labels = value.rstrip(".").split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return bool(labels) and all(0 < len(part) < 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in part)
                                for part in labels)


def _names(cert: x509.Certificate, *, is_leaf: bool) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DirectoryName(cert.subject)] if cert.subject.rdns else []
    san = extension(cert, x509.SubjectAlternativeName)
    if san is not None:
        names += list(san)
    if is_leaf and not any(isinstance(n, x509.DNSName) for n in names):
        # Like OpenSSL, a leaf without DNS SANs has its CN checked as a host name.
        for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            value = str(attr.value)
            if "." in value and " " not in value:
                names.append(x509.DNSName(value))
    return names


def _show(name: x509.GeneralName) -> str:
    value = name.value
    return rfc4514(value) if isinstance(value, x509.Name) else repr(str(value))


def _allowed(name: x509.GeneralName, nc: x509.NameConstraints) -> bool:
    same = [s for s in nc.permitted_subtrees or [] if type(s) is type(name)]
    if same and not any(_within(name, s) for s in same):
        return False
    return not any(_within(name, s) or _wildcard_reaches(name, s)
                   for s in nc.excluded_subtrees or [] if type(s) is type(name))


def _wildcard_reaches(name: x509.GeneralName, subtree: x509.GeneralName) -> bool:
    """A wildcard SAN (*.example.com) matches hosts of an excluded subtree below its domain
    (bad.example.com): clients refuse it (Go since CVE-2025-61727)."""
    if not isinstance(name, x509.DNSName) or not name.value.startswith("*."):
        return False
    domain, base = name.value[2:].lower().rstrip("."), str(subtree.value).lower().strip(".")
    return base.endswith("." + domain)


def _within(name: x509.GeneralName, subtree: x509.GeneralName) -> bool:
    if isinstance(name, x509.DNSName):
        host, base = name.value.lower().rstrip("."), str(subtree.value).lower().rstrip(".")
        if base.startswith("."):
            return host.endswith(base)
        return not base or host == base or host.endswith("." + base)
    if isinstance(name, x509.IPAddress) and isinstance(subtree.value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        address = name.value
        return isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and address in subtree.value
    if isinstance(name, x509.DirectoryName) and isinstance(subtree.value, x509.Name):
        prefix = name_key(subtree.value)
        return name_key(name.value)[:len(prefix)] == prefix
    if isinstance(name, (x509.RFC822Name, x509.UniformResourceIdentifier)):
        text, base = str(name.value).lower(), str(subtree.value).lower()
        return text == base or text.endswith("@" + base) or text.endswith("." + base.lstrip("."))
    return False
