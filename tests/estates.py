"""Small estates on real peers for the operating tests (summary, metrics, shards): one nginx serving
one RSA and one ECDSA chain on many loopback ports, as a site that shares its certificates does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dualcert.lab.pki import CA, KeySpec

from .conftest import free_ports
from .thirdparty import nginx_serving

HOST = "shared.example.test"
SERVER = """    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {rsa_chain}; ssl_certificate_key {rsa_key};
        ssl_certificate {ec_chain}; ssl_certificate_key {ec_key};
        location / {{ return 200 "shared\\n"; }}
    }}
"""


@dataclass
class SharedEstate:
    directory: Path
    ports: list[int]
    roots: Path

    def inventory(self, path: Path, clusters: int = 1, site: str = "shared") -> Path:
        """One generic node per port, dealt over `clusters` clusters, every one trusting the two roots."""
        lines = [f"site: {site}", f"trust: {self.roots}", "nodes:"]
        for index, port in enumerate(self.ports):
            lines.append(f"  - {{name: web{index:02d}, host: {HOST}, address: 127.0.0.1, cluster: c{index % clusters}, "
                         f"services: [{{name: https, port: {port}}}]}}")
        path.write_text("\n".join(lines) + "\n")
        return path


@contextlib.contextmanager
def nginx_shared(directory: Path, endpoints: int, days: int, ports: list[int] | None = None,
                 roots: tuple[CA, CA] | None = None) -> Iterator[SharedEstate]:
    """nginx on `endpoints` ports (or the given ones, to serve an estate again), all presenting one RSA
    and one ECDSA leaf valid for `days` more days, issued under `roots` (new roots by default)."""
    from cryptography.hazmat.primitives import serialization

    rsa_root, ec_root = roots or (CA.root("Shared RSA Root", KeySpec.rsa()), CA.root("Shared EC Root",
                                                                                      KeySpec.ec("secp384r1")))
    rsa = rsa_root.sub_ca("Shared RSA Issuing CA").issue([HOST], KeySpec.rsa(), days=days).write(directory, "rsa")
    ec = ec_root.sub_ca("Shared EC Issuing CA").issue([HOST], KeySpec.ec(), days=days).write(directory, "ec")
    roots = directory / "roots.pem"
    roots.write_bytes(b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in (rsa_root, ec_root)))
    ports = ports or free_ports(endpoints)
    servers = "".join(SERVER.format(port=p, rsa_chain=rsa[0], rsa_key=rsa[1], ec_chain=ec[0], ec_key=ec[1])
                      for p in ports)
    with nginx_serving(directory, servers, ports[-1]):   # thirdparty's nginx set-up, our server blocks
        yield SharedEstate(directory, ports, roots)
