"""The probe rules: pure functions of one probe's Case (expectation, observation, chain facts) to a Verdict."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

from dualcert.estate.model import Endpoint
from dualcert.estate.releases import soften
from dualcert.facts.chain import ChainFacts, chain_facts
from dualcert.facts.hostname import hostname_matches
from dualcert.facts.trust import ChainAbove, TrustStore, Validation, chain_above, issuer_named, signed_by_pin
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.model import Expectation
from dualcert.probe.hello import browsers_lack
from dualcert.probe.observation import NO_CONVERSATION, Observation, Outcome, port_detail
from dualcert.rules import remedies
from dualcert.rules.causes import Cause, failed, finding, untrusted_cause
from dualcert.rules.presented import above_leaf, presented_chain, refused, rsa_signed
from dualcert.verdict import Status, Verdict


class ObservedChain:
    """What a probe's Case and a client's Case share: the observation's chain facts and its
    validation against `trust`, each computed once, lazily."""

    observation: Observation
    trust: TrustStore | None
    now: dt.datetime
    NO_TRUST = "no trust bundle configured"

    @property
    def test_id(self) -> str:
        return self.observation.key.test_id

    @cached_property
    def chain(self) -> ChainFacts:
        return chain_facts(self.observation.chain_der)

    @cached_property
    def validation(self) -> Validation:
        if self.trust is None:
            return Validation(None, self.NO_TRUST)
        return self.trust.validate(self.observation.chain_der, self.now)

    @cached_property
    def above(self) -> ChainAbove:
        """The chain above the leaf: the validated path, else the presented chain (incomplete)."""
        return chain_above(self.chain, self.validation)

    @property
    def has_chain(self) -> bool:
        return self.observation.outcome is Outcome.OK and bool(self.chain.certs)

    @property
    def issuer_sent(self) -> bool:
        """The server sent the leaf's issuer (self-issued leaves count as sent: there is no other)."""
        leaf = self.chain.leaf
        return leaf.self_signed or any(c.subject == leaf.issuer for c in self.chain.certs[1:])


@dataclass
class Case(ObservedChain):
    """Everything one test needs; chain facts and validation are computed once, lazily."""

    endpoint: Endpoint
    offer: Offer
    version: TLSVersion
    expectation: Expectation
    observation: Observation
    trust: TrustStore | None
    now: dt.datetime
    # The same endpoint's observation under another offer (same TLS version), for fixes
    # that depend on what the other offer saw. None when that offer was not probed.
    sibling: Callable[[Offer], Observation | None] = lambda offer: None

    @property
    def family(self) -> str:
        return self.chain.leaf.key_type if self.has_chain else ""


def _where(case: Case) -> str:
    o = case.observation
    return f"{case.endpoint.node} {case.endpoint.service.name} ({o.host}:{o.port}), {case.offer.value} offer over " \
           f"{case.version.value.replace('tls', 'TLS ')}"


def _curve_browsers_lack(case: Case) -> str | None:
    """The curve of the ECDSA leaf the ECDSA offer got, when it is why the browser-like TLS 1.3 offer was refused."""
    if case.offer is not Offer.DEFAULT or case.version is not TLSVersion.TLS1_3:
        return None
    sibling = case.sibling(Offer.ECDSA)
    if sibling is None or sibling.outcome is not Outcome.OK or not sibling.chain_der:
        return None
    seen = chain_facts(sibling.chain_der)   # an unreadable chain has no leaf to tell the curve of
    if not seen.certs:
        return None
    return seen.leaf.curve if seen.leaf.key_type == "ECDSA" and browsers_lack(seen.leaf.curve) else None


def _seen_leaf(case: Case) -> str:
    leaf = case.chain.leaf
    strength = f"{leaf.curve}" if leaf.curve else f"{leaf.key_size}-bit"
    origin = "self-signed" if leaf.self_signed else f"issued by {leaf.issuer_common_name or leaf.issuer}"
    return f"{leaf.key_type} ({strength}) leaf {leaf.common_name or leaf.subject!r}, {origin}"


def _no_chain(case: Case, rule: str) -> Verdict:
    o = case.observation
    if o.outcome is Outcome.OK and case.chain.parse_error:
        return failed(rule, f"{_where(case)}: {case.chain.parse_error}", Cause.MALFORMED_CERTIFICATE, case.endpoint)
    return Verdict(rule, Status.NA, f"{_where(case)}: no certificate to check ({o.outcome.value})")


