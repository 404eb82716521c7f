"""Facts about a presented chain, from DER bytes alone (pure: no network).

Path validation is cryptography's `x509.verification` (RFC 5280 / CABF profile), with the
end-entity extension policy relaxed so that trust and hostname stay separate rules; the
hostname match is service-identity's (RFC 6125).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID


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
    pem: str

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
class Validation:
    trusted: bool | None   # None: no trust bundle to validate against
    detail: str
    path: tuple[CertFacts, ...] = ()  # leaf ... anchor, when trusted


@dataclass(frozen=True)
class ChainFacts:
    certs: tuple[CertFacts, ...]   # as presented, leaf first
    parse_error: str | None = None

    @property
    def leaf(self) -> CertFacts:
        return self.certs[0]


_SIGNATURE_FAMILY = {"RSA": "RSA", "RSASSA_PSS": "RSA", "ECDSA": "ECDSA", "ED25519": "Ed25519",
                     "ED448": "Ed448", "DSA": "DSA"}


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


def _rfc4514(name: x509.Name) -> str:
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


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, Exception):  # InvalidSignature and unsupported keys alike
        return False
    return True


def cert_facts(cert: x509.Certificate) -> CertFacts:
    key_type, key_size, curve = _key_facts(cert)
    dns, ips = _san(cert)
    try:
        signature_algorithm = cert.signature_algorithm_oid._name
    except Exception:
        signature_algorithm = "unknown"
    return CertFacts(
        subject=_rfc4514(cert.subject), issuer=_rfc4514(cert.issuer),
        common_name=_common_name(cert.subject), issuer_common_name=_common_name(cert.issuer),
        sha256=cert.fingerprint(hashes.SHA256()).hex(), key_type=key_type, key_size=key_size, curve=curve,
        signature_algorithm=signature_algorithm, signed_with=_signed_with(cert),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        self_signed=_self_signed(cert), is_ca=_is_ca(cert), san_dns=dns, san_ip=ips,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


@lru_cache(maxsize=16384)
def der_facts(der: bytes) -> CertFacts:
    """Facts of one DER certificate, parsed once per run however many probes, rules and
    writers ask (an endpoint's offers often see the same leaf; intermediates repeat across
    the estate). Raises ValueError for unparseable DER (not cached)."""
    return cert_facts(x509.load_der_x509_certificate(der))


def chain_facts(chain_der: tuple[bytes, ...] | list[bytes]) -> ChainFacts:
    """Facts of a presented chain, parsed once per distinct chain: an estate presents one chain
    to many probes, and the rules, the diagnosis, the results writer and the report all read it."""
    return _parse_chain(tuple(chain_der))


def clear_caches() -> None:
    """Forget parsed chains and certificates (for benchmarks that measure a cold parse)."""
    _parse_chain.cache_clear()
    der_facts.cache_clear()


@lru_cache(maxsize=4096)
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


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError("no PEM certificate found")
    certs = x509.load_pem_x509_certificates(data)
    if not certs:
        raise ValueError("no PEM certificate found")
    return certs


@dataclass(frozen=True)
class TrustStore:
    """The site's roots (and intermediates) that validation may anchor to."""

    certs: tuple[x509.Certificate, ...]
    source: str
    # Validations already made, by (chain, time): the probes of one endpoint usually share a chain.
    _memo: dict[tuple[tuple[bytes, ...], dt.datetime], Validation] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @classmethod
    def from_pem_file(cls, path: Path) -> TrustStore:
        return cls(tuple(load_pem_bundle(path.read_bytes())), str(path))

    @classmethod
    def mozilla(cls) -> TrustStore:
        """Mozilla's root program, as shipped and kept current by sslyze."""
        import sslyze.plugins.certificate_info.trust_stores as stores

        path = Path(stores.__file__).parent / "pem_files" / "mozilla_nss.pem"
        return cls(tuple(load_pem_bundle(path.read_bytes())), "mozilla (sslyze)")

    @cached_property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(c.fingerprint(hashes.SHA256()).hex() for c in self.certs)

    def validate(self, chain_der: tuple[bytes, ...], now: dt.datetime) -> Validation:
        key = (tuple(chain_der), now)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._validate(key[0], now)
        return found

    def _validate(self, chain_der: tuple[bytes, ...], now: dt.datetime) -> Validation:
        try:
            leaf, *intermediates = [x509.load_der_x509_certificate(d) for d in chain_der]
        except ValueError as exc:
            return Validation(False, f"chain cannot be parsed: {exc}")
        if leaf.fingerprint(hashes.SHA256()).hex() in self.fingerprints:
            return Validation(True, "the leaf itself is in the trust bundle (pinned)", (der_facts(chain_der[0]),))
        builder = (
            verification.PolicyBuilder().store(verification.Store(list(self.certs))).time(now)
            # Name and EKU are judged by their own rules; keep validation about the path.
            .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                                ee_policy=verification.ExtensionPolicy.permit_all())
        )
        try:
            # The client verifier needs no subject; with a permissive EE policy it checks the path only.
            path = builder.build_client_verifier().verify(leaf, intermediates).chain
        except verification.VerificationError as exc:
            reason = str(exc)
            if "candidates exhausted" in reason:
                reason = "no issuer in the presented chain or the bundle signs it"
            return Validation(False, f"no trusted path: {reason}")
        except (ValueError, TypeError) as exc:
            return Validation(False, f"path validation failed: {exc}")
        # The path's certificates are the presented ones and the bundle's: their facts are cached by DER.
        return Validation(True, f"chains to {_rfc4514(path[-1].subject)}",
                          tuple(der_facts(c.public_bytes(serialization.Encoding.DER)) for c in path))


def hostname_matches(chain_der: tuple[bytes, ...], hostname: str) -> tuple[bool, str]:
    """RFC 6125 matching of `hostname` (DNS name or IP) against the leaf."""
    return _leaf_matches(chain_der[0] if chain_der else b"", hostname)


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


def issuer_sha256_candidates(chain: ChainFacts, validation: Validation | None) -> list[CertFacts]:
    """Certificates that may have issued the leaf: the presented second certificate and the
    validated path's second element (they differ when the server omits the intermediate)."""
    found = list(chain.certs[1:2])
    if validation and len(validation.path) > 1:
        found.append(validation.path[1])
    return found


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()
