"""One conformance case: what a TLS server presents, what the client trusts and asks for, and the
expected verdict with the standard's reason."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class Case:
    id: str                            # unique; a node name (letters, digits, '.', '_', '-')
    expected: bool                     # accepted (trusted and the name matches)?
    why: str                           # one line: the standard's reason for `expected`
    trusted: tuple[bytes, ...]         # DER: the trust bundle
    chain: tuple[bytes, ...]           # DER: what the server sends, the leaf first
    key_pem: bytes | None              # the leaf's private key (None: the case cannot be served)
    peer: str                          # the name the client asks for: a DNS name or an IP address
    at: dt.datetime | None = None      # the validation time; None: now
    category: str = ""

    @property
    def peer_is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.peer)
        except ValueError:
            return False
        return True

    def pem(self, ders: Sequence[bytes]) -> bytes:
        return b"".join(x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM) for d in ders)