def presented_key(case: Case) -> Verdict:
    verdict = _presented_key(case)
    alone = case.expectation.without_release
    if verdict.status is Status.FAIL and alone is not None:
        # A release fact no document states set this expectation: if the policy alone would not fail the
        # probe, that fact caused the failure, and it is a warning naming the fact's source.
        judged = copy.copy(case)  # keeps the chain facts already computed
        judged.expectation = alone
        if _presented_key(judged).status is not Status.FAIL:
            return soften(verdict, case.expectation.release_bases)
    return verdict


def _presented_key(case: Case) -> Verdict:
    rule, expected, o = "presented_key", case.expectation.presents, case.observation
    if o.outcome is Outcome.UNSUPPORTED:
        version = case.version.value.replace("tls", "TLS ")
        if not case.expectation.version_required:
            return Verdict(rule, Status.NA, f"{_where(case)}: {o.detail or f'the server does not offer {version}'} "
                           f"(the policy makes {version} optional)")
        if case.endpoint.release is not None and case.endpoint.release.fix:
            return failed(rule, f"{_where(case)}: the node's release should offer {version}, the server does not: "
                          f"{o.detail}", Cause.RELEASE_VERSION, case.endpoint)
        return failed(rule, f"{_where(case)}: the policy requires {version}, the server does not speak it: "
                      f"{o.detail}", Cause.VERSION_MISSING, case.endpoint, version)
    if o.outcome is Outcome.OK and case.chain.certs:
        family = case.family
        seen = _seen_leaf(case)
        if expected == "refused":
            return failed(rule, f"{_where(case)}: expected no certificate (refused), saw {seen}",
                          Cause.ECDSA_NOT_WANTED, case.endpoint)
        if expected == "any" or expected.upper() == family or (expected == "rsa-or-refused" and family == "RSA"):
            return Verdict(rule, Status.PASS, f"{_where(case)}: {seen}")
        if expected == "rsa-or-refused":
            return failed(rule, f"{_where(case)}: expected no ECDSA certificate "
                          f"({remedies.release_design(case.endpoint)}), saw {seen}", Cause.ECDSA_NOT_WANTED,
                          case.endpoint)
        message = f"{_where(case)}: expected {_a(expected)} certificate, saw {seen}"
        if expected == "ecdsa" and case.offer is Offer.DEFAULT:
            return _why_no_ecdsa_for_browsers(case, rule, message)
        if expected == "rsa" and case.offer is Offer.DEFAULT and _got_rsa(case.sibling(Offer.RSA)):
            # The server's order, unless no ECDSA certificate is wanted at all: then that it presents one.
            if not case.expectation.ecdsa_wanted:
                return failed(rule, message, Cause.ECDSA_NOT_WANTED, case.endpoint)
            return failed(rule, message, Cause.BROWSER_GETS_ECDSA, case.endpoint)
        return failed(rule, message, _not_presented(expected), case.endpoint)
    if o.outcome is Outcome.OK and case.chain.parse_error:
        return failed(rule, f"{_where(case)}: expected {_a(expected)} certificate, the server sent one that cannot "
                      f"be read: {case.chain.parse_error}", Cause.MALFORMED_CERTIFICATE, case.endpoint)
    if o.outcome in NO_CONVERSATION:
        # Nothing about the offer: the same words for every probe of the port, whatever it expected,
        # so that the summary shows one finding for the port, not one per offer.
        cause = Cause.NO_TLS if o.outcome in (Outcome.NOT_TLS, Outcome.NO_TLS_ANSWER) else \
            Cause.UNRESOLVED if o.outcome is Outcome.UNRESOLVED else Cause.UNREACHABLE
        return failed(rule, f"{_where(case)}: no TLS conversation with the port: {o.outcome.value} "
                      f"({port_detail(o)})", cause)
    seen = f"{o.outcome.value}" + (f" ({o.detail})" if o.detail else "")
    if o.outcome is Outcome.CHAIN_TOO_LARGE:
        return failed(rule, f"{_where(case)}: the server sent a certificate chain that cannot be read: {o.detail}",
                      Cause.CHAIN_TOO_LARGE, case.endpoint, "ECDSA" if case.offer is Offer.ECDSA else "RSA")
    if expected in ("refused", "rsa-or-refused") and refused(o):
        return Verdict(rule, Status.PASS, f"{_where(case)}: no certificate presented, as intended: {seen}")
    if expected == "refused":
        # Not a refusal (an oversized or unreadable chain, an end after the certificate): a certificate
        # may have been sent.
        return failed(rule, f"{_where(case)}: expected the server to refuse the offer, the probe got {seen}; that "
                      "is not a refusal, a certificate may have been sent", Cause.NOT_A_REFUSAL, case.endpoint)
    if o.outcome is Outcome.REFUSED:
        message = f"{_where(case)}: expected {_a(expected)} certificate, but the server refused the offer: {seen}"
        curve = _curve_browsers_lack(case)
        if curve:
            return failed(rule, f"{message}; its ECDSA leaf is on {curve}, which no browser's TLS 1.3 hello offers",
                          Cause.BROWSER_CURVE, case.endpoint, curve)
        return failed(rule, message, _not_presented(expected), case.endpoint)
    return failed(rule, f"{_where(case)}: expected {_a(expected)} certificate, the probe got {seen}",
                  Cause.UNREACHABLE)


