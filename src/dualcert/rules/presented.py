"""One reading of what a probe presented: refused or not, which key, self-signed or signed by which kind of CA.

The diagnosis, the node rules, the fix of `presented_key` and the baseline's expected_changes
classes all read a presentation through these few functions, so "refused" or "signed by an RSA CA"
means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dualcert.facts.chain import ChainFacts, chain_facts
from dualcert.facts.trust import ChainAbove, Validation, chain_above
from dualcert.probe.observation import Observation, Outcome

# The path validation of a probe's chain (TrustStore.validate at the run's time), None without a bundle.
PathOf = Callable[[Observation], Validation | None]

# The readings in words, for the diagnosis and its fixes.
ECDSA_WORDS = {"self": "self-signed", "ec-ca": "signed by an EC CA", "rsa-ca": "signed by an RSA CA (CSCvb58580)",
               "refused": "not presented (the ECDSA-only offer is refused)",
               "wrong-family": "not what an ECDSA-only offer gets (it got an RSA certificate)",
               "unknown": "unreadable"}
RSA_WORDS = {"self": "self-signed", "ca": "CA-signed", "refused": "not presented (the RSA-only offer is refused)",
             "wrong-family": "not what an RSA-only offer gets (it got an ECDSA certificate)", "unknown": "unreadable"}


def ecdsa_words(reading: str, vos: bool) -> str:
    """ECDSA_WORDS[reading]; the Cisco bug is named on VOS roles only (it is their components that break)."""
    words = ECDSA_WORDS.get(reading, "not measured")
    return words if vos else words.replace(" (CSCvb58580)", "")


def refused(observation: Observation) -> bool:
    """The server itself declined this offer: a TLS alert, or a close before any Certificate message
    that the probe typed as `refused` or `unsupported`. An unreadable certificate, an oversized chain
    or a TCP reset is not a refusal: a certificate may have been on its way, so "refused as intended"
    would hide it. The one definition for presented_key, the diagnosis and the comparison."""
    return observation.outcome in (Outcome.REFUSED, Outcome.UNSUPPORTED)


def presented_chain(observation: Observation) -> ChainFacts | None:
    """The chain the probe got, None when it got none (or could not read a single certificate)."""
    if observation.outcome is not Outcome.OK or not observation.chain_der:
        return None
    facts = chain_facts(observation.chain_der)
    return facts if facts.certs else None


def rsa_signed(signatures: Iterable[str | None]) -> bool:
    """A chain with an RSA signature anywhere: for an ECDSA leaf, the CSCvb58580 case."""
    return any(s == "RSA" for s in signatures)


def signing(key: str, self_signed: bool, signatures: Iterable[str | None]) -> str:
    """How a leaf of key family `key` ("RSA", "ECDSA", ...) is signed: "self", "rsa-ca" (an ECDSA
    leaf with an RSA signature in its chain), "ec-ca" (ECDSA throughout), or "ca" (any other)."""
    if self_signed:
        return "self"
    if key == "ECDSA":
        return "rsa-ca" if rsa_signed(signatures) else "ec-ca"
    return "ca"


def above_leaf(observation: Observation, path_of: PathOf | None = None) -> ChainAbove | None:
    """What a probe got, read through the one helper every rule shares: the validated path when the
    trust bundle gives one (an intermediate the server does not send still signs the leaf), else the
    presented chain, marked incomplete. None when the probe got no readable certificate."""
    facts = presented_chain(observation)
    if facts is None:
        return None
    return chain_above(facts, path_of(observation) if path_of is not None else None)


def chain_signing(above: ChainAbove) -> str:
    leaf = above.leaf
    return signing(leaf.key_type, leaf.self_signed, above.signed_with())


def reading(observation: Observation, family: str, path_of: PathOf | None = None) -> str | None:
    """What one probe that offered only `family` ("RSA" or "ECDSA") got, in the diagnosis' words:
    self | ca | ec-ca | rsa-ca | refused | wrong-family | unknown; None when the probe says
    nothing about the certificate (unreachable, unsupported version)."""
    if observation.outcome is Outcome.UNSUPPORTED:
        return None  # the version is not spoken: a refusal of the offer is not shown by it
    if refused(observation):
        return "refused"
    if observation.outcome is not Outcome.OK or not observation.chain_der:
        return None
    above = above_leaf(observation, path_of)
    if above is None:
        return "unknown"
    if above.leaf.key_type != family:
        return "wrong-family"
    return chain_signing(above)
