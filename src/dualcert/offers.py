"""What a probe offers: which key family the client will accept (ECDSA only, RSA only, both like a
browser), over which TLS version; or, for client simulation, a named client's whole ClientHello over
that client's own version range. The vocabulary of policies, probes, results and test ids."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Offer(StrEnum):
    ECDSA = "ecdsa"
    RSA = "rsa"
    DEFAULT = "default"


class TLSVersion(StrEnum):
    TLS1_2 = "tls1.2"
    TLS1_3 = "tls1.3"


class ClientRange(StrEnum):
    """A client probe's version: the client's own range; the server picks from it."""

    AUTO = "auto"


CLIENT_PREFIX = "client-"


@dataclass(frozen=True)
class ClientOffer:
    """A simulated client's offer, named `client-<profile>` in test ids and results."""

    profile: str

    @property
    def value(self) -> str:
        return CLIENT_PREFIX + self.profile


ProbeOffer = Offer | ClientOffer
ProbeVersion = TLSVersion | ClientRange

ALL_OFFERS = tuple(Offer)
ALL_VERSIONS = tuple(TLSVersion)


def parse_offer(text: str) -> ProbeOffer:
    """`ecdsa`, `rsa`, `default` or `client-<profile>` (as results JSON and baselines spell them)."""
    if text.startswith(CLIENT_PREFIX) and len(text) > len(CLIENT_PREFIX):
        return ClientOffer(text[len(CLIENT_PREFIX):])
    return Offer(text)


def parse_version(text: str) -> ProbeVersion:
    return ClientRange(text) if text == ClientRange.AUTO.value else TLSVersion(text)
