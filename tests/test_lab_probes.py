"""The probe engine against the embedded lab's real servers: every state, both versions, STARTTLS."""

from __future__ import annotations

import pytest

from dualcert.estate.inventory import load_inventory
from dualcert.facts.chain import chain_facts
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Outcome

# What each state's tomcat-ECDSA looks like to an ECDSA-only client: (issuer CN or "self", chain algorithm).
ECDSA_OFFER = {"s1": "self", "s2": "dualcert Lab RSA Issuing CA", "s3": "dualcert Lab EC Issuing CA",
               "s4": "self", "rsa-only": None}


@pytest.fixture(scope="module")
def observations(lab):
    inventory = load_inventory(lab.inventory_path)
    tasks = [ProbeTask(e, o, v) for e in inventory.endpoints() for o in Offer for v in TLSVersion]
    return inventory, ProbeRunner().run(tasks)


@pytest.mark.parametrize("version", list(TLSVersion))
@pytest.mark.parametrize("state", list(ECDSA_OFFER))
def test_ecdsa_only_and_rsa_only_offers_get_their_family(observations, state: str, version: TLSVersion) -> None:
    inventory, results = observations
    nodes = [n for n in inventory.nodes if n.cluster == state]
    assert len(nodes) == 3
    for key, obs in results.items():
        if key.node not in {n.name for n in nodes} or key.version is not version:
            continue
        if key.offer is Offer.RSA:
            assert obs.outcome is Outcome.OK, obs
            assert chain_facts(obs.chain_der).leaf.key_type == "RSA"
            assert obs.negotiated_version == {"tls1.2": "TLSv1.2", "tls1.3": "TLSv1.3"}[version.value]
        elif key.offer is Offer.ECDSA:
            expected = ECDSA_OFFER[state]
            if expected is None:
                assert obs.outcome is Outcome.REFUSED and obs.alert == "handshake_failure", obs
                continue
            assert obs.outcome is Outcome.OK, obs
            leaf = chain_facts(obs.chain_der).leaf
            assert leaf.key_type == "ECDSA"
            assert (leaf.self_signed if expected == "self" else leaf.issuer_common_name == expected)


def test_tls12_offers_use_the_offered_authentication(observations) -> None:
    _, results = observations
    ciphers = {(k.offer, obs.cipher) for k, obs in results.items()
               if k.version is TLSVersion.TLS1_2 and obs.outcome is Outcome.OK}
    assert all("ECDSA" in c for o, c in ciphers if o is Offer.ECDSA)
    assert all("ECDSA" not in c for o, c in ciphers if o is Offer.RSA)


def test_starttls_xmpp_on_the_lab_imp_node(observations) -> None:
    _inventory, results = observations
    seen = {k.offer: chain_facts(o.chain_der).leaf.key_type for k, o in results.items()
            if k.node == "collab-imp" and k.service == "xmpp-c2s" and k.version is TLSVersion.TLS1_3}
    assert seen == {Offer.ECDSA: "ECDSA", Offer.RSA: "RSA", Offer.DEFAULT: "RSA"}


def test_every_probe_ran_once_and_recorded_timings(observations) -> None:
    inventory, results = observations
    assert len(results) == len(inventory.endpoints()) * 6
    assert all(o.probed and o.connect_ms is not None for o in results.values())
