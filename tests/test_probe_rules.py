"""Each policy rule, judged from stored certificates (no network) at a fixed 'now'."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualcert.estate.inventory import load_inventory
from dualcert.facts.trust import TrustStore
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.load import load_policy
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.rules.probe_rules import Case
from dualcert.rules.registry import Scope, rules_of
from dualcert.verdict import Status

from .conftest import CERTS, FIXED_NOW, chain_der

PROBE_RULES = {rule.name: rule.check for rule in rules_of(Scope.PROBE)}


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("inv") / "site.yaml"
    path.write_text("nodes:\n  - {name: pub, host: uccx-pub.example.test, role: uccx}\n"
                    "  - {name: cucm, host: cucm.example.test, role: cucm}\n")
    return {(e.node, e.service.name): e for e in load_inventory(path).endpoints()}


def make_case(endpoints, chain: str | None, offer: Offer = Offer.ECDSA, *, policy: str = "ec-ca-signed",
              outcome: Outcome = Outcome.OK, service: str = "socketio", node: str = "pub",
              version: TLSVersion = TLSVersion.TLS1_2, siblings: dict[Offer, Observation] | None = None,
              trust: TrustStore | None = None, detail: str = "") -> Case:
    endpoint = endpoints[(node, service)]
    key = ProbeKey(endpoint.node, endpoint.service.name, offer, version)
    observation = Observation(key, endpoint.host, None, endpoint.port, outcome, detail=detail,
                              phase=None if outcome is Outcome.OK else "handshake",
                              chain_der=chain_der(chain) if chain else ())
    return Case(endpoint, offer, version, load_policy(policy).expectation(endpoint, offer, version), observation,
                trust or TrustStore.from_pem_file(CERTS / "roots.pem"), FIXED_NOW,
                lambda o: (siblings or {}).get(o))


def status(case: Case, rule: str) -> Status:
    return PROBE_RULES[rule](case).status


def test_best_practice_chain_passes_every_rule(endpoints) -> None:
    case = make_case(endpoints, "ec_by_ec_ca")
    assert {rule: status(case, rule) for rule in PROBE_RULES} == dict.fromkeys(PROBE_RULES, Status.PASS)
    assert {"presented_key", "chain_algorithm", "chain_complete", "issuer", "trust"} <= set(PROBE_RULES)


def test_ecdsa_signed_by_rsa_fails_chain_algorithm_with_the_cscvb58580_fix(endpoints) -> None:
    finding = PROBE_RULES["chain_algorithm"](make_case(endpoints, "ec_by_rsa_ca"))
    assert finding.status is Status.FAIL
    assert "Example RSA Issuing CA" in finding.message and "sha256WithRSAEncryption" in finding.message
    assert "CSCvb58580" in finding.fix and "tomcat-ECDSA" in finding.fix and "EC CA" in finding.fix


def test_self_signed_ecdsa_fails_issuer_and_trust_with_csr_fix(endpoints) -> None:
    case = make_case(endpoints, "ec_self")
    issuer = PROBE_RULES["issuer"](case)
    assert issuer.status is Status.FAIL and "expected a CA-signed certificate" in issuer.message
    assert "generate a tomcat-ECDSA CSR" in issuer.fix and "tomcat-trust" in issuer.fix
    assert status(case, "trust") is Status.FAIL
    assert status(case, "chain_algorithm") is Status.PASS  # self-signed with ECDSA is ECDSA throughout


def test_browser_getting_rsa_where_ecdsa_is_intended_explains_why(endpoints) -> None:
    rsa_by_ca = make_case(endpoints, "ec_by_rsa_ca").observation
    case = make_case(endpoints, "rsa_by_rsa_ca", Offer.DEFAULT, siblings={Offer.ECDSA: rsa_by_ca})
    finding = PROBE_RULES["presented_key"](case)
    assert finding.status is Status.FAIL
    assert "expected an ECDSA certificate, saw RSA" in finding.message
    assert "CSCvb58580" in finding.fix
    refused = make_case(endpoints, None, Offer.ECDSA, outcome=Outcome.REFUSED).observation
    browser = make_case(endpoints, "rsa_by_rsa_ca", Offer.DEFAULT, siblings={Offer.ECDSA: refused})
    cop = PROBE_RULES["presented_key"](browser)
    assert "rollback COP" in cop.fix


def test_refused_is_what_the_rsa_only_policy_wants(endpoints) -> None:
    refused = make_case(endpoints, None, outcome=Outcome.REFUSED, policy="rsa-only", detail="handshake failure")
    assert status(refused, "presented_key") is Status.PASS
    assert status(refused, "trust") is Status.NA
    presented = make_case(endpoints, "ec_by_ec_ca", policy="rsa-only")
    finding = PROBE_RULES["presented_key"](presented)
    assert finding.status is Status.FAIL and "install the UCCX COP (it disables ECDSA)" in finding.fix


@pytest.mark.parametrize("outcome, detail", [
    (Outcome.ERROR, "connection reset by the server during the handshake"),
    (Outcome.ERROR, "the server's handshake message exceeds OpenSSL's limit (a huge certificate chain)"),
    (Outcome.ERROR, "the server sent a certificate OpenSSL cannot parse: bad length"),
    (Outcome.NO_CERTIFICATE, "handshake completed without a certificate"),
])
def test_only_a_servers_refusal_is_refused_as_intended(endpoints, outcome: Outcome, detail: str) -> None:
    # A reset or a chain too big to read may carry an ECDSA certificate: passing it would hide one.
    finding = PROBE_RULES["presented_key"](make_case(endpoints, None, outcome=outcome, policy="rsa-only",
                                                     detail=detail))
    assert finding.status is Status.FAIL and "not a refusal" in finding.message and detail in finding.message


def test_an_unreadable_certificate_under_rsa_only_is_not_refused(endpoints) -> None:
    case = make_case(endpoints, None, policy="rsa-only")
    case.observation = Observation(case.observation.key, "h", None, 443, Outcome.OK,
                                   chain_der=(b"\x30\x03\x02\x01\x00",))
    finding = PROBE_RULES["presented_key"](case)
    assert finding.status is Status.FAIL and "cannot be read" in finding.message


def test_refused_under_best_practice_fails_presented_key(endpoints) -> None:
    finding = PROBE_RULES["presented_key"](make_case(endpoints, None, outcome=Outcome.REFUSED))
    assert finding.status is Status.FAIL and "refused" in finding.message and "rollback COP" in finding.fix


def test_unreachable_endpoint_fails_presented_key_and_skips_the_rest(endpoints) -> None:
    case = make_case(endpoints, None, outcome=Outcome.TIMEOUT, detail="handshake timed out")
    finding = PROBE_RULES["presented_key"](case)
    assert finding.status is Status.FAIL and "timeout" in finding.message and "reachable" in finding.fix
    assert {status(case, r) for r in PROBE_RULES if r != "presented_key"} == {Status.NA}


def test_tls13_unsupported_is_not_a_failure_when_optional(endpoints) -> None:
    case = make_case(endpoints, None, outcome=Outcome.UNSUPPORTED, version=TLSVersion.TLS1_3)
    assert status(case, "presented_key") is Status.NA
    case12 = make_case(endpoints, None, outcome=Outcome.UNSUPPORTED, version=TLSVersion.TLS1_2)
    assert status(case12, "presented_key") is Status.FAIL


def test_key_strength_hostname_and_expiry(endpoints) -> None:
    weak = PROBE_RULES["key_strength"](make_case(endpoints, "rsa_1024", Offer.RSA))
    assert weak.status is Status.FAIL and "1024" in weak.message
    assert status(make_case(endpoints, "ec_other_host"), "hostname") is Status.FAIL
    expiring = PROBE_RULES["expiry"](make_case(endpoints, "ec_expiring"))
    assert expiring.status is Status.WARN and "19 days" in expiring.message
    expired = PROBE_RULES["expiry"](make_case(endpoints, "ec_expired"))
    assert expired.status is Status.FAIL and "has expired" in expired.message


def test_issuer_dn_rule(endpoints, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text('rules: {issuer: {ecdsa: {dn: "CN=Example EC Issuing CA,O=dualcert lab"}}}\n')
    assert status(make_case(endpoints, "ec_by_ec_ca", policy=str(policy)), "issuer") is Status.PASS
    policy.write_text('rules: {issuer: {ecdsa: {dn: "CN=Someone Else"}}}\n')
    finding = PROBE_RULES["issuer"](make_case(endpoints, "ec_by_ec_ca", policy=str(policy)))
    assert finding.status is Status.FAIL and "CN=Someone Else" in finding.message


def test_self_signed_profile(endpoints) -> None:
    assert status(make_case(endpoints, "ec_self", policy="self-signed"), "issuer") is Status.PASS
    assert status(make_case(endpoints, "ec_by_ec_ca", policy="self-signed"), "issuer") is Status.FAIL
    assert status(make_case(endpoints, "ec_self", policy="self-signed"), "trust") is Status.NA


def test_no_trust_bundle_fails_trust_with_a_fix(endpoints) -> None:
    case = make_case(endpoints, "ec_by_ec_ca")
    case.trust = None
    finding = PROBE_RULES["trust"](case)
    assert finding.status is Status.FAIL and "trust: mozilla" in finding.fix


def test_service_without_ecdsa_certificate_expects_refusal(endpoints) -> None:
    case = make_case(endpoints, None, service="capf", node="cucm", outcome=Outcome.REFUSED)
    assert status(case, "presented_key") is Status.PASS


def test_a_verdict_as_a_part_keeps_every_field_but_subject_and_outcome() -> None:
    """Verdict.part_of builds the part directly, for speed: it must equal dataclasses.replace whatever
    fields the Verdict has (each set here to a value other than its default)."""
    from dataclasses import fields, replace

    from dualcert.verdict import Status, Verdict

    values = {"rule": "r", "status": Status.WARN, "message": "m", "fix": "f", "subject": "s", "facts": {"a": 1},
              "crashed": True, "outcome": "passed", "parts": (Verdict("q", Status.PASS, "p"),),
              "causes": ("hostname",), "concerns": {"certificate": "ab" * 32, "check": "validity"}}
    assert {f.name for f in fields(Verdict)} == set(values), "a new Verdict field: give it a value here"
    verdict = Verdict(**values)
    assert verdict.part_of("n:s:ecdsa:tls1.2", "failed") == replace(verdict, subject="n:s:ecdsa:tls1.2",
                                                                     outcome="failed")
