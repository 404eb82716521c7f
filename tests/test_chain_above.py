"""The chain above the leaf (facts.trust.chain_above), read the same way by chain_algorithm, chain_complete,
the diagnosis and the ecdsa_chain node rule: an EC leaf under an EC intermediate that an RSA root signed,
with the intermediate sent, omitted but in the bundle, and omitted and nowhere."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dualcert.estate.inventory import load_inventory
from dualcert.facts.trust import TrustStore
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.load import load_policy
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.rules.chain_rules import chain_complete
from dualcert.rules.estate_rules import EstateView, ecdsa_chain
from dualcert.rules.presented import reading
from dualcert.rules.probe_rules import Case, chain_algorithm
from dualcert.verdict import Status

from .pathpki import NOW, SERVER_ONLY, Made, Spec, leaf_spec, make, new_key


@pytest.fixture(scope="module")
def pki() -> dict[str, Made]:
    rsa_root = make("RSA Root CA", Spec(), key=new_key("rsa"))
    ec_root = make("EC Root CA", Spec())
    ec_under_rsa = make("EC Issuing CA under RSA", Spec(eku=SERVER_ONLY), rsa_root)
    ec_under_ec = make("EC Issuing CA", Spec(eku=SERVER_ONLY), ec_root)
    return {"rsa_root": rsa_root, "ec_root": ec_root, "inter_rsa": ec_under_rsa, "inter_ec": ec_under_ec,
            "leaf_rsa": make("uccx-pub.example.test", leaf_spec(dns=("uccx-pub.example.test",)), ec_under_rsa),
            "leaf_ec": make("uccx-pub.example.test", leaf_spec(dns=("uccx-pub.example.test",)), ec_under_ec)}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("inv") / "site.yaml"
    path.write_text("nodes:\n  - {name: pub, host: uccx-pub.example.test, role: uccx}\n")
    return load_inventory(path)


def store(tmp_path: Path, *certs: Made) -> TrustStore:
    path = tmp_path / "bundle.pem"
    path.write_bytes(b"".join(c.pem for c in certs))
    return TrustStore.from_pem_file(path)


def observation(service: str, offer: Offer, chain: tuple[Made, ...]) -> Observation:
    return Observation(ProbeKey("pub", service, offer, TLSVersion.TLS1_2), "uccx-pub.example.test", None, 8445,
                       Outcome.OK, chain_der=tuple(c.der for c in chain))


def case(inventory, chain: tuple[Made, ...], trust: TrustStore | None) -> Case:
    [endpoint] = [e for e in inventory.endpoints() if e.service.name == "socketio"]
    return Case(endpoint, Offer.ECDSA, TLSVersion.TLS1_2,
                load_policy("ec-ca-signed").expectation(endpoint, Offer.ECDSA, TLSVersion.TLS1_2),
                observation("socketio", Offer.ECDSA, chain), trust, NOW)


def test_omitted_rsa_signed_intermediate_in_the_bundle_is_seen(pki, inventory, tmp_path: Path) -> None:
    bundle = store(tmp_path, pki["rsa_root"], pki["inter_rsa"])
    leaf_only = case(inventory, (pki["leaf_rsa"],), bundle)
    algorithm = chain_algorithm(leaf_only)
    assert algorithm.status is Status.FAIL and "EC Issuing CA under RSA" in algorithm.message
    complete = chain_complete(leaf_only)
    assert complete.status is Status.FAIL and "does not send the intermediate" in complete.message
    # The diagnosis and the node rule read the same path: S2's "signed by an RSA CA", not S3.
    seen = observation("socketio", Offer.ECDSA, (pki["leaf_rsa"],))
    view = EstateView(inventory, {seen.key: seen}, trust=bundle, now=NOW)
    assert reading(seen, "ECDSA", view.path_of) == "rsa-ca"
    assert reading(seen, "ECDSA") == "ec-ca"   # what the presented leaf alone suggests: the old, wrong reading
    assert ecdsa_chain(view, "pub").status is Status.FAIL


def test_nothing_above_the_leaf_is_a_warning_not_a_pass(pki, inventory, tmp_path: Path) -> None:
    leaf_only = case(inventory, (pki["leaf_ec"],), store(tmp_path, pki["rsa_root"]))
    algorithm = chain_algorithm(leaf_only)
    assert algorithm.status is Status.WARN and "nothing above the leaf can be seen" in algorithm.message
    # Its issuer may be a one-tier root or a missing intermediate: a warning, not a failure.
    incomplete = chain_complete(leaf_only)
    assert incomplete.status is Status.WARN and "'CN=EC Issuing CA,O=dualcert tests'" in incomplete.message
    seen = observation("socketio", Offer.ECDSA, (pki["leaf_ec"],))
    again = replace(seen, key=replace(seen.key, version=TLSVersion.TLS1_3))
    view = EstateView(inventory, {seen.key: seen, again.key: again}, trust=None, now=NOW)
    node_verdict = ecdsa_chain(view, "pub")
    # Both versions' probes of one offer are one place, named once.
    assert node_verdict.status is Status.WARN and node_verdict.message.count("to the ecdsa offer") == 1


def test_sent_intermediate_makes_the_chain_complete(pki, inventory, tmp_path: Path) -> None:
    good = case(inventory, (pki["leaf_ec"], pki["inter_ec"]), store(tmp_path, pki["ec_root"]))
    assert chain_algorithm(good).status is Status.PASS and "validated path" in chain_algorithm(good).message
    assert chain_complete(good).status is Status.PASS
    sent_rsa = case(inventory, (pki["leaf_rsa"], pki["inter_rsa"]), None)
    assert chain_algorithm(sent_rsa).status is Status.FAIL   # no bundle: the presented chain still shows it


def test_a_pinned_or_self_signed_leaf_needs_no_intermediate(pki, inventory, tmp_path: Path) -> None:
    pinned = case(inventory, (pki["leaf_ec"],), store(tmp_path, pki["leaf_ec"]))
    assert chain_complete(pinned).status is Status.PASS
    self_signed = make("uccx-pub.example.test", leaf_spec(dns=("uccx-pub.example.test",)))
    assert chain_complete(case(inventory, (self_signed,), None)).status is Status.NA
