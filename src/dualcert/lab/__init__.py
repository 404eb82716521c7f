"""The embedded lab: real TLS servers on loopback reproducing the digest's states S1-S4
and rsa-only, with a PKI generated at run time. A product feature, not a test double.

    with Lab() as lab:
        print(lab.inventory_path, lab.policy_path)   # feed these to `dualcert run`
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .estate import STATES, LabEndpoint, LabNode, LabPKI, build_endpoints, default_nodes, write_inventory, write_policy
from .server import LabServer

__all__ = ["STATES", "Lab", "LabNode"]


class Lab:
    def __init__(self, nodes: list[LabNode] | None = None, *, site: str = "lab", host: str = "127.0.0.1") -> None:
        self.nodes = nodes if nodes is not None else default_nodes()
        self.site, self.host = site, host
        self.workdir: Path | None = None
        self.server: LabServer | None = None
        self.endpoints: list[LabEndpoint] = []

    @property
    def inventory_path(self) -> Path:
        assert self.workdir is not None, "the lab is not started"
        return self.workdir / "inventory.yaml"

    @property
    def policy_path(self) -> Path:
        assert self.workdir is not None, "the lab is not started"
        return self.workdir / "policy.yaml"

    def start(self) -> Lab:
        # mkdtemp creates the directory 0700: keys are readable by this user alone.
        self.workdir = Path(tempfile.mkdtemp(prefix="dualcert-lab-"))
        try:
            self.pki = LabPKI()
            trust = self.workdir / "tomcat-trust.pem"
            trust.write_bytes(self.pki.roots_pem())
            self.endpoints = build_endpoints(self.nodes, self.pki, self.workdir)
            for endpoint in self.endpoints:
                endpoint.served.host = self.host
            self.server = LabServer([e.served for e in self.endpoints]).start()
            write_inventory(self.inventory_path, self.site, self.endpoints, trust)
            write_policy(self.policy_path, self.pki)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
