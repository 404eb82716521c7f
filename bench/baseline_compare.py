"""How long comparing a large estate with its baseline takes: load two results JSON files,
compare every probe, render the diff. Prints figures; no network.

    .venv/bin/python bench/baseline_compare.py [NODES]

Each node has 8 services x 3 offers x 2 TLS versions = 48 probes; a tenth of the nodes
get a new ECDSA certificate, a few are renamed. The files are laid out as version 1 (dualcert-results/1, a probe
with its chain's facts), which every reader still reads."""

from __future__ import annotations

import copy
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dualcert.compare.comparison import compare
from dualcert.compare.results_file import SCHEMA_V1
from dualcert.compare.snapshot import load_snapshot
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.render.diff import render
from dualcert.render.results import probe_record

CERTS = Path(__file__).resolve().parents[1] / "tests" / "data" / "certs"
SERVICES = ("tomcat", "tomcat-443", "socketio", "notification-bosh", "notification-xmpp", "openfire", "sip", "cti")


def record(name: str) -> dict[str, object]:
    certs = x509.load_pem_x509_certificates((CERTS / f"{name}.pem").read_bytes())
    der = tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)
    key = ProbeKey("n", "s", Offer.ECDSA, TLSVersion.TLS1_2)
    return probe_record(Observation(key, "h", "127.0.0.1", 8443, Outcome.OK, chain_der=der), {})


def results(nodes: int, after: bool) -> dict[str, object]:
    templates = {"self": record("ec_self"), "ec": record("ec_by_ec_ca"), "rsa": record("rsa_by_rsa_ca")}
    probes = []
    for n in range(nodes):
        name = f"node{n:05d}" + ("-renamed" if after and n % 97 == 0 else "")
        signed = after and n % 10 == 0
        for service in SERVICES:
            for offer in ("ecdsa", "rsa", "default"):
                for version in ("tls1.2", "tls1.3"):
                    kind = "rsa" if offer == "rsa" else ("ec" if signed else "self")
                    probe = copy.deepcopy(templates[kind])
                    probe.update(node=name, service=service, offer=offer, tls_version=version)
                    probes.append(probe)
    return {"schema": SCHEMA_V1, "run": {"site": "bench", "started": "2027-01-01T00:00:00+00:00",
                                      "offers": ["ecdsa", "rsa", "default"], "tls_versions": ["tls1.2", "tls1.3"]},
            "probes": probes}


def main() -> None:
    nodes = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        old, new = Path(tmp) / "old.json", Path(tmp) / "new.json"
        old.write_text(json.dumps(results(nodes, after=False)))
        new.write_text(json.dumps(results(nodes, after=True)))
        size_mb = old.stat().st_size / 1e6
        started = time.perf_counter()
        base, current = load_snapshot(old), load_snapshot(new)
        loaded = time.perf_counter()
        comparison = compare(base, current)
        compared = time.perf_counter()
        text = render(comparison, "text")
        rendered = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"nodes: {nodes}, probes per run: {len(base.presentations)}, results JSON: {size_mb:.1f} MB each")
    print(f"load both: {loaded - started:.2f}s  compare: {compared - loaded:.2f}s  "
          f"render text: {rendered - compared:.2f}s ({len(text.splitlines())} lines)  peak RSS: {rss_mb:.0f} MB")
    print(comparison.summary())


if __name__ == "__main__":
    main()
