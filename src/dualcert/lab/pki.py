"""A small PKI for the lab, generated at run time with cryptography (trustme-style API).

    rsa_root = CA.root("dualcert Lab RSA Root CA", KeySpec.rsa())
    issuing = rsa_root.sub_ca("dualcert Lab RSA Issuing CA")
    leaf = issuing.issue(["uccx-pub.lab.test"], KeySpec.ec())    # an ECDSA leaf signed by RSA
    leaf.write(directory, "uccx-pub-tomcat-ECDSA")               # chain + key files, mode 0600
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class KeySpec:
    kind: str  # "rsa" | "ec"
    rsa_bits: int = 2048
    curve: str = "secp256r1"

    @classmethod
    def rsa(cls, bits: int = 2048) -> KeySpec:
        return cls("rsa", rsa_bits=bits)

    @classmethod
    def ec(cls, curve: str = "secp256r1") -> KeySpec:
        return cls("ec", curve=curve)

    def generate(self) -> PrivateKey:
        if self.kind == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=self.rsa_bits)
        curves: dict[str, ec.EllipticCurve] = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(),
                                               "secp521r1": ec.SECP521R1()}
        return ec.generate_private_key(curves[self.curve])


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _name(common_name: str, organization: str = "dualcert lab") -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object, days: int,
             not_before: dt.datetime | None = None) -> x509.CertificateBuilder:
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
    )


@dataclass
class Issued:
    """A certificate with its key and the chain a server sends (leaf first, no root)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [self.cert, *self.chain])

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def load(cls, chain_path: Path, key_path: Path) -> Issued:
        """Read back what `write` wrote (a kept lab PKI, `dualcert lab --pki-dir`)."""
        certs = x509.load_pem_x509_certificates(chain_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: not an RSA or EC private key")
        return cls(certs[0], key, certs[1:])

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write `<stem>.chain.pem` and `<stem>.key.pem` readable by the owner only."""
        chain_path, key_path = directory / f"{stem}.chain.pem", directory / f"{stem}.key.pem"
        for path, data in ((chain_path, self.chain_pem()), (key_path, self.key_pem())):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            except OSError as exc:  # write() names no file (disk full, file-size limit): say which
                exc.filename = exc.filename or str(path)
                raise
        return chain_path, key_path


@dataclass
class CA:
    cert: x509.Certificate
    key: PrivateKey
    parents: list[x509.Certificate] = field(default_factory=list)  # issuer chain up to, excluding, the root

    @classmethod
    def root(cls, common_name: str, key_spec: KeySpec, days: int = 3650, organization: str = "dualcert lab") -> CA:
        key = key_spec.generate()
        name = _name(common_name, organization)
        cert = (
            _builder(name, name, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, _signature_hash(key))
        )
        return cls(cert, key)

    def sub_ca(self, common_name: str, key_spec: KeySpec | None = None, days: int = 1825) -> CA:
        key = (key_spec or _spec_of(self.key)).generate()
        cert = (
            _builder(_name(common_name), self.cert.subject, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(self._authority_key_id(), critical=False)
            .sign(self.key, _signature_hash(self.key))
        )
        chain = [self.cert, *self.parents] if self.parents or not _is_self_issued(self.cert) else []
        return CA(cert, key, chain)

    def issue(self, names: list[str], key_spec: KeySpec, days: int = 825,
              not_before: dt.datetime | None = None, common_name: str | None = None,
              organization: str = "dualcert lab") -> Issued:
        key = key_spec.generate()
        cert = (
            _leaf_builder(names, key, self.cert.subject, days, not_before, common_name, organization)
            .add_extension(self._authority_key_id(), critical=False)
            .sign(self.key, _signature_hash(self.key))
        )
        issuer_chain = [self.cert, *self.parents] if not _is_self_issued(self.cert) else []
        return Issued(cert, key, issuer_chain)

    def _authority_key_id(self) -> x509.AuthorityKeyIdentifier:
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def self_signed(names: list[str], key_spec: KeySpec, days: int = 825,
                not_before: dt.datetime | None = None, common_name: str | None = None) -> Issued:
    """A self-signed leaf, as VOS generates for tomcat / tomcat-ECDSA out of the box."""
    key = key_spec.generate()
    builder = _leaf_builder(names, key, None, days, not_before, common_name)
    return Issued(builder.sign(key, _signature_hash(key)), key, [])


def _leaf_builder(names: list[str], key: PrivateKey, issuer: x509.Name | None, days: int,
                  not_before: dt.datetime | None, common_name: str | None,
                  organization: str = "dualcert lab") -> x509.CertificateBuilder:
    subject = _name(common_name or names[0], organization)
    usage = x509.KeyUsage(
        digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey), content_commitment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )
    return (
        _builder(subject, issuer or subject, key.public_key(), days, not_before)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(_san(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, key_encipherment=False, content_commitment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )


def _spec_of(key: PrivateKey) -> KeySpec:
    if isinstance(key, rsa.RSAPrivateKey):
        return KeySpec.rsa(key.key_size)
    return KeySpec.ec(key.curve.name)


def _is_self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer
