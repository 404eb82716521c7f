"""`role: X` is enough: an inventory with only name, host, address and role for a UCCX publisher,
subscriber, SocialMiner and CUCM node probes every catalog port of each, against real TLS
servers listening on those very ports (each node on its own loopback address)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import pytest
import yaml

from dualcert.estate.inventory import load_inventory
from dualcert.estate.model import Inventory
from dualcert.facts.chain import chain_facts
from dualcert.lab.estate import LabNode, LabPKI, build_endpoints
from dualcert.lab.server import LabServer
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.rules.diagnosis import diagnose

from .conftest import missing_capability

# Loopback addresses nobody else here uses, so the catalog's real ports (443, 8443, ...) are free.
NODES = {
    LabNode("uccx-pub", "uccx", "-", "S3"): "127.77.0.11",
    LabNode("uccx-sub", "uccx", "-", "S4"): "127.77.0.12",
    LabNode("sm", "socialminer", "-", "S3"): "127.77.0.13",
    LabNode("cucm", "cucm", "-", "S3"): "127.77.0.14",
}


def shipped_catalog_ports(role: str) -> set[int]:
    """The ports as written in the shipped YAML, read without dualcert's own loader."""
    text = (resources.files("dualcert.estate") / "data" / "catalog.yaml").read_text(encoding="utf-8")
    return {int(s["port"]) for s in yaml.safe_load(text)["roles"][role]["services"].values()}


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Inventory, dict[ProbeKey, Observation]]]:
    directory = tmp_path_factory.mktemp("catalog-estate")
    endpoints = build_endpoints(list(NODES), LabPKI(), directory)
    for endpoint in endpoints:
        endpoint.served.host, endpoint.served.port = NODES[endpoint.node], endpoint.service.port
    try:
        server = LabServer([e.served for e in endpoints]).start()
    except PermissionError:
        missing_capability("binding the catalog's ports below 1024 needs root (or CAP_NET_BIND_SERVICE)")
    try:
        lines = ["site: campus", "nodes:"]
        for node, address in NODES.items():
            lines += [f"  - name: {node.name}", f"    host: {node.host}", f"    address: {address}",
                      f"    role: {node.role}"]
        path = directory / "campus.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        inventory = load_inventory(path)
        tasks = [ProbeTask(e, o, TLSVersion.TLS1_2) for e in inventory.endpoints() for o in (Offer.ECDSA, Offer.RSA)]
        yield inventory, ProbeRunner(per_node=8).run(tasks)
    finally:
        server.stop()


def test_role_alone_brings_every_catalog_port(estate) -> None:
    inventory, _ = estate
    for node, address in NODES.items():
        endpoints = [e for e in inventory.endpoints() if e.node == node.name]
        assert {e.port for e in endpoints} == shipped_catalog_ports(node.role), node.name
        assert {e.connect_to for e in endpoints} == {address}
    assert len(inventory.endpoints()) == 5 + 5 + 2 + 8


def test_every_catalog_port_answers_with_its_nodes_certificate(estate) -> None:
    inventory, observations = estate
    probed = {(k.node, o.port) for k, o in observations.items()}
    assert probed == {(e.node, e.port) for e in inventory.endpoints()}
    for key, observation in observations.items():
        node = inventory.node(key.node)
        spec = next(s for s in node.services if s.name == key.service)
        if key.offer is Offer.ECDSA and spec.ecdsa_unit is None:  # CAPF, TVS: RSA only
            assert observation.outcome is Outcome.REFUSED, observation
            continue
        assert observation.outcome is Outcome.OK, observation
        leaf = chain_facts(observation.chain_der).leaf
        assert leaf.key_type == ("ECDSA" if key.offer is Offer.ECDSA else "RSA")
        assert leaf.san_dns == (node.host,), f"{key.test_id} answered with another node's certificate"


def test_cluster_defaults_to_the_site_and_the_odd_node_is_named(estate) -> None:
    inventory, observations = estate
    assert {n.cluster for n in inventory.nodes} == {"campus"}
    [diagnosis] = diagnose(inventory, observations, "S3")
    assert diagnosis.cluster == "campus" and diagnosis.state == "mixed"
    assert diagnosis.node_states == {"uccx-pub": "S3", "uccx-sub": "S4", "sm": "S3", "cucm": "S3"}
    assert len(diagnosis.differs) == 1 and diagnosis.differs[0].startswith("uccx-sub is S4")
    assert diagnosis.remediation == (
        "uccx-sub: tomcat-ECDSA is self-signed: generate a tomcat-ECDSA CSR (Cisco Unified OS Administration > "
        "Security > Certificate Management), have an EC CA sign it, upload the EC root (and any intermediate) as "
        "tomcat-trust, upload the signed certificate as tomcat-ECDSA, then restart Cisco UCCX on publisher and "
        "subscriber; or, if your CA can sign only with RSA, install the UCCX COP (it disables ECDSA) for an RSA-only "
        "environment",)


def test_cucm_units_are_read_separately(estate) -> None:
    """CUCM's CallManager and tomcat pairs both vote; CAPF and TVS (RSA only) do not."""
    inventory, observations = estate
    [diagnosis] = diagnose(inventory, observations, "S3")
    cucm = next(n for n in diagnosis.nodes if n.node == "cucm")
    assert {r.service for r in cucm.readings} == {"tomcat", "tomcat-443", "sip-tls", "cti-tls", "tftp-https-6971",
                                                  "tftp-https-6972"}
    assert "CallManager CA-signed, CallManager-ECDSA signed by an EC CA" in cucm.why

