"""Facts about a presented chain, from DER bytes alone (pure: no network), parsed with cryptography."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from dualcert.facts.names import same_name


@dataclass(frozen=True)
class CertFacts:
    subject: str
    issuer: str
    common_name: str | None
    issuer_common_name: str | None
    sha256: str
    key_type: str              # "RSA" | "ECDSA" | "Ed25519" | ...
    key_size: int | None
    curve: str | None
    signature_algorithm: str   # e.g. "ecdsa-with-SHA256"
    signed_with: str | None    # key family of the signature: "RSA" | "ECDSA" | ...
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool
    is_ca: bool
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    der: bytes = field(repr=False)      # the bytes the server sent (shared with its observation)
    signature_hash: str | None = None   # "sha256", "sha1", "md5", ...; None for Ed25519/Ed448 or unknown

    @property
    def pem(self) -> str:
        """PEM, made when asked: kept, it was a kilobyte per certificate (20,000 at 10,000 endpoints)."""
        return ssl.DER_cert_to_PEM_cert(self.der)

    def days_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject, "issuer": self.issuer, "sha256": self.sha256, "key_type": self.key_type,
            "key_size": self.key_size, "curve": self.curve, "signature_algorithm": self.signature_algorithm,
            "signed_with": self.signed_with, "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(), "self_signed": self.self_signed, "is_ca": self.is_ca,
            "san_dns": list(self.san_dns), "san_ip": list(self.san_ip),
        }


@dataclass(frozen=True)
class ChainFacts:
    certs: tuple[CertFacts, ...]   # as presented, leaf first
    parse_error: str | None = None

    @property
    def leaf(self) -> CertFacts:
        return self.certs[0]


def _key_facts(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    try:
        key = cert.public_key()
    except (ValueError, TypeError) as exc:
        return f"unknown ({exc})", None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    return type(key).__name__, None, None


def _signed_with(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_algorithm_parameters
        oid_name = cert.signature_algorithm_oid._name  # e.g. "ecdsa-with-SHA256"
    except Exception:  # unknown OIDs: fall back to the name
        algorithm, oid_name = None, ""
    if isinstance(algorithm, ec.ECDSA):
        return "ECDSA"
    if isinstance(algorithm, (rsa_padding_types())):
        return "RSA"
    lowered = oid_name.lower()
    for marker, family in (("ecdsa", "ECDSA"), ("rsa", "RSA"), ("ed25519", "Ed25519"), ("ed448", "Ed448"),
                           ("dsa", "DSA")):
        if marker in lowered:
            return family
    return None


@cache
def rsa_padding_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import padding

    return (padding.PKCS1v15, padding.PSS)


def _common_name(name: x509.Name) -> str | None:
    try:
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    return str(values[0].value) if values else None


def rfc4514(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except (ValueError, UnicodeError) as exc:
        return f"<unparseable name: {exc}>"


def _san(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return (), ()
    ips = tuple(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))
    return tuple(ext.get_values_for_type(x509.DNSName)), ips


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def verify_signature(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raise unless `issuer`'s key verifies `cert`'s signature (InvalidSignature, or ValueError /
    TypeError / UnsupportedAlgorithm when it cannot be checked). Unlike
    Certificate.verify_directly_issued_by this verifies SHA-1 and MD5 signatures too: old self-signed
    and internal-CA certificates use them, and whether that is acceptable is a rule's call."""
    from cryptography.hazmat.primitives.asymmetric import padding

    key = issuer.public_key()
    algorithm = cert.signature_hash_algorithm
    params = cert.signature_algorithm_parameters
    signature, tbs = cert.signature, cert.tbs_certificate_bytes
    # cryptography gives no parameters for the legacy algorithms (md5WithRSAEncryption, ecdsa-with-SHA1):
    # PKCS#1 v1.5 and plain ECDSA are what their OIDs mean (RFC 3279).
    if isinstance(key, rsa.RSAPublicKey) and algorithm is not None and (params is None or
                                                                       isinstance(params, rsa_padding_types())):
        key.verify(signature, tbs, params or padding.PKCS1v15(), algorithm)  # type: ignore[arg-type]
    elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None and (params is None or
                                                                                   isinstance(params, ec.ECDSA)):
        key.verify(signature, tbs, ec.ECDSA(algorithm))
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)) and algorithm is None:
        key.verify(signature, tbs)
    elif isinstance(key, dsa.DSAPublicKey) and algorithm is not None and params is None:
        key.verify(signature, tbs, algorithm)
    else:
        raise TypeError("the signature algorithm does not match the issuer's key type")