def _a(expected: str) -> str:
    return {"ecdsa": "an ECDSA", "rsa": "an RSA", "any": "a", "rsa-or-refused": "an RSA or no"}.get(expected, expected)


def _not_presented(expected: str) -> Cause:
    return Cause.ECDSA_NOT_PRESENTED if expected == "ecdsa" else Cause.RSA_NOT_PRESENTED


def _got_rsa(observation: Observation | None) -> bool:
    """The RSA-only offer got an RSA certificate: the server has one and presents it."""
    chain = presented_chain(observation) if observation is not None else None
    return chain is not None and chain.leaf.key_type == "RSA"


def _why_no_ecdsa_for_browsers(case: Case, rule: str, message: str) -> Verdict:
    """A browser got RSA where ECDSA is intended: the ECDSA-only probe of the same endpoint says why."""
    ecdsa = case.sibling(Offer.ECDSA)
    answered = ecdsa is not None and ecdsa.outcome is Outcome.OK
    trust = case.trust

    def path_of(observation: Observation) -> Validation | None:
        return trust.validate(observation.chain_der, case.now) if trust is not None else None

    above = above_leaf(ecdsa, path_of) if ecdsa is not None and answered else None
    by_rsa_ca = above is not None and rsa_signed(above.signed_with())
    return failed(rule, message, Cause.BROWSER_GETS_RSA, case.endpoint, ecdsa_answered=answered,
                  ecdsa_by_rsa_ca=by_rsa_ca)


def chain_algorithm(case: Case) -> Verdict:
    rule = "chain_algorithm"
    if not case.has_chain:
        return _no_chain(case, rule)
    if case.expectation.chain_algorithm == "any":
        return Verdict(rule, Status.NA, "chain algorithm not constrained by the policy")
    if case.family != "ECDSA":
        return Verdict(rule, Status.NA, f"{_where(case)}: {case.family} leaf; the rule concerns ECDSA leaves")
    above = case.above
    bad = [c for c in above.certs if c.signed_with != "ECDSA"]
    if bad:
        names = ", ".join(f"{c.common_name or c.subject} ({c.signature_algorithm})" for c in bad)
        return failed(rule, f"{_where(case)}: expected ECDSA signatures from the ECDSA leaf up to its root, saw "
                      f"non-ECDSA signatures on: {names}", Cause.ECDSA_UNDER_RSA_CA, case.endpoint)
    if above.unseen:
        return finding(rule, Status.WARN, f"{_where(case)}: nothing above the leaf can be seen: the server sends no "
                      f"intermediate and no path to the trust bundle was found ({case.validation.detail}); only the "
                      f"leaf's own signature ({case.chain.leaf.signature_algorithm}) is known", Cause.ISSUER_UNSEEN)
    which = "validated path" if above.validated else "presented chain, no validated path"
    return Verdict(rule, Status.PASS, f"{_where(case)}: ECDSA signatures throughout ({len(above.certs)} "
                   f"certificates, {which})")


def issuer(case: Case) -> Verdict:
    rule, exp = "issuer", case.expectation
    if not case.has_chain:
        return _no_chain(case, rule)
    leaf, family = case.chain.leaf, case.family
    if exp.signing == "ca" and leaf.self_signed:
        return failed(rule, f"{_where(case)}: expected a CA-signed certificate, saw {_seen_leaf(case)}",
                      Cause.SELF_SIGNED, case.endpoint, family)
    if exp.signing == "self" and not leaf.self_signed:
        return failed(rule, f"{_where(case)}: expected a self-signed certificate, saw {_seen_leaf(case)}",
                      Cause.CA_SIGNED)
    wanted = exp.issuers.get("ecdsa" if family == "ECDSA" else "rsa")
    if wanted and not leaf.self_signed:
        chain_der = case.observation.chain_der
        dn_ok = wanted.dn is None or issuer_named(chain_der, wanted.name)
        sha_ok = wanted.sha256 is None or signed_by_pin(chain_der, wanted.sha256, case.trust)
        if not (dn_ok and sha_ok):
            want = " and ".join(x for x in (wanted.dn and f"DN {wanted.dn!r}",
                                            wanted.sha256 and f"the CA with SHA-256 {wanted.sha256[:16]}…") if x)
            why = "" if sha_ok else " (the pinned CA did not sign the leaf, or is in neither the chain nor the bundle)"
            return failed(rule, f"{_where(case)}: expected issuer {want}, saw {leaf.issuer!r}{why}",
                          Cause.WRONG_ISSUER, case.endpoint, family)
    what = "self-signed" if leaf.self_signed else f"issued by {leaf.issuer}"
    return Verdict(rule, Status.PASS, f"{_where(case)}: {family} leaf {what}")


