"""A small certificate factory for path-validation tests: CAs and leaves with the deviations real
internal CAs have (non-critical basicConstraints, no SKI/AKI, EKUs on intermediates, name constraints,
path lengths), generated with cryptography at test time."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dualcert tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def new_key(kind: str = "ec") -> Key:
    return rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())


@dataclass
class Spec:
    """What a certificate carries; None leaves an extension out."""

    ca: bool | None = True                 # basicConstraints cA; None: no basicConstraints
    bc_critical: bool = True
    path_length: int | None = None
    key_usage: str | None = "ca"          # "ca" | "leaf" | "sign-only" | None
    eku: tuple[x509.ObjectIdentifier, ...] | None = None
    ski_aki: bool = True
    dns: tuple[str, ...] = ()
    permitted_dns: tuple[str, ...] | None = None
    excluded_dns: tuple[str, ...] | None = None
    permitted_other: tuple[x509.GeneralName, ...] = ()   # other permitted subtrees (otherName, ...)
    not_before: dt.datetime = NOW - dt.timedelta(days=30)
    not_after: dt.datetime = NOW + dt.timedelta(days=365)
    extra: list[x509.UnrecognizedExtension] = field(default_factory=list)


@dataclass
class Made:
    cert: x509.Certificate
    key: Key

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def make(cn: str, spec: Spec, issuer: Made | None = None, key: Key | None = None,
         hash_: hashes.HashAlgorithm | None = None) -> Made:
    key = key or new_key()
    signer_key = issuer.key if issuer else key
    issuer_name = issuer.cert.subject if issuer else name(cn)
    builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(spec.not_before).not_valid_after(spec.not_after))
    if spec.ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(spec.ca, spec.path_length), spec.bc_critical)
    usages = {"ca": dict(key_cert_sign=True, crl_sign=True, digital_signature=True),
              "leaf": dict(digital_signature=True, key_encipherment=False),
              "sign-only": dict(digital_signature=True)}
    if spec.key_usage is not None:
        flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                     encipher_only=False, decipher_only=False)
        flags.update(usages[spec.key_usage])
        builder = builder.add_extension(x509.KeyUsage(**flags), True)
    if spec.eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(spec.eku)), False)
    if spec.ski_aki:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False)
    if spec.dns:
        sans: list[x509.GeneralName] = []
        for d in spec.dns:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(d)))
            except ValueError:
                sans.append(x509.DNSName(d))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), False)
    if spec.permitted_dns is not None or spec.excluded_dns is not None or spec.permitted_other:
        permitted = [*(x509.DNSName(d) for d in spec.permitted_dns or ()), *spec.permitted_other] or None
        excluded = [x509.DNSName(d) for d in spec.excluded_dns] if spec.excluded_dns else None
        builder = builder.add_extension(x509.NameConstraints(permitted, excluded), True)
    for ext in spec.extra:
        builder = builder.add_extension(ext, True)
    cert = builder.sign(signer_key, hash_ or hashes.SHA256())
    return Made(cert, key)


def leaf_spec(**changes: object) -> Spec:
    base = dict(ca=False, key_usage="leaf", eku=(ExtendedKeyUsageOID.SERVER_AUTH,), dns=("www.example.test",))
    base.update(changes)
    return Spec(**base)  # type: ignore[arg-type]


SERVER_ONLY = (ExtendedKeyUsageOID.SERVER_AUTH,)
CLIENT_ONLY = (ExtendedKeyUsageOID.CLIENT_AUTH,)


def openssl_signed(cn: str, issuer: Made | None, digest: str = "sha1", ca: bool = True) -> Made:
    """A certificate signed with `digest` by OpenSSL's CLI: cryptography refuses to sign with SHA-1 or
    MD5, and old internal CAs did exactly that. Self-signed when `issuer` is None."""
    key = new_key("rsa")
    extensions = ("basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n" if ca else
                  f"basicConstraints=critical,CA:false\nsubjectAltName=DNS:{cn}\nextendedKeyUsage=serverAuth\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "key.pem").write_bytes(_private_pem(key))
        (folder / "ext.cnf").write_text(extensions)
        subject = f"/O=dualcert tests/CN={cn}"
        if issuer is None:
            command = ["openssl", "req", "-x509", "-new", "-key", str(folder / "key.pem"), "-subj", subject,
                       f"-{digest}", "-days", "3650", "-extensions", "v3", "-config", str(folder / "req.cnf")]
            (folder / "req.cnf").write_text("[req]\ndistinguished_name=dn\n[dn]\n[v3]\n" + extensions)
            pem = subprocess.run(command, capture_output=True, check=True, timeout=30).stdout
        else:
            (folder / "ca.pem").write_bytes(issuer.pem)
            (folder / "ca.key").write_bytes(_private_pem(issuer.key))
            csr = subprocess.run(["openssl", "req", "-new", "-key", str(folder / "key.pem"), "-subj", subject],
                                 capture_output=True, check=True, timeout=30).stdout
            pem = subprocess.run(["openssl", "x509", "-req", f"-{digest}", "-CA", str(folder / "ca.pem"),
                                  "-CAkey", str(folder / "ca.key"), "-extfile", str(folder / "ext.cnf"),
                                  "-days", "3650", "-set_serial", str(x509.random_serial_number())],
                                 input=csr, capture_output=True, check=True, timeout=30).stdout
    return Made(x509.load_pem_x509_certificate(pem), key)


def _private_pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
