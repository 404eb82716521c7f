"""Deviations from RFC 5280 and the CA/Browser Forum profile that clients still accept (the chain_lint rule).

Path validation (facts/path.py) accepts what OpenSSL, Java and browsers accept; what a stricter
client or a future policy may refuse is listed here per certificate, never folded into "untrusted".
"""

from __future__ import annotations

from functools import lru_cache

from cryptography import x509


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except (x509.ExtensionNotFound, ValueError):
        return None


@lru_cache(maxsize=4096)
def deviations(der: bytes, as_leaf: bool) -> tuple[str, ...]:
    """What one certificate (DER, as CertFacts keeps it) does differently from the profiles, in words.
    `as_leaf`: it is the end-entity certificate of the path; otherwise it signs the certificate below it."""
    cert = x509.load_der_x509_certificate(der)
    found: list[str] = []
    if cert.version is x509.Version.v1:
        found.append("an X.509 v1 certificate (no extensions; RFC 5280 wants v3)")
    constraints = _ext(cert, x509.BasicConstraints)
    is_ca = bool(constraints and constraints.value.ca)  # type: ignore[attr-defined]
    self_signed = cert.subject == cert.issuer
    if as_leaf:
        if is_ca:
            found.append("a server certificate with basicConstraints cA=true")
        if _ext(cert, x509.ExtendedKeyUsage) is None:
            found.append("no extendedKeyUsage (the CA/B profile wants serverAuth)")
        if _ext(cert, x509.SubjectAlternativeName) is None:
            found.append("no subjectAltName (clients ignore the common name)")
    else:
        if constraints is None:
            found.append("a CA without basicConstraints")
        elif not constraints.critical:
            found.append("basicConstraints not marked critical on a CA")
        usage = _ext(cert, x509.KeyUsage)
        if usage is None:
            found.append("a CA without keyUsage")
        elif not usage.critical:
            found.append("keyUsage not marked critical on a CA")
        if _ext(cert, x509.SubjectKeyIdentifier) is None:
            found.append("no subjectKeyIdentifier")
    if not self_signed and _ext(cert, x509.AuthorityKeyIdentifier) is None:
        found.append("no authorityKeyIdentifier")
    return tuple(found)
