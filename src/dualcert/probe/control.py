"""Settling a probe the server ended without a certificate: refused, unsupported, or no TLS at all.

A server that ends the handshake before any certificate, with an alert or without one, before or
after its ServerHello, says one of three things, and one probe cannot tell which:
- it declines this offer (`refused`): another offer of the version, or the version's widest hello
  (the control hello, `hello.control_spec`), completes. Tomcat on Java 11+ answers a TLS 1.3 offer
  it holds no certificate for with a ServerHello, then closes without an alert;
- it speaks TLS, but not this version (`unsupported`). A stack that predates TLS 1.3 ignores
  supported_versions: it answers a TLS 1.3 hello with handshake_failure or by dropping it, never with
  protocol_version, so the control hello is refused too. `unsupported` needs evidence that the peer
  speaks TLS at all: an alert, a ServerHello, or a handshake completed at another version;
- it speaks no TLS here (`no-tls-answer`): every hello of the endpoint, the control hellos too, was
  reset or closed before any TLS byte. A dead service behind a load balancer, a firewall, a port
  that is not a TLS service.
The engine gathers that evidence (all of an endpoint's hellos, one control per version at most) and
settles every waiting probe from it, so the outcome depends on what the server did, not on which
probe's timing won. Pure: the engine runs the handshakes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from dualcert.offers import TLSVersion
from dualcert.probe.connection import NO_SERVER_HELLO
from dualcert.probe.hello import control_spec, describe
from dualcert.probe.observation import Observation, Outcome

COMPLETED = (Outcome.OK, Outcome.NO_CERTIFICATE)
# A hello that got as far as the server's certificate: the version is spoken, whatever came next.
SPEAKS_VERSION = (*COMPLETED, Outcome.CHAIN_TOO_LARGE)


def needs_settling(observation: Observation) -> bool:
    """Refused with an alert other than protocol_version, or ended by the server without one before
    any certificate: what that means depends on the endpoint's other hellos."""
    if observation.phase != "handshake" or not observation.probed:
        return False
    return (observation.outcome is Outcome.REFUSED and observation.alert != "protocol_version") or \
        (observation.dropped is not None and observation.outcome in (Outcome.NO_TLS_ANSWER, Outcome.ERROR))


def answered_tls(observation: Observation) -> bool:
    """Did the server answer this hello in TLS: an alert, a ServerHello, or a completed handshake?"""
    return observation.alert is not None or observation.negotiated_version is not None or \
        observation.outcome in (*SPEAKS_VERSION, Outcome.UNSUPPORTED)


def _reached(observation: Observation) -> str:
    return "completed" if observation.outcome in COMPLETED else "got as far as the server's certificate"


def _version(observation: Observation) -> str:
    return observation.key.version.value.replace("tls", "TLS ")


def _answer(observation: Observation) -> str:
    """How the server answered a hello, to follow "answered ... with"."""
    if observation.alert:
        return f"alert {observation.alert}"
    if observation.outcome is Outcome.UNSUPPORTED:
        return f"no common version ({observation.detail})"
    what = "a TCP reset" if observation.dropped == "reset" else "a close"
    if observation.dropped and observation.negotiated_version:
        return f"its ServerHello, then {what} without an alert, before any certificate"
    if observation.dropped:
        return f"{what} {NO_SERVER_HELLO}"
    return f"{observation.outcome.value} ({observation.detail})"


@dataclass(frozen=True)
class Evidence:
    """What an endpoint's hellos showed about one TLS version, for settling its waiting probes."""

    completed: Observation | None = None      # an offer of the version that got as far as the certificate
    control: Observation | None = None        # the control hello of the version, when one was sent
    speaks_tls: str | None = None             # how the endpoint answered TLS at another version

    @classmethod
    def gather(cls, others: Iterable[Observation]) -> str | None:
        """`speaks_tls` from the endpoint's hellos of the other versions (controls included): a
        completed handshake first, else an alert or a ServerHello. Named by version, never by
        which offer, so the words do not depend on which probe landed first."""
        answered = sorted((o for o in others if answered_tls(o)), key=lambda o: o.key.version.value)
        completed = next((o for o in answered if o.outcome in COMPLETED), None)
        if completed is not None:
            return f"a {_version(completed)} handshake completed"
        return f"it answered a {_version(answered[0])} hello with {_answer(answered[0])}" if answered else None


def settle(observation: Observation, evidence: Evidence) -> Observation:
    """The probe's outcome in the light of the endpoint's other hellos."""
    version = _version(observation)
    if evidence.completed is not None:
        # Not which offer: the first to complete is a race, and the detail must not differ between runs.
        return replace(observation, outcome=Outcome.REFUSED, detail=f"{observation.detail} (the server speaks "
                                                                    f"{version}: another offer of it "
                                                                    f"{_reached(evidence.completed)})")
    control = evidence.control
    if control is None:
        return observation  # interrupted before its control landed: what it saw stands
    assert isinstance(control.key.version, TLSVersion)
    offered = f"a control hello offering {describe(control_spec(control.key.version))}"
    if control.outcome in SPEAKS_VERSION:
        return replace(observation, outcome=Outcome.REFUSED,
                       detail=f"{observation.detail} (the server speaks {version}: a control hello with every "
                              f"{version} cipher suite and signature scheme {_reached(control)})")
    both = f"it answered this offer with {_answer(observation)}, and {offered}, with {_answer(control)}"
    if observation.negotiated_version or control.negotiated_version:
        # A ServerHello of this version: it is spoken, yet no hello completes.
        return replace(observation, outcome=Outcome.REFUSED if observation.alert else Outcome.ERROR,
                       detail=f"the server starts {version} but completes no handshake: {both}")
    unknown = replace(observation, detail=f"{observation.detail} (whether the server speaks {version} is unknown: "
                                          f"{offered} got {control.outcome.value}: {control.detail})")
    if not (control.dropped is not None or control.outcome is Outcome.NO_TLS_ANSWER or answered_tls(control)):
        return unknown   # the control timed out or failed otherwise: it says nothing about the version
    # The control too was dropped or refused: unsupported, given evidence that the peer speaks TLS.
    if answered_tls(observation) or answered_tls(control):
        return replace(observation, outcome=Outcome.UNSUPPORTED, detail=f"the server does not speak {version}: {both}")
    if evidence.speaks_tls:
        return replace(observation, outcome=Outcome.UNSUPPORTED,
                       detail=f"the server does not speak {version}: {both}; it speaks TLS: {evidence.speaks_tls}")
    if observation.outcome is Outcome.NO_TLS_ANSWER:
        what = "reset" if observation.dropped == "reset" else "closed"
        return replace(observation, detail=f"no TLS answer: the server {what} the connection before any TLS "
                                           "byte, and no hello of this endpoint, control hellos included, got a "
                                           "TLS answer")
    return unknown
