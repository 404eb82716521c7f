"""How long the diagnosis and the pair/cluster rules take on a large estate (pure: no network).

    python bench/estate.py [clusters]

Builds `clusters` UCCX clusters (publisher, subscriber, SocialMiner: 12 services each), every
service probed with the ecdsa, rsa and default offers over TLS 1.2 and 1.3, nodes spread over
the digest's states, then prints the time of one diagnosis and of every node and cluster rule."""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from dualcert.estate.inventory import load_inventory
from dualcert.facts.chain import clear_caches
from dualcert.lab.pki import CA, KeySpec, self_signed
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.rules.diagnosis import diagnose
from dualcert.rules.estate_rules import CLUSTER_RULES, NODE_RULES, EstateView

STATES = ("S1", "S2", "S3", "S4", "rsa-only")


def der(issued) -> tuple[bytes, ...]:
    return tuple(c.public_bytes(serialization.Encoding.DER) for c in [issued.cert, *issued.chain])


def main(clusters: int) -> None:
    rsa_ca = CA.root("Bench RSA", KeySpec.rsa()).sub_ca("Bench RSA Issuing")
    ec_ca = CA.root("Bench EC", KeySpec.ec()).sub_ca("Bench EC Issuing")
    names = ["node.bench.test"]
    chains = {"rsa-self": der(self_signed(names, KeySpec.rsa())), "rsa-ca": der(rsa_ca.issue(names, KeySpec.rsa())),
              "ec-self": der(self_signed(names, KeySpec.ec())), "ec-rsa": der(rsa_ca.issue(names, KeySpec.ec())),
              "ec-ec": der(ec_ca.issue(names, KeySpec.ec()))}
    shown = {"S1": ("rsa-self", "ec-self"), "S2": ("rsa-ca", "ec-rsa"), "S3": ("rsa-ca", "ec-ec"),
             "S4": ("rsa-ca", "ec-self"), "rsa-only": ("rsa-ca", None)}
    with tempfile.TemporaryDirectory() as tmp:
        lines = ["site: bench", "nodes:"]
        states: dict[str, str] = {}
        for c in range(clusters):
            for i, (suffix, role) in enumerate((("pub", "uccx"), ("sub", "uccx"), ("sm", "socialminer"))):
                name = f"c{c}-{suffix}"
                states[name] = STATES[(c + (i == 1)) % len(STATES)]   # subscribers differ: mixed clusters
                lines.append(f"  - {{name: {name}, host: {name}.bench.test, address: 127.0.0.1, role: {role}, "
                             f"cluster: c{c}}}")
        path = Path(tmp) / "bench.yaml"
        path.write_text("\n".join(lines) + "\n")
        inventory = load_inventory(path)
    observations: dict[ProbeKey, Observation] = {}
    for endpoint in inventory.endpoints():
        rsa, ec = shown[states[endpoint.node]]
        for offer in Offer:
            for version in TLSVersion:
                key = ProbeKey(endpoint.node, endpoint.service.name, offer, version)
                chain = chains[rsa] if offer is Offer.RSA else (chains[ec] if ec else None)
                if offer is Offer.DEFAULT:
                    chain = chains[rsa]
                observations[key] = Observation(key, endpoint.host, endpoint.address, endpoint.port,
                                                Outcome.OK if chain else Outcome.REFUSED, chain_der=chain or ())
    started = time.perf_counter()
    result = diagnose(inventory, observations, "S3")
    diagnosis_s = time.perf_counter() - started
    started = time.perf_counter()
    view = EstateView(inventory, observations)
    findings = [rule(view, n.name) for n in inventory.nodes for rule in NODE_RULES.values()]
    findings += [rule(view, c.cluster) for c in result for rule in CLUSTER_RULES.values()]
    rules_s = time.perf_counter() - started
    # Memory apart from time: tracemalloc slows everything it watches.
    clear_caches()
    tracemalloc.start()
    diagnose(inventory, observations, "S3")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mixed = sum(1 for d in result if d.state == "mixed")
    print(f"estate: {clusters} clusters, {len(inventory.nodes)} nodes, {len(inventory.endpoints())} services, "
          f"{len(observations)} observations")
    print(f"diagnosis: {diagnosis_s:.3f}s ({mixed} mixed clusters)")
    print(f"pair and cluster rules: {rules_s:.3f}s ({len(findings)} findings)")
    print(f"peak traced memory of one diagnosis: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
