"""The site's trust bundle file named by the inventory (`trust:`): one or more PEM certificates."""

from __future__ import annotations

from cryptography import x509


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError("no PEM certificate found")
    certs = x509.load_pem_x509_certificates(data)
    if not certs:
        raise ValueError("no PEM certificate found")
    return certs