def level_status(level: str) -> Status:
    """A rule with a level fails when required and warns otherwise."""
    return Status.FAIL if level == "required" else Status.WARN


def _unchecked(case: Case, rule: str, level: str, off: str) -> Verdict | None:
    """The verdict of a rule with a level (required | warn | off) that has nothing to judge."""
    if not case.has_chain:
        return _no_chain(case, rule)
    return Verdict(rule, Status.NA, off) if level == "off" else None


def trust(case: Case) -> Verdict:
    rule, level = "trust", case.expectation.trust
    unchecked = _unchecked(case, rule, level, "trust not required by the policy")
    if unchecked is not None:
        return unchecked
    v = case.validation
    if v.trusted:
        return Verdict(rule, Status.PASS, f"{_where(case)}: {v.detail}")
    if v.trusted is None:
        return finding(rule, level_status(level), f"{_where(case)}: the policy requires trust but the inventory has "
                      "no trust bundle", Cause.NO_TRUST_BUNDLE)
    source = case.trust.source if case.trust else "the trust bundle"
    why = "a self-signed certificate that is not in the bundle" if case.chain.leaf.self_signed else v.detail
    verdict = finding(rule, level_status(level), f"{_where(case)}: expected a chain to the site's roots ({source}), "
                      f"saw {_seen_leaf(case)}: {why}", untrusted_cause(v.cause, case.issuer_sent,
                                                                         case.chain.leaf.self_signed),
                      case.endpoint, case.family)
    # The validator's finding by certificate and check, for scripts (the message says it in words).
    return replace(verdict, concerns={"certificate": v.certificate, "check": v.check}) if v.certificate else verdict


def hostname(case: Case) -> Verdict:
    rule, level = "hostname", case.expectation.hostname
    unchecked = _unchecked(case, rule, level, "hostname not checked by the policy")
    if unchecked is not None:
        return unchecked
    ok, detail = hostname_matches(case.observation.chain_der, case.endpoint.server_name)
    if ok:
        return Verdict(rule, Status.PASS, f"{_where(case)}: {detail}")
    leaf = case.chain.leaf
    names = ", ".join([*leaf.san_dns, *leaf.san_ip]) or f"no SAN (CN {leaf.common_name!r})"
    return finding(rule, level_status(level), f"{_where(case)}: {detail}; the certificate names {names}",
                  Cause.HOSTNAME, case.endpoint, case.family)


def expiry(case: Case) -> Verdict:
    rule, exp = "expiry", case.expectation
    if not case.has_chain:
        return _no_chain(case, rule)
    soonest = min(case.chain.certs, key=lambda c: c.not_after)
    days = soonest.days_left(case.now)
    which = "leaf" if soonest is case.chain.leaf else f"chain certificate {soonest.common_name or soonest.subject!r}"
    future = [c for c in case.chain.certs if c.not_before > case.now]
    if future:
        return failed(rule, f"{_where(case)}: {future[0].common_name!r} is not valid until "
                      f"{future[0].not_before:%Y-%m-%d}", Cause.NOT_YET_VALID)
    summary = f"{which} expires {soonest.not_after:%Y-%m-%d} ({days:.0f} days left)"
    # The leaf is renewed on the node; a CA certificate by its CA, then uploaded with the chain.
    cause, *args = ((Cause.LEAF_EXPIRING, case.endpoint, case.family) if soonest is case.chain.leaf
                    else (Cause.CA_EXPIRING, case.endpoint, case.family, soonest.common_name or soonest.subject))
    if days < exp.fail_days:
        state = "has expired" if days < 0 else f"expires in {days:.0f} days (policy fails under {exp.fail_days})"
        return failed(rule, f"{_where(case)}: {which} {state}", cause, *args)
    if days < exp.warn_days:
        return finding(rule, Status.WARN, f"{_where(case)}: {summary}; warn window is {exp.warn_days} days", cause,
                      *args)
    return Verdict(rule, Status.PASS, f"{_where(case)}: {summary}")

