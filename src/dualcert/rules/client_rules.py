"""The client rules: what one simulated client got from one service (a ClientCase), judged
against the policy's expectation for that client: the key family, whether the client can
validate and use the chain, and the negotiated version (docs/clients.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dualcert.estate.model import Endpoint
from dualcert.facts.hostname import hostname_matches
from dualcert.facts.trust import TrustStore
from dualcert.policy.clients import ClientExpectation, ClientProfile
from dualcert.probe.observation import Observation, Outcome
from dualcert.rules.causes import Cause, combined, failed, finding, fix_for, untrusted_cause
from dualcert.rules.presented import above_leaf, rsa_signed
from dualcert.rules.probe_rules import ObservedChain, level_status
from dualcert.verdict import Status, Verdict

# Roles whose clients break when the ECDSA certificate is signed by an RSA CA, whichever certificate
# a client is given: "If SocialMiner's ECDSA certificate is signed by an RSA CA, email and chat break
# (CSCvb58580)", Cisco, "Configure the UCCX solution for ECDSA certificates" (../shared/reference).
MIXED_ECDSA_BREAKS = frozenset({"socialminer"})
# OpenSSL's names of a negotiated version -> the policy's.
_VERSION_NAMES = {"TLSv1": "tls1.0", "TLSv1.1": "tls1.1", "TLSv1.2": "tls1.2", "TLSv1.3": "tls1.3"}


@dataclass
class ClientCase(ObservedChain):
    """One client's probe of one endpoint, with what the policy expects that client to get."""

    endpoint: Endpoint
    profile: ClientProfile
    observation: Observation
    trust: TrustStore | None      # the profile's stores (and the site bundle) together
    now: dt.datetime
    # The same endpoint's ECDSA-only probe, when the run has it: what the ECDSA slot holds even
    # when this client is given RSA (S2: the server prefers RSA, the ECDSA slot is under an RSA CA).
    ecdsa_slot: Observation | None = None

    NO_TRUST = "no trust store for this client (the inventory names no site bundle)"

    @property
    def ecdsa_slot_under_rsa(self) -> bool:
        """The ECDSA slot's chain above the leaf (validated path, else presented: presented.above_leaf,
        as every rule reads it) has an RSA signature."""
        slot = self.ecdsa_slot
        if slot is None or slot.outcome is not Outcome.OK:
            return False
        trust = self.trust
        above = above_leaf(slot, (lambda o: trust.validate(o.chain_der, self.now)) if trust is not None else None)
        return above is not None and above.leaf.key_type == "ECDSA" and not above.leaf.self_signed and \
            rsa_signed(above.signed_with())

    @property
    def expectation(self) -> ClientExpectation:
        return self.profile.expectation(self.endpoint.service.name)

    @property
    def negotiated(self) -> str:
        return _VERSION_NAMES.get(self.observation.negotiated_version or "", self.observation.negotiated_version or "")


def _where(case: ClientCase) -> str:
    o = case.observation
    return f"{case.profile.title} -> {case.endpoint.node} {case.endpoint.service.name} ({o.host}:{o.port})"


def _got(case: ClientCase) -> str:
    leaf = case.chain.leaf
    origin = "self-signed" if leaf.self_signed else f"issued by {leaf.issuer_common_name or leaf.issuer}"
    return f"{leaf.key_type} leaf ({leaf.curve or f'{leaf.key_size}-bit'}), {origin}, over " \
           f"{case.negotiated} with {case.observation.cipher}"


def _no_chain(case: ClientCase, rule: str) -> Verdict:
    return Verdict(rule, Status.NA, f"{_where(case)}: no certificate to judge ({case.observation.outcome.value}); "
                   "client_key says why")


def client_key(case: ClientCase) -> Verdict:
    """The client gets a certificate at all, of the key family the policy intends for it."""
    rule, o, wanted = "client_key", case.observation, case.expectation.key
    if not case.has_chain:
        seen = o.outcome.value + (f" ({o.detail})" if o.detail else "")
        return failed(rule, f"{_where(case)}: the client cannot connect: {seen}", Cause.CLIENT_CANNOT_CONNECT,
                      case.endpoint, case.profile.title)
    family = case.chain.leaf.key_type
    if wanted == "any" or wanted.upper() == family:
        return Verdict(rule, Status.PASS, f"{_where(case)}: {_got(case)}")
    return failed(rule, f"{_where(case)}: the policy wants it to get {wanted.upper()}, it gets {_got(case)}",
                  Cause.CLIENT_GETS_OTHER_FAMILY, case.endpoint, case.profile.title, wanted)


