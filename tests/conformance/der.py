"""Just enough DER to make the certificates cryptography will not build: SHA-1 and MD5 signatures, v1
certificates, duplicate extensions. A certificate cryptography made is taken apart, edited and signed
again with the issuer's key (RFC 5280 4.1: Certificate ::= SEQUENCE {tbsCertificate, signatureAlgorithm,
signatureValue})."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

SEQUENCE, BIT_STRING = 0x30, 0x03
VERSION_TAG, EXTENSIONS_TAG = 0xA0, 0xA3   # [0] EXPLICIT version, [3] EXPLICIT extensions
# AlgorithmIdentifier DER by (key type, hash): RSA ones carry a NULL parameter (RFC 3279 2.2.1), ECDSA none.
ALGORITHMS = {
    ("rsa", "sha1"): bytes.fromhex("300d06092a864886f70d0101050500"),
    ("rsa", "md5"): bytes.fromhex("300d06092a864886f70d0101040500"),
    ("ec", "sha1"): bytes.fromhex("300906072a8648ce3d0401"),
}
HASHES = {"sha1": hashes.SHA1, "md5": hashes.MD5}


def tlv(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


def parse(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, whole element) of each element in `data`, a concatenation of DER elements."""
    found, at = [], 0
    while at < len(data):
        tag, size, head = data[at], data[at + 1], 2
        if size & 0x80:
            count = size & 0x7F
            size, head = int.from_bytes(data[at + 2:at + 2 + count], "big"), 2 + count
        found.append((tag, data[at:at + head + size]))
        at += head + size
    return found


def content(element: bytes) -> bytes:
    """The value of one DER element (its tag and length removed)."""
    size = element[1]
    return element[2 + (size & 0x7F if size & 0x80 else 0):]


def resign(cert_der: bytes, issuer_key: object, hash_name: str = "sha256",
           edit: Callable[[list[tuple[int, bytes]]], list[tuple[int, bytes]]] | None = None) -> bytes:
    """`cert_der` with its TBSCertificate edited by `edit` (given and returning the TBS's elements) and
    signed again by `issuer_key` with `hash_name` (sha256 keeps the algorithm cryptography chose)."""
    tbs, algorithm, _ = (element for _, element in parse(content(cert_der)))
    fields = parse(content(tbs))
    if hash_name != "sha256":
        family = "rsa" if isinstance(issuer_key, rsa.RSAPrivateKey) else "ec"
        algorithm = ALGORITHMS[(family, hash_name)]
        at = 2 if fields[0][0] == VERSION_TAG else 1   # the TBS's signature field follows version and serial
        fields[at] = (SEQUENCE, algorithm)
    if edit is not None:
        fields = edit(fields)
    new_tbs = tlv(SEQUENCE, b"".join(element for _, element in fields))
    signature = _sign(issuer_key, new_tbs, HASHES.get(hash_name, hashes.SHA256)())
    return tlv(SEQUENCE, new_tbs + algorithm + tlv(BIT_STRING, b"\x00" + signature))


def _sign(key: object, data: bytes, digest: hashes.HashAlgorithm) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), digest)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(digest))
    if isinstance(key, dsa.DSAPrivateKey):
        return key.sign(data, digest)
    raise TypeError(f"cannot re-sign with {type(key).__name__}")


def as_v1(fields: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """A v1 TBSCertificate: no version field (DEFAULT v1) and no extensions."""
    return [(tag, element) for tag, element in fields if tag not in (VERSION_TAG, EXTENSIONS_TAG)]


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER's DER (X.690 8.19)."""
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


def duplicating(dotted: str) -> Callable[[list[tuple[int, bytes]]], list[tuple[int, bytes]]]:
    """An edit that repeats the extension whose OID is `dotted`."""
    oid_der = oid(dotted)

    def edit(fields: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        out = []
        for tag, element in fields:
            if tag == EXTENSIONS_TAG:
                extensions = [e for _, e in parse(content(content(element)))]
                twice = [e for e in extensions if content(e).startswith(oid_der)]
                if not twice:
                    raise ValueError("no such extension to duplicate")
                element = tlv(EXTENSIONS_TAG, tlv(SEQUENCE, b"".join(extensions + twice[:1])))
            out.append((tag, element))
        return out
    return edit
