"""The control hello: tells "this server does not speak TLS 1.x" from "this server refused this offer".

A stack that predates TLS 1.3 ignores supported_versions and sees only TLS 1.3 cipher suites: it
answers a TLS 1.3 hello with handshake_failure or by dropping the connection, never with
protocol_version. Stacks that know TLS 1.3 but are capped at 1.2 (and TLS-1.3-only servers asked
for 1.2) answer protocol_version, which is `unsupported` at once. For the others, when an offer is
refused with another alert or dropped, and no other offer of the version completed, the engine
sends the version's widest hello once per endpoint (`hello.control_spec`): if that is refused
too, the version is `unsupported`; otherwise the offer's refusal stands. Pure: the engine runs
the handshakes.
"""

from __future__ import annotations

from dataclasses import replace

from dualcert.probe.connection import DROPPED_HELLO
from dualcert.probe.hello import OfferSpec, describe
from dualcert.probe.observation import Observation, Outcome


def needs_control(observation: Observation) -> bool:
    """Refused with an alert other than protocol_version, or dropped before the ServerHello."""
    if observation.phase != "handshake" or not observation.probed:
        return False
    return (observation.outcome is Outcome.REFUSED and observation.alert != "protocol_version") or \
        DROPPED_HELLO in observation.detail


def _answer(observation: Observation) -> str:
    """How the server answered a hello, to follow "answered ... with"."""
    if observation.alert:
        return f"alert {observation.alert}"
    if observation.outcome is Outcome.UNSUPPORTED:
        return f"no common version ({observation.detail})"
    what = "a TCP reset" if "reset the connection" in observation.detail else "a close"
    return f"{what} without an alert, before any ServerHello"


def settle(observation: Observation, evidence: Observation, control: OfferSpec | None) -> Observation:
    """The probe's outcome in the light of `evidence`: the control hello's observation (sent with
    `control`), or (control None) another offer of the same endpoint and version that completed."""
    version = evidence.key.version.value.replace("tls", "TLS ")
    if control is None:
        # Not which offer: the first to complete is a race, and the detail must not differ between runs.
        return replace(observation, detail=f"{observation.detail} (the server speaks {version}: another offer "
                                           "of it completed)")
    offered = f"a control hello offering {describe(control)}"
    if evidence.outcome is Outcome.UNSUPPORTED or needs_control(evidence):
        return replace(observation, outcome=Outcome.UNSUPPORTED,
                       detail=f"the server does not speak {version}: it answered this offer with "
                              f"{_answer(observation)}, and {offered}, with {_answer(evidence)}")
    if evidence.outcome in (Outcome.OK, Outcome.NO_CERTIFICATE):
        return replace(observation, detail=f"{observation.detail} (the server speaks {version}: a control hello "
                                           f"with every {version} cipher suite and signature scheme completed)")
    return replace(observation, detail=f"{observation.detail} (whether the server speaks {version} is unknown: "
                                       f"{offered} got {evidence.outcome.value}: {evidence.detail})")
