"""Does the leaf name the host the client asked for? RFC 6125 matching by service-identity."""

from __future__ import annotations

from functools import lru_cache

from cryptography import x509


def hostname_matches(chain_der: tuple[bytes, ...], hostname: str) -> tuple[bool, str]:
    """RFC 6125 matching of `hostname` (DNS name or IP) against the leaf; the trailing dot of an
    absolute name ("host.example.") is not part of the name a certificate carries."""
    return _leaf_matches(chain_der[0] if chain_der else b"", hostname.removesuffix("."))


@lru_cache(maxsize=16384)
def _leaf_matches(leaf_der: bytes, hostname: str) -> tuple[bool, str]:
    # Cached: an endpoint's offers often get the same leaf, and each probe asks once per run.
    import ipaddress

    from service_identity import CertificateError, VerificationError
    from service_identity.cryptography import verify_certificate_hostname, verify_certificate_ip_address

    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
    except ValueError as exc:
        return False, f"leaf cannot be parsed: {exc}"
    try:
        try:
            ipaddress.ip_address(hostname)
        except ValueError:
            verify_certificate_hostname(leaf, hostname)
        else:
            verify_certificate_ip_address(leaf, hostname)
    except VerificationError:
        return False, f"{hostname} is not in the certificate's names"
    except CertificateError as exc:
        return False, f"certificate names cannot be matched: {exc}"
    except Exception as exc:  # e.g. DuplicateExtension from a malformed certificate
        return False, f"certificate names cannot be read: {type(exc).__name__}: {exc}"
    return True, f"{hostname} matches the certificate"
