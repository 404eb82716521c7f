"""The certificates of the taxonomy (tests/taxonomy.py), generated at test time with cryptography.

Every case gets what a server sends (leaf first) and what it adds to the site's trust bundle. Keys are
made once per process and shared where sharing cannot change a verdict: leaves reuse keys (a leaf key
signs nothing), every CA has its own (a shared CA key would let one CA's signature verify as another's).
"""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DOMAIN = "taxo.test"
_CURVES: dict[str, ec.EllipticCurve] = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}


@functools.cache
def key(label: str, spec: str = "p256") -> PrivateKey:
    """The key named `label`: `p256`/`p384`/`p521`, or `rsa<bits>`. RSA 8192 takes seconds: once per process."""
    if spec.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec[3:]))
    return ec.generate_private_key(_CURVES[spec])


def dn(common_name: str | None, organization: str | None = "dualcert taxonomy") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    if common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


@dataclass(frozen=True)
class Cert:
    cert: x509.Certificate
    key: PrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _digest_for(signing_key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512:
    """The hash a CA of that key uses (RFC 5480: P-384 with SHA-384, P-521 with SHA-512)."""
    if isinstance(signing_key, ec.EllipticCurvePrivateKey) and signing_key.curve.key_size == 521:
        return hashes.SHA512()
    if isinstance(signing_key, ec.EllipticCurvePrivateKey) and signing_key.curve.key_size == 384:
        return hashes.SHA384()
    return hashes.SHA256()


def issue(subject: x509.Name, subject_key: PrivateKey, signer: Cert | None, *, ca: bool = False,
          names: Sequence[str] = (), valid_days: tuple[int, int] = (-1, 825),
          extra: Sequence[tuple[x509.ExtensionType, bool]] = (), constraints_critical: bool = True) -> Cert:
    """A certificate for `subject_key`, signed by `signer` (None: self-signed), valid from NOW + valid_days[0]
    to NOW + valid_days[1]. Leaves carry serverAuth and a SAN of `names` (critical when the subject is empty,
    as RFC 5280 4.2.1.6 requires)."""
    signing_key = signer.key if signer else subject_key
    issuer = signer.cert.subject if signer else subject
    usage = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                           "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    usage.update(digital_signature=True, key_cert_sign=ca, crl_sign=ca,
                 key_encipherment=not ca and isinstance(subject_key, rsa.RSAPrivateKey))
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=valid_days[0]))
        .not_valid_after(NOW + dt.timedelta(days=valid_days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=constraints_critical)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False)
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                                        critical=not list(subject))
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    return Cert(builder.sign(signing_key, _digest_for(signing_key)), subject_key)


def ca(common_name: str, key_label: str, signer: Cert | None, spec: str = "p256",
       extra: Sequence[tuple[x509.ExtensionType, bool]] = (), valid_days: tuple[int, int] | None = None,
       constraints_critical: bool = True) -> Cert:
    """A CA: a root when `signer` is None (ten years), else an intermediate (five years); both valid from
    three years ago, so every leaf's validity, expired ones included, lies within its issuer's."""
    days = valid_days or (-1000, 3650 if signer is None else 1825)
    return issue(dn(common_name), key(key_label, spec), signer, ca=True, valid_days=days, extra=extra,
                 constraints_critical=constraints_critical)


def legacy_ca(common_name: str, key_label: str, signer: Cert, spec: str = "rsa2048", digest: str = "sha1") -> Cert:
    """An intermediate CA whose certificate `signer` signs with a legacy digest (`sha1`, `md5`: with an EC
    signer, ecdsa-with-SHA1). cryptography refuses to sign with them, so `openssl x509 -req -<digest>` does,
    from a CSR cryptography made."""
    subject_key = key(key_label, spec)
    csr = x509.CertificateSigningRequestBuilder().subject_name(dn(common_name)).sign(subject_key, hashes.SHA256())
    with tempfile.TemporaryDirectory() as tmp:
        files = {"csr.pem": csr.public_bytes(serialization.Encoding.PEM), "ca.pem": signer.pem(),
                 "ca.key": signer.key_pem(),
                 "ext.cnf": b"basicConstraints=critical,CA:true\n"
                            b"keyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"
                            b"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"}
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        subprocess.run(["openssl", "x509", "-req", "-in", "csr.pem", "-CA", "ca.pem", "-CAkey", "ca.key", f"-{digest}",
                        "-days", "1825", "-extfile", "ext.cnf", "-set_serial", str(x509.random_serial_number()),
                        "-out", "cert.pem"], cwd=tmp, check=True, capture_output=True, timeout=60)
        return Cert(x509.load_pem_x509_certificate((Path(tmp) / "cert.pem").read_bytes()), subject_key)


@dataclass(frozen=True)
class Served:
    """What one case's server sends (leaf first) and what the case adds to the site's trust bundle."""

    chain: tuple[Cert, ...]
    bundle: tuple[x509.Certificate, ...] = ()

    @property
    def leaf(self) -> Cert:
        return self.chain[0]


class SharedCAs:
    """The site's own CAs, in the trust bundle: an EC root and issuing CA, an RSA root and issuing CA."""

    @cached_property
    def ec_root(self) -> Cert:
        return ca("Taxonomy EC Root", "ec-root", None, "p384")

    @cached_property
    def ec_issuing(self) -> Cert:
        return ca("Taxonomy EC Issuing CA", "ec-issuing", self.ec_root)

    @cached_property
    def rsa_root(self) -> Cert:
        return ca("Taxonomy RSA Root", "rsa-root", None, "rsa3072")

    @cached_property
    def rsa_issuing(self) -> Cert:
        return ca("Taxonomy RSA Issuing CA", "rsa-issuing", self.rsa_root, "rsa2048")

    @property
    def roots(self) -> tuple[x509.Certificate, ...]:
        return self.ec_root.cert, self.rsa_root.cert


Builder = Callable[[SharedCAs, str], Served]   # (the site's CAs, the node's host name) -> what is served


def leaf(host: str, signer: Cert | None, spec: str = "p256", valid_days: tuple[int, int] = (-1, 825),
         names: Sequence[str] | None = None, subject: x509.Name | None = None) -> Cert:
    """A leaf for `host` (its CN and SAN unless `subject`/`names` say otherwise) on a key shared by every
    leaf of that kind; `signer` None makes it self-signed."""
    return issue(dn(host) if subject is None else subject, key(f"leaf-{spec}", spec), signer,
                 names=[host] if names is None else names, valid_days=valid_days)
