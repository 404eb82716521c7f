"""The certificate factory of the conformance cases: one Builder per case names every certificate after
the case (so cases never chain into each other when one trust bundle holds them all) and takes keys from
a per-session pool (a case's certificates each get their own key)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..pathpki import Made
from . import der

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey | ed25519.Ed25519PrivateKey
SERVER_AUTH = (ExtendedKeyUsageOID.SERVER_AUTH,)
CA_USAGE = ("key_cert_sign", "crl_sign")
LEAF_USAGE = ("digital_signature",)
_CURVES = {"ec": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1, "p192": ec.SECP192R1}
UNKNOWN = x509.ObjectIdentifier("1.3.6.1.4.1.63683.1.1")   # an extension no client knows (a private arc)


@cache
def pooled_key(kind: str, slot: int) -> Key:
    """The `slot`-th key of a kind, made once per session: ec (P-256), p384, p521, p192, rsa (2048),
    rsa1024, rsa4096, dsa, ed25519."""
    del slot   # each slot is its own key; the number only tells them apart in the cache
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind]())
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:] or 2048))
    if kind == "dsa":
        return dsa.generate_private_key(2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def private_pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def general_name(value: str | x509.GeneralName) -> x509.GeneralName:
    """A SAN or constraint from text: an IP address or network, else a DNS name."""
    if not isinstance(value, str):
        return value
    try:
        return x509.IPAddress(ipaddress.ip_network(value) if "/" in value else ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


class Builder:
    """Certificates of one case. `at` is the validation time validity periods are laid around."""

    def __init__(self, case_id: str, at: dt.datetime) -> None:
        self.org, self.at, self._slots = f"dualcert conformance {case_id}", at, 0

    def name(self, cn: str | None, org: str | None = None) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org or self.org)]
        return x509.Name(attrs + ([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))

    def key(self, kind: str = "ec") -> Key:
        self._slots += 1
        return pooled_key(kind, self._slots)

    def days(self, offset: float) -> dt.datetime:
        return self.at + dt.timedelta(days=offset)

    def root(self, cn: str = "Root CA", **kw: object) -> Made:
        return self.cert(cn, None, **{"ca": True, "ku": CA_USAGE, **kw})   # type: ignore[arg-type]

    def ca(self, cn: str, issuer: Made, **kw: object) -> Made:
        return self.cert(cn, issuer, **{"ca": True, "ku": CA_USAGE, **kw})   # type: ignore[arg-type]

    def leaf(self, issuer: Made | None, san: Sequence[str | x509.GeneralName] | None = ("www.example.test",),
             cn: str | None = None, **kw: object) -> Made:
        values = {"ca": False, "ku": LEAF_USAGE, "eku": SERVER_AUTH, "san": san, **kw}
        return self.cert(cn or "leaf", issuer, **values)   # type: ignore[arg-type]

    def cert(self, cn: str | None, issuer: Made | None, *, key: Key | str = "ec", subject: x509.Name | None = None,
             not_before: float = -30, not_after: float = 365, ca: bool | None = None, pathlen: int | None = None,
             bc_critical: bool = True, ku: Sequence[str] | None = None, ku_critical: bool = True,
             eku: Sequence[x509.ObjectIdentifier] | None = None, eku_critical: bool = False,
             san: Sequence[str | x509.GeneralName] | None = None, san_critical: bool = False,
             permitted: Sequence[str | x509.GeneralName] | None = None,
             excluded: Sequence[str | x509.GeneralName] | None = None,
             ski: bool = True, aki: bool | bytes = True, extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
             hash_name: str = "sha256", v1: bool = False, duplicate: str | None = None,   # an extension's dotted OID
             issuer_name: x509.Name | None = None) -> Made:
        """One certificate; validity in days from the validation time; None leaves an extension out.
        `aki` as bytes: an authorityKeyIdentifier naming that key id instead of the issuer's."""
        key = self.key(key) if isinstance(key, str) else key
        subject = subject or self.name(cn)
        signer = issuer.key if issuer else key
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())   # type: ignore[arg-type]
                   .not_valid_before(self.days(not_before)).not_valid_after(self.days(not_after)))
        if ca is not None:
            builder = builder.add_extension(x509.BasicConstraints(ca, pathlen if ca else None), bc_critical)
        if ku is not None:
            flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                                   "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                                   "encipher_only", "decipher_only"), False)
            flags.update(dict.fromkeys(ku, True))
            builder = builder.add_extension(x509.KeyUsage(**flags), ku_critical)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), eku_critical)
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([general_name(n) for n in san]),
                                            san_critical)
        if permitted is not None or excluded is not None:
            builder = builder.add_extension(x509.NameConstraints(
                [general_name(n) for n in permitted] if permitted is not None else None,
                [general_name(n) for n in excluded] if excluded is not None else None), True)
        if ski:
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        if aki is not False:
            value = (x509.AuthorityKeyIdentifier(aki, None, None) if isinstance(aki, bytes) else
                     x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()))   # type: ignore[arg-type]
            builder = builder.add_extension(value, False)
        for extension, critical in extra:
            builder = builder.add_extension(extension, critical)
        cert = _sign(builder, signer, hash_name)
        if v1 or duplicate or hash_name in der.HASHES:
            edit = der.as_v1 if v1 else der.duplicating(duplicate) if duplicate else None
            cert = x509.load_der_x509_certificate(der.resign(cert.public_bytes(serialization.Encoding.DER), signer,
                                                             hash_name if hash_name in der.HASHES else "sha256",
                                                             edit))
        return Made(cert, key)   # type: ignore[arg-type]


def _sign(builder: x509.CertificateBuilder, signer: Key, hash_name: str) -> x509.Certificate:
    if isinstance(signer, ed25519.Ed25519PrivateKey):
        return builder.sign(signer, None)
    if hash_name == "pss":
        return builder.sign(signer, hashes.SHA256(),   # type: ignore[arg-type]
                            rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH))
    digest = {"sha384": hashes.SHA384, "sha512": hashes.SHA512}.get(hash_name, hashes.SHA256)
    return builder.sign(signer, digest())   # type: ignore[arg-type]


def unknown_extension(value: bytes = b"\x05\x00") -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(UNKNOWN, value)
