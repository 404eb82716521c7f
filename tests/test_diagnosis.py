"""The diagnosis and the pair/cluster rules as pure functions, from stored chains (tests/data/certs)
and certificates generated here: each state of the digest, mixed, unknown, and the rules' failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dualcert.estate.inventory import load_inventory
from dualcert.estate.model import Inventory
from dualcert.lab.pki import CA, KeySpec
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.rules.diagnosis import diagnose
from dualcert.rules.estate_rules import EstateView, PlainCheck
from dualcert.rules.presented import reading
from dualcert.rules.probe_rules import Status
from dualcert.rules.registry import RULES

from .conftest import chain_der

# What each state's node shows to (RSA-only, ECDSA-only) offers, as stored chains; None = refused.
STATE_CHAINS = {
    "S1": ("rsa_self", "ec_self"),
    "S2": ("rsa_by_rsa_ca", "ec_by_rsa_ca"),
    "S3": ("rsa_by_rsa_ca", "ec_by_ec_ca"),
    "S4": ("rsa_by_rsa_ca", "ec_self"),
    "rsa-only": ("rsa_by_rsa_ca", None),
}


def inventory(tmp_path: Path, nodes: dict[str, str], role: str = "socialminer") -> Inventory:
    """Nodes by name -> cluster; the SocialMiner role brings two services (tomcat 443, openfire 7443)."""
    lines = ["site: t", "nodes:"]
    for name, cluster in nodes.items():
        lines += [f"  - {{name: {name}, host: {name}.example.test, address: 127.0.0.1, role: {role}, "
                  f"cluster: {cluster}}}"]
    path = tmp_path / "inv.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load_inventory(path)


def seen(node: str, service: str, offer: Offer, chain: str | tuple[bytes, ...] | None,
         outcome: Outcome | None = None, version: TLSVersion = TLSVersion.TLS1_2) -> Observation:
    key = ProbeKey(node, service, offer, version)
    if outcome is not None:
        return Observation(key, f"{node}.example.test", "127.0.0.1", 443, outcome)
    if chain is None:
        return Observation(key, f"{node}.example.test", "127.0.0.1", 443, Outcome.REFUSED, alert="handshake_failure")
    der = chain_der(chain) if isinstance(chain, str) else chain
    return Observation(key, f"{node}.example.test", "127.0.0.1", 443, Outcome.OK, chain_der=der)


def node_in_state(node: str, state: str, services: tuple[str, ...] = ("tomcat", "openfire")) -> list[Observation]:
    rsa, ecdsa = STATE_CHAINS[state]
    return [o for s in services for o in (seen(node, s, Offer.RSA, rsa), seen(node, s, Offer.ECDSA, ecdsa))]


def by_key(observations: list[Observation]) -> dict[ProbeKey, Observation]:
    return {o.key: o for o in observations}


@pytest.mark.parametrize("state", list(STATE_CHAINS))
def test_each_state_is_named_from_the_two_offers(tmp_path: Path, state: str) -> None:
    inv = inventory(tmp_path, {"a": "c", "b": "c"})
    [d] = diagnose(inv, by_key(node_in_state("a", state) + node_in_state("b", state)), "S3")
    assert (d.state, d.node_states, d.differs) == (state, {"a": state, "b": state}, ())
    assert bool(d.remediation) == (state != "S3")


def test_kinds_of_single_observations() -> None:
    assert reading(seen("a", "s", Offer.ECDSA, "ec_by_rsa_ca"), "ECDSA") == "rsa-ca"
    assert reading(seen("a", "s", Offer.ECDSA, "ec_by_ec_ca"), "ECDSA") == "ec-ca"
    assert reading(seen("a", "s", Offer.ECDSA, "rsa_self"), "ECDSA") == "wrong-family"
    assert reading(seen("a", "s", Offer.ECDSA, None), "ECDSA") == "refused"
    assert reading(seen("a", "s", Offer.RSA, None, Outcome.TIMEOUT), "RSA") is None
    # Only an alert (or a typed close before any certificate) is a refusal; a reset may hide a certificate.
    reset = Observation(ProbeKey("a", "s", Offer.ECDSA, TLSVersion.TLS1_2), "a", None, 443, Outcome.ERROR,
                        detail="connection reset by the server during the handshake", phase="handshake")
    assert reading(reset, "ECDSA") is None
    unreadable = seen("a", "s", Offer.ECDSA, (b"\x30\x03\x02\x01\x00",))
    assert reading(unreadable, "ECDSA") == "unknown"


def test_s2_fix_is_the_digests_procedure_naming_node_and_unit(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"uccx-sub": "c"}, role="uccx")
    services = tuple(s.name for s in inv.nodes[0].services)
    [d] = diagnose(inv, by_key(node_in_state("uccx-sub", "S2", services)), "S3")
    assert d.remediation == (
        "uccx-sub: tomcat-ECDSA is signed by an RSA CA: generate a tomcat-ECDSA CSR (Cisco Unified OS Administration "
        "> Security > Certificate Management), have an EC CA sign it, upload the EC root (and any intermediate) as "
        "tomcat-trust, upload the signed certificate as tomcat-ECDSA, then restart Cisco UCCX on publisher and "
        "subscriber; or, if your CA can sign only with RSA, install the UCCX COP (it disables ECDSA) for an RSA-only "
        "environment",)
    assert "chat/email gadget and the SocialMiner page do not load" in d.agent_experience


def test_mixed_names_the_node_that_differs(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"pub": "c", "sub": "c", "sm": "c"})
    observations = node_in_state("pub", "S3") + node_in_state("sub", "S4") + node_in_state("sm", "S3")
    [d] = diagnose(inv, by_key(observations), "S3")
    assert d.state == "mixed" and d.node_states == {"pub": "S3", "sub": "S4", "sm": "S3"}
    assert d.differs == ("sub is S4 (tomcat CA-signed, tomcat-ECDSA self-signed) while pub, sm are S3",)
    assert all(step.startswith("sub: tomcat-ECDSA is self-signed") for step in d.remediation)
    assert "on sub (S4)" in d.agent_experience and "on pub, sm (S3)" in d.agent_experience


def test_a_node_whose_services_disagree_is_mixed(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"sm": "c"})
    observations = node_in_state("sm", "S3", ("tomcat",)) + node_in_state("sm", "S4", ("openfire",))
    [d] = diagnose(inv, by_key(observations), "S3")
    assert d.state == "mixed"
    assert "tomcat (443) is S3" in d.nodes[0].why and "openfire (7443) is S4" in d.nodes[0].why


def test_unreachable_node_makes_the_cluster_unknown(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"pub": "c", "sub": "c"})
    dead = [seen("sub", s, o, None, Outcome.TIMEOUT) for s in ("tomcat", "openfire") for o in (Offer.RSA, Offer.ECDSA)]
    [d] = diagnose(inv, by_key(node_in_state("pub", "S3") + dead), "S3")
    assert d.state == "unknown" and d.node_states == {"pub": "S3", "sub": "unknown"}
    assert d.differs and d.differs[0].startswith("sub: no service answered")
    assert any("reachable" in step for step in d.remediation)


def test_intended_rsa_only_asks_for_the_cop(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"sm": "c"})
    [d] = diagnose(inv, by_key(node_in_state("sm", "S4")), "rsa-only")
    assert d.remediation and "install the SocialMiner COP" in d.remediation[0]


def test_one_cluster_per_name_default_site(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"a": "one", "b": "two"})
    clusters = diagnose(inv, by_key(node_in_state("a", "S1") + node_in_state("b", "S3")), "S3")
    assert [(d.cluster, d.state) for d in clusters] == [("one", "S1"), ("two", "S3")]


# --- pair and cluster rules ----------------------------------------------------------------------

def view(inv: Inventory, observations: list[Observation], **kwargs: object) -> EstateView:
    return EstateView(inv, by_key(observations), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("state", "rule", "status"), [
    ("S4", "twin_signing", Status.FAIL), ("S3", "twin_signing", Status.PASS), ("rsa-only", "twin_signing", Status.PASS),
    ("S1", "twin_signing", Status.NA), ("S2", "ecdsa_chain", Status.FAIL), ("S3", "ecdsa_chain", Status.PASS),
    ("rsa-only", "ecdsa_chain", Status.NA), ("S3", "unit_consistency", Status.PASS),
])
def test_node_rules_per_state(tmp_path: Path, state: str, rule: str, status: Status) -> None:
    inv = inventory(tmp_path, {"sm": "c"})
    finding = RULES[rule].check(view(inv, node_in_state("sm", state)), "sm")
    assert finding.status is status, finding
    if status is Status.FAIL:
        assert finding.fix and "sm" in finding.fix and "tomcat-ECDSA" in finding.fix


def test_unit_consistency_names_the_ports_that_differ(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"sm": "c"})
    observations = [seen("sm", "tomcat", Offer.RSA, "rsa_by_rsa_ca"), seen("sm", "openfire", Offer.RSA, "rsa_self")]
    finding = RULES["unit_consistency"].check(view(inv, observations), "sm")
    assert finding.status is Status.FAIL
    assert "tomcat differs across ports" in finding.message and "tomcat (443)" in finding.message
    assert "openfire (7443)" in finding.message and "re-upload the current certificate as tomcat" in finding.fix


def test_cluster_roots_self_signed_beside_ca_signed(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"pub": "c", "sub": "c"})
    finding = RULES["cluster_roots"].check(view(inv, node_in_state("pub", "S3") + node_in_state("sub", "S4")), "c")
    assert finding.status is Status.FAIL and "ECDSA chains lead to different roots" in finding.message
    assert finding.fix.startswith("on sub: have tomcat-ECDSA signed by the same CA")


def _pem_chain(issued) -> tuple[bytes, ...]:
    return tuple(c.public_bytes(serialization.Encoding.DER) for c in [issued.cert, *issued.chain])


def test_multi_server_certificate_must_name_every_node(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"pub": "c", "sub": "c", "sub2": "c"})
    ca = CA.root("Multi CA", KeySpec.rsa())
    shared = _pem_chain(ca.issue(["pub.example.test", "sub.example.test"], KeySpec.rsa()))
    full = _pem_chain(ca.issue(["pub.example.test", "sub.example.test", "sub2.example.test"], KeySpec.rsa()))
    ok = [seen(n, "tomcat", Offer.RSA, full) for n in ("pub", "sub", "sub2")]
    assert RULES["cluster_roots"].check(view(inv, ok), "c").status is Status.PASS
    gap = [seen(n, "tomcat", Offer.RSA, shared) for n in ("pub", "sub")] + [seen("sub2", "tomcat", Offer.RSA, full)]
    finding = RULES["cluster_roots"].check(view(inv, gap), "c")
    assert finding.status is Status.FAIL
    assert "names pub.example.test, sub.example.test but not sub2.example.test" in finding.message
    assert finding.fix.startswith("generate a tomcat CSR on the publisher with every node (") and \
        "(one multi-server certificate)" in finding.fix


def test_plaintext_listener_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    inv = inventory(tmp_path, {"uccx": "c"}, role="uccx")
    listening = {("uccx", "socketio"): PlainCheck(12014, True, "accepts"),
                 ("uccx", "notification-bosh"): PlainCheck(7071, False, "refused")}
    finding = RULES["plaintext_listener"].check(view(inv, [], plaintext=listening), "uccx")
    assert finding.status is Status.WARN and "12014" in finding.message and "report only" in finding.message
    assert RULES["plaintext_listener"].fails_as is Status.WARN  # the registry says so too (report only)
    closed = {k: PlainCheck(v.port, False, "refused") for k, v in listening.items()}
    assert RULES["plaintext_listener"].check(view(inv, [], plaintext=closed), "uccx").status is Status.PASS


def test_a_twin_on_a_port_the_node_serves_is_no_twin(tmp_path: Path) -> None:
    """notification-xmpp moved to the catalog's plain-text 5222 with STARTTLS: 5222 is the service
    itself, so neither its own twin nor notification-bosh's twin on a served port is reported."""
    path = tmp_path / "inv.yaml"
    path.write_text("site: t\nnodes:\n  - name: uccx\n    host: uccx.example.test\n    role: uccx\n    services:\n"
                    "      - {name: notification-xmpp, port: 5222, starttls: xmpp}\n"
                    "      - {name: notification-bosh, plaintext_port: 5222}\n")
    inv = load_inventory(path)
    twins = inv.node("uccx").plaintext_twins()
    assert "notification-xmpp" not in twins and "notification-bosh" not in twins and twins["socketio"] == 12014
    listening = {("uccx", "notification-xmpp"): PlainCheck(5222, True, "accepts"),
                 ("uccx", "notification-bosh"): PlainCheck(5222, True, "accepts"),
                 ("uccx", "socketio"): PlainCheck(12014, False, "refused")}
    finding = RULES["plaintext_listener"].check(view(inv, [], plaintext=listening), "uccx")
    assert finding.status is Status.PASS and "5222" not in finding.message, finding
