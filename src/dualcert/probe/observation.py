"""What one handshake saw: the typed record every later step reads (pure data, no network)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from dualcert.offers import ProbeOffer, ProbeVersion, parse_offer, parse_version


class Outcome(StrEnum):
    OK = "ok"                                  # handshake completed and a certificate was presented
    REFUSED = "refused"                        # the server declined this offer (an alert, or it ended the
                                               # handshake before any certificate while the version works)
    UNSUPPORTED = "unsupported"                # the server speaks TLS, but not this version
    NO_TLS_ANSWER = "no-tls-answer"            # reset or closed before any TLS answer, to every hello
    TIMEOUT = "timeout"                        # connect, STARTTLS or handshake exceeded its timeout
    CONNECTION_REFUSED = "connection-refused"  # nothing listens on the port (TCP RST)
    UNRESOLVED = "unresolved"                  # the host name does not resolve
    NOT_TLS = "not-tls"                        # the port answered with something that is not TLS
    NO_CERTIFICATE = "no-certificate"          # handshake completed without a peer certificate
    STARTTLS_FAILED = "starttls-failed"        # the plain-text upgrade was not accepted
    CHAIN_TOO_LARGE = "chain-too-large"        # the Certificate message exceeds OpenSSL's certificate-list limit
    ERROR = "error"                            # anything else; `detail` says what


# Outcomes that say the endpoint as a whole is unreachable or wrong: once the first
# probe of an endpoint sees one of these, its other probes are not attempted.
ENDPOINT_WIDE = frozenset({Outcome.TIMEOUT, Outcome.CONNECTION_REFUSED, Outcome.UNRESOLVED, Outcome.NOT_TLS,
                           Outcome.STARTTLS_FAILED})
# Outcomes that say nothing about the offer, only about the port: no TLS conversation took place.
# NO_TLS_ANSWER is not endpoint-wide for the engine (a stack that predates TLS 1.3 drops TLS 1.3
# hellos and answers TLS 1.2 ones), but once settled it covers every hello of the endpoint.
NO_CONVERSATION = ENDPOINT_WIDE | {Outcome.NO_TLS_ANSWER}


def not_probed_detail(first: Observation) -> str:
    """The detail of a probe not attempted because `first`, its endpoint's first probe, found the
    endpoint dead (ENDPOINT_WIDE)."""
    return f"not probed: the first probe ({first.key.test_id}) got {first.outcome.value}: {first.detail}"


def port_detail(observation: Observation) -> str:
    """What the port did, in the same words for every probe of the endpoint: for a probe that was not
    attempted, its first probe's detail without the name of that probe (not_probed_detail)."""
    marker = f") got {observation.outcome.value}: "
    if not observation.probed and observation.detail.startswith("not probed: the first probe (") \
            and marker in observation.detail:
        return observation.detail.split(marker, 1)[1]
    return observation.detail


@dataclass(frozen=True)
class ProbeKey:
    node: str
    service: str
    offer: ProbeOffer      # Offer, or ClientOffer (`client-chrome`) for a simulated client
    version: ProbeVersion  # TLSVersion, or ClientRange.AUTO: the client's own range

    @cached_property
    def test_id(self) -> str:
        """`node:service:offer:version`, one string per key: every rule's record of the probe names it."""
        return f"{self.node}:{self.service}:{self.offer.value}:{self.version.value}"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one handshake saw: its outcome and, when it completed, the negotiated TLS and the chain.
    Slotted: a run holds one per probe (60,000 at 10,000 endpoints), and a __dict__ each was ~30 MB."""

    key: ProbeKey
    host: str
    address: str | None
    port: int
    outcome: Outcome
    detail: str = ""
    alert: str | None = None
    phase: str | None = None              # connect | starttls | handshake, where it stopped
    dropped: str | None = None            # reset | closed: the server ended the handshake without an alert
    negotiated_version: str | None = None
    cipher: str | None = None
    chain_der: tuple[bytes, ...] = field(default=(), repr=False)
    connect_ms: float | None = None
    handshake_ms: float | None = None
    probed: bool = True                   # False when skipped because the endpoint failed as a whole
    reproduce: str = ""                   # the `openssl s_client` line that sends the same offer

    def to_json(self, *, with_chain: bool = True) -> dict[str, Any]:
        """JSON-ready; `with_chain=False` leaves out `chain_der_b64` (the results JSON keeps DER apart, once)."""
        record: dict[str, Any] = {
            "node": self.key.node, "service": self.key.service, "offer": self.key.offer.value,
            "tls_version": self.key.version.value, "host": self.host, "address": self.address, "port": self.port,
            "outcome": self.outcome.value, "detail": self.detail, "alert": self.alert, "phase": self.phase,
            "dropped": self.dropped,
            "negotiated_version": self.negotiated_version, "cipher": self.cipher,
            "connect_ms": self.connect_ms, "handshake_ms": self.handshake_ms, "probed": self.probed,
            "reproduce": self.reproduce,
        }
        if with_chain:
            record["chain_der_b64"] = [base64.b64encode(der).decode() for der in self.chain_der]
        return record

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observation:
        key = ProbeKey(data["node"], data["service"], parse_offer(data["offer"]),
                       parse_version(data["tls_version"]))
        return cls(
            key=key, host=data["host"], address=data.get("address"), port=int(data["port"]),
            outcome=Outcome(data["outcome"]), detail=data.get("detail", ""), alert=data.get("alert"),
            phase=data.get("phase"), dropped=data.get("dropped"), negotiated_version=data.get("negotiated_version"),
            cipher=data.get("cipher"),
            chain_der=tuple(base64.b64decode(b) for b in data.get("chain_der_b64", [])),
            connect_ms=data.get("connect_ms"), handshake_ms=data.get("handshake_ms"),
            probed=data.get("probed", True), reproduce=data.get("reproduce", ""),
        )
