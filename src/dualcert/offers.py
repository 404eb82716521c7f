"""What a probe offers: which key family the client will accept (ECDSA only, RSA only, both like a
browser), over which TLS version. The vocabulary of policies, probes, results and test ids."""

from __future__ import annotations

from enum import StrEnum


class Offer(StrEnum):
    ECDSA = "ecdsa"
    RSA = "rsa"
    DEFAULT = "default"


class TLSVersion(StrEnum):
    TLS1_2 = "tls1.2"
    TLS1_3 = "tls1.3"


ALL_OFFERS = tuple(Offer)
ALL_VERSIONS = tuple(TLSVersion)
