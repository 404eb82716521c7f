"""chain_lint's order check (facts/lint.order_deviation) on generated chains: after the leaf, each
presented certificate must certify the one before it (RFC 5246 7.4.2); the taxonomy serves the same
reversed chain from nginx (tests/test_taxonomy.py)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from dualcert.facts.chain import chain_facts
from dualcert.facts.lint import order_deviation

from .taxonomy_pki import Cert, ca, leaf


def order(*chain: Cert) -> str | None:
    return order_deviation(chain_facts([c.cert.public_bytes(serialization.Encoding.DER) for c in chain]).certs)


def test_in_order_chains_pass() -> None:
    root = ca("Order Root", "order-root", None)
    policy = ca("Order Policy CA", "order-policy", root)
    issuing = ca("Order Issuing CA", "order-issuing", policy)
    server = leaf("order.example.test", issuing)
    assert order(server) is None
    assert order(server, issuing, policy) is None
    assert order(server, issuing, policy, root) is None   # the root sent too: still in order


def test_a_cross_certificate_after_its_subordinate_is_in_order() -> None:
    old_root, new_root = ca("Order Old Root", "order-old", None), ca("Order New Root", "order-new", None)
    cross = ca("Order New Root", "order-new", old_root)
    issuing = ca("Order Cross Issuing CA", "order-cross-issuing", new_root)
    assert order(leaf("cross.example.test", issuing), issuing, cross) is None


def test_reversed_intermediates_name_the_first_misplaced_certificate() -> None:
    root = ca("Order Root", "order-root", None)
    policy = ca("Order Policy CA", "order-policy", root)
    issuing = ca("Order Issuing CA", "order-issuing", policy)
    said = order(leaf("order.example.test", issuing), policy, issuing)
    assert said is not None
    assert "certificate 2 ('Order Policy CA') does not certify certificate 1 ('order.example.test')" in said
    assert "out of order" in said


def test_an_unrelated_certificate_is_out_of_place() -> None:
    root = ca("Order Root", "order-root", None)
    issuing = ca("Order Issuing CA", "order-issuing", root)
    stranger = ca("Order Stranger CA", "order-stranger", None)
    said = order(leaf("order.example.test", issuing), issuing, stranger)
    assert said is not None and "certificate 3 ('Order Stranger CA')" in said
