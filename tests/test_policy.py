"""Policy: built-in profiles, layered overrides, and clear errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dualcert.errors import UsageError
from dualcert.estate.inventory import load_inventory
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.load import builtin_profile, load_policy


@pytest.fixture
def inventory(tmp_path: Path):
    path = tmp_path / "site.yaml"
    path.write_text("nodes:\n  - {name: pub, host: pub.example.com, role: uccx}\n"
                    "  - {name: cucm, host: cucm.example.com, role: cucm}\n")
    return load_inventory(path)


def endpoint(inventory, node: str, service: str):
    return next(e for e in inventory.endpoints() if e.node == node and e.service.name == service)


def test_ec_ca_signed_uses_the_catalog_preference_for_browsers(inventory) -> None:
    policy = load_policy(None)
    assert policy.name == "ec-ca-signed" and policy.intended_state == "S3"
    socketio, tomcat = endpoint(inventory, "pub", "socketio"), endpoint(inventory, "pub", "tomcat")
    assert policy.expectation(socketio, Offer.DEFAULT, TLSVersion.TLS1_2).presents == "ecdsa"
    assert policy.expectation(tomcat, Offer.DEFAULT, TLSVersion.TLS1_2).presents == "rsa"
    assert policy.expectation(tomcat, Offer.ECDSA, TLSVersion.TLS1_3).presents == "ecdsa"
    assert policy.expectation(tomcat, Offer.ECDSA, TLSVersion.TLS1_3).version_required is False
    assert policy.expectation(tomcat, Offer.ECDSA, TLSVersion.TLS1_2).version_required is True


def test_services_without_ecdsa_unit_expect_refusal(inventory) -> None:
    capf = endpoint(inventory, "cucm", "capf")
    expectation = load_policy("ec-ca-signed").expectation(capf, Offer.ECDSA, TLSVersion.TLS1_2)
    assert expectation.presents == "refused"


def test_rsa_only_profile() -> None:
    policy = builtin_profile("rsa-only")
    assert policy.rules["presents"] == {"ecdsa": "refused", "rsa": "rsa", "default": "rsa"}
    assert policy.intended_state == "rsa-only"


def test_layers_override_in_order(tmp_path: Path, inventory) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("""
extends: ec-ca-signed
rules:
  expiry: {warn_days: 60}
  issuer: {ecdsa: {dn: "CN=Example EC Issuing CA"}}
services:
  tomcat: {presents: {default: any}}
nodes:
  pub:
    rules: {rsa_min_bits: 3072}
    services:
      tomcat: {signing: any}
""")
    policy = load_policy(path)
    tomcat = policy.expectation(endpoint(inventory, "pub", "tomcat"), Offer.DEFAULT, TLSVersion.TLS1_2)
    assert tomcat.presents == "any" and tomcat.signing == "any" and tomcat.rsa_min_bits == 3072
    assert tomcat.warn_days == 60 and tomcat.fail_days == 7  # deep merge keeps the profile's fail_days
    socketio = policy.expectation(endpoint(inventory, "pub", "socketio"), Offer.ECDSA, TLSVersion.TLS1_2)
    assert socketio.signing == "ca" and socketio.issuers["ecdsa"].dn == "CN=Example EC Issuing CA"
    policy.check_against(inventory)


def test_expectations_asked_probe_after_probe_follow_each_layer_and_policy(tmp_path: Path, inventory) -> None:
    """expectation() keeps an endpoint's merged rules for its next probes: the answers are still those of
    each endpoint's own layers, and a policy made from another by dataclasses.replace keeps none of them."""
    path = tmp_path / "policy.yaml"
    path.write_text("extends: ec-ca-signed\nnodes:\n  pub:\n    services:\n      tomcat: {rsa_min_bits: 4096}\n")
    policy = load_policy(path)
    layered, plain = endpoint(inventory, "pub", "tomcat"), endpoint(inventory, "cucm", "tomcat")
    for _ in range(2):   # the second round is answered from what the first one kept
        for offer in Offer:
            assert policy.expectation(layered, offer, TLSVersion.TLS1_2).rsa_min_bits == 4096
            assert policy.expectation(plain, offer, TLSVersion.TLS1_2).rsa_min_bits == 2048
    changed = replace(policy, nodes={"pub": {"rules": {}, "services": {"tomcat": {"rsa_min_bits": 3072}}}})
    assert changed.expectation(layered, Offer.RSA, TLSVersion.TLS1_2).rsa_min_bits == 3072
    assert policy.expectation(layered, Offer.RSA, TLSVersion.TLS1_2).rsa_min_bits == 4096


@pytest.mark.parametrize(("text", "fragment"), [
    ("extends: nope\n", "unknown profile"),
    ("rules: {signing: maybe}\n", "'signing' must be one of"),
    ("rules: {presents: {ecdsa: dsa}}\n", "presents.ecdsa must be one of"),
    ("rules: {expiry: {warn_days: 3, fail_days: 10}}\n", "warn_days is below fail_days"),
    ("rules: {issuer: {ecdsa: {sha256: xyz}}}\n", "not a SHA-256"),
    ("rules: {colour: red}\n", "unknown key 'colour'"),
    ("intended_state: S9\n", "unknown state"),
])
def test_bad_policy(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=fragment) as caught:
        load_policy(path)
    assert caught.value.file == path and caught.value.line is not None


def test_policy_naming_unknown_service_is_rejected(tmp_path: Path, inventory) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("services:\n  webex: {signing: any}\n")
    with pytest.raises(UsageError, match="service 'webex'"):
        load_policy(path).check_against(inventory)