def _self_signed(cert: x509.Certificate, subject: x509.Name, issuer: x509.Name) -> bool:
    if subject != issuer:
        return False
    try:
        verify_signature(cert, cert)
    except Exception:  # InvalidSignature and unsupported keys alike
        return False
    return True


def _signature_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # an OID cryptography does not know (md2, ...): its name says what it is
        name = getattr(cert.signature_algorithm_oid, "_name", "").lower()
        return next((h for h in ("md2", "md4", "md5", "sha1") if h in name), None)
    return algorithm.name if algorithm is not None else None


def cert_facts(cert: x509.Certificate, der: bytes | None = None) -> CertFacts:
    key_type, key_size, curve = _key_facts(cert)
    dns, ips = _san(cert)
    try:
        signature_algorithm = cert.signature_algorithm_oid._name
    except Exception:
        signature_algorithm = "unknown"
    subject, issuer = cert.subject, cert.issuer   # each read builds a Name anew: read once
    return CertFacts(
        subject=rfc4514(subject), issuer=rfc4514(issuer),
        common_name=_common_name(subject), issuer_common_name=_common_name(issuer),
        sha256=cert.fingerprint(hashes.SHA256()).hex(), key_type=key_type, key_size=key_size, curve=curve,
        signature_algorithm=signature_algorithm, signed_with=_signed_with(cert),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        self_signed=_self_signed(cert, subject, issuer), is_ca=_is_ca(cert), san_dns=dns, san_ip=ips,
        der=der if der is not None else cert.public_bytes(serialization.Encoding.DER),
        signature_hash=_signature_hash(cert),
    )


@lru_cache(maxsize=65536)
def der_facts(der: bytes) -> CertFacts:
    """Facts of one DER certificate, parsed once per run however many probes, rules and
    writers ask (an endpoint's offers often see the same leaf; intermediates repeat across
    the estate). Raises ValueError for unparseable DER (not cached). The caches hold a
    10,000-endpoint estate's 20,000 leaves and chains: smaller, each writer re-parsed them."""
    return cert_facts(x509.load_der_x509_certificate(der), der)


def chain_facts(chain_der: tuple[bytes, ...] | list[bytes]) -> ChainFacts:
    """Facts of a presented chain, parsed once per distinct chain: an estate presents one chain
    to many probes, and the rules, the diagnosis, the results writer and the report all read it."""
    return _parse_chain(tuple(chain_der))


def clear_caches() -> None:
    """Forget parsed chains and certificates (for benchmarks that measure a cold parse)."""
    _parse_chain.cache_clear()
    der_facts.cache_clear()


@lru_cache(maxsize=65536)
def _parse_chain(chain_der: tuple[bytes, ...]) -> ChainFacts:
    certs: list[CertFacts] = []
    for index, der in enumerate(chain_der):
        try:
            certs.append(der_facts(der))
        except Exception as exc:  # a server's bytes may break the parser in any way
            # (ValueError for bad DER, DuplicateExtension for two SANs, ...): record why, never raise.
            reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            if index == 0:
                return ChainFacts((), f"the leaf certificate cannot be parsed: {reason}")
            return ChainFacts(tuple(certs), f"certificate #{index + 1} of the chain cannot be parsed: {reason}")
    return ChainFacts(tuple(certs))


# --- what path validation reads of a certificate (facts/path.py, facts/constraints.py) ---------------

E = TypeVar("E", bound=x509.ExtensionType)


def label(cert: x509.Certificate) -> str:
    """A certificate by name, for messages: its CN, else its whole subject."""
    try:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        cns = []
    return repr(str(cns[0].value)) if cns else repr(rfc4514(cert.subject))


def self_issued(cert: x509.Certificate) -> bool:
    return same_name(cert.subject, cert.issuer)


def extension(cert: x509.Certificate, kind: type[E]) -> E | None:
    """The value of one extension, None when absent (malformed extensions fail the path in _critical)."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):   # DuplicateExtension is no ValueError
        return None