def client_accepts(case: ClientCase) -> Verdict:
    """The client can validate and use what it gets: a path to its trust store, the host name,
    a curve it offers, and no ECDSA leaf under an RSA CA (CSCvb58580)."""
    rule, level = "client_accepts", case.expectation.validate
    if level == "off":
        return Verdict(rule, Status.NA, f"{_where(case)}: validation is off for this client in the policy")
    if not case.has_chain:
        return _no_chain(case, rule)
    leaf, client = case.chain.leaf, case.profile.title
    problems: list[tuple[str, Cause, str]] = []

    def problem(message: str, cause: Cause, *args: Any) -> None:
        problems.append((message, cause, fix_for(cause, *args)))

    validation = case.validation
    if validation.trusted is False:
        effect = "prompts the user to accept it" if case.profile.interactive else "refuses it"
        why = "self-signed, and not in its trust stores" if leaf.self_signed else validation.detail
        # The server's fix by the trust failure's own cause, wrapped in what the client's users see meanwhile.
        server = Cause.SELF_SIGNED if leaf.self_signed else untrusted_cause(validation.cause, case.issuer_sent)
        problem(f"{effect}: {why}", Cause.CLIENT_UNTRUSTED, client, case.profile.interactive,
                fix_for(server, case.endpoint, leaf.key_type))
    if case.profile.sni and case.endpoint.sni:
        matched, detail = hostname_matches(case.observation.chain_der, case.endpoint.sni)
        if not matched:
            problem(f"name mismatch: {detail}", Cause.HOSTNAME, case.endpoint, leaf.key_type)
    if leaf.curve and case.profile.groups and leaf.curve not in case.profile.groups:
        problem(f"the leaf's curve {leaf.curve} is not one it supports", Cause.CLIENT_CURVE, case.endpoint, client,
                leaf.curve)
    # CSCvb58580 is the VOS components' fault, not the client's: TLS clients accept an ECDSA leaf under an RSA CA.
    if case.endpoint.vocabulary.vos and leaf.key_type == "ECDSA" and not leaf.self_signed \
            and rsa_signed(case.above.signed_with()):
        problem("an ECDSA leaf under an RSA CA: the case CSCvb58580 breaks (chat/email gadget, SocialMiner's page)",
                Cause.ECDSA_UNDER_RSA_CA, case.endpoint)
    exposed = leaf.key_type != "ECDSA" and case.ecdsa_slot_under_rsa and \
        any(s.startswith("ecdsa") for s in case.profile.sigalgs)
    if exposed and case.endpoint.role in MIXED_ECDSA_BREAKS:
        problem(f"it is given {leaf.key_type}, but this {case.endpoint.role} node's ECDSA certificate is signed by "
                "an RSA CA: the vendor note says its chat/email and page break (CSCvb58580)",
                Cause.ECDSA_UNDER_RSA_CA, case.endpoint)
    if not problems:
        how = validation.detail if validation.trusted else "no trust store to check against"
        if exposed:  # works today only because the server prefers RSA for this client
            return finding(rule, Status.WARN, f"{_where(case)}: accepts {_got(case)}; but the service's ECDSA "
                          "certificate is signed by an RSA CA (CSCvb58580): a client preferring ECDSA would get it",
                          Cause.ECDSA_UNDER_RSA_CA, case.endpoint)
        return Verdict(rule, Status.PASS, f"{_where(case)}: accepts {_got(case)}; {how}")
    return combined(rule, level_status(level), f"{_where(case)}: ", problems)


def client_protocol(case: ClientCase) -> Verdict:
    """The negotiated TLS version is one the policy accepts for this client."""
    rule = "client_protocol"
    if case.observation.outcome is not Outcome.OK:
        return _no_chain(case, rule)
    accepted = case.expectation.accept_versions
    if case.negotiated in accepted:
        return Verdict(rule, Status.PASS, f"{_where(case)}: {case.negotiated} with {case.observation.cipher}")
    return failed(rule, f"{_where(case)}: negotiated {case.negotiated or 'nothing'}; the policy accepts "
                  f"{', '.join(accepted)}", Cause.CLIENT_VERSION, case.profile.title, case.negotiated)
