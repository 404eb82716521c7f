"""The embedded lab: real TLS servers on loopback reproducing the digest's states S1-S4
and rsa-only, with a PKI generated at run time. A product feature, not a test double.

    with Lab() as lab:
        print(lab.inventory_path, lab.policy_path)   # feed these to `dualcert run`
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from dualcert.lab.estate import (
    LabEndpoint,
    LabNode,
    LabPKI,
    build_endpoints,
    default_nodes,
    open_pki_dir,
    write_inventory,
    write_policy,
)
from dualcert.lab.server import LabServer


class Lab:
    def __init__(self, nodes: list[LabNode] | None = None, *, site: str = "lab", host: str = "127.0.0.1",
                 pki_dir: Path | None = None) -> None:
        self.nodes = nodes if nodes is not None else default_nodes()
        self.pki_dir = pki_dir  # keep the PKI and leaves here between runs (None: fresh, removed on stop)
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
            self.pki = LabPKI(open_pki_dir(self.pki_dir) if self.pki_dir is not None else None)
            trust = self.workdir / "tomcat-trust.pem"
            trust.write_bytes(self.pki.roots_pem())
            self.endpoints = build_endpoints(self.nodes, self.pki, self.workdir)
            ports = self._kept_ports()
            for endpoint in self.endpoints:
                endpoint.served.host = self.host
                endpoint.served.preferred_port = ports.get(f"{endpoint.node.name}:{endpoint.service.name}", 0)
            self.server = LabServer([e.served for e in self.endpoints]).start()
            self._keep_ports()
            write_inventory(self.inventory_path, self.site, self.endpoints, trust)
            write_policy(self.policy_path, self.pki)
        except BaseException:
            self.stop()
            raise
        return self

    def _kept_ports(self) -> dict[str, int]:
        """A kept lab (`pki_dir`) listens where it did last time when it can, so ports do not show as changes."""
        path = self.pki_dir / "ports.json" if self.pki_dir is not None else None
        if path is None or not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}

    def _keep_ports(self) -> None:
        if self.pki_dir is None:
            return
        ports = {**self._kept_ports(), **{f"{e.node.name}:{e.service.name}": e.served.port for e in self.endpoints}}
        fd = os.open(self.pki_dir / "ports.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(ports, handle, indent=1, sort_keys=True)

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
