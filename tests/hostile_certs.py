"""Hostile certificates for the hostile servers: made at run time with the lab's PKI and
cryptography, written beside a key so a real pyOpenSSL server (dualcert.probe.tls) can send them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dualcert.lab.pki import CA, Issued, KeySpec, self_signed

# What a certificate could do to a terminal: set the window title (OSC), clear the screen, colour (CSI, C1).
EVIL_CN = "\x1b]0;pwned\x07\x1b[2J\x1b[31mevil\x9b0m"
NON_UTF8_MARK = b"QQQQ"


def write(issued: Issued, directory: Path, stem: str) -> tuple[Path, Path]:
    return issued.write(directory, stem)


def chain_of(length: int) -> Issued:
    """A leaf under `length - 1` CAs: the server sends `length` certificates."""
    ca = CA.root("hostile root", KeySpec.ec())
    for index in range(length - 1):
        ca = ca.sub_ca(f"hostile CA {index + 1}")
    return ca.issue(["deep.example.test"], KeySpec.ec())


def huge(size: int = 1024 * 1024) -> Issued:
    """A self-signed leaf carrying `size` bytes in a private, non-critical extension."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "huge.example.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"A" * size),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def evil_names() -> Issued:
    """A self-signed leaf whose CN holds terminal escape sequences."""
    return self_signed(["evil.example.test"], KeySpec.ec(), common_name=EVIL_CN)


NON_UTF8_BYTES = b"\xff\xfe\xc0\xaf"


def non_utf8_name() -> Issued:
    """A leaf whose CN is a T61String of bytes that are not UTF-8 (old CAs wrote Latin-1 there).
    Patched after signing (tag UTF8String -> T61String, then the bytes), so the signature no
    longer verifies; OpenSSL loads and sends it all the same."""
    cn = f"{NON_UTF8_MARK.decode()}.example.test".encode()
    issued = self_signed(["bytes.example.test"], KeySpec.ec(), common_name=cn.decode())
    der = issued.cert.public_bytes(serialization.Encoding.DER)
    utf8, t61 = bytes([0x0C, len(cn)]) + cn, bytes([0x14, len(cn)]) + cn
    assert utf8 in der  # in subject and issuer alike (self-signed)
    patched = der.replace(utf8, t61.replace(NON_UTF8_MARK, NON_UTF8_BYTES))
    return Issued(x509.load_der_x509_certificate(patched), issued.key)


def duplicate_san() -> Issued:
    """A self-signed leaf with two subjectAltName extensions (RFC 5280 forbids it; OpenSSL
    loads and sends it, cryptography raises DuplicateExtension on reading its extensions).
    Built with SAN + IssuerAltName, then the second OID patched to SAN's."""
    from cryptography.hazmat.primitives.asymmetric import ec as _ec

    key = _ec.generate_private_key(_ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "dup.example.test")])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("dup.example.test")]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.IssuerAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    san_oid, ian_oid = bytes.fromhex("0603551d11"), bytes.fromhex("0603551d12")
    assert der.count(ian_oid) == 1
    return Issued(x509.load_der_x509_certificate(der.replace(ian_oid, san_oid)), key)
