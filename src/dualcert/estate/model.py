"""The estate as data: nodes, their TLS services (endpoints) and the inventory that lists them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

from dualcert.estate.catalog import ServiceSpec
from dualcert.estate.releases import NodeRelease, ServiceRelease
from dualcert.estate.vocabulary import VOS, Vocabulary

MOZILLA = "mozilla"  # `trust: mozilla`: Mozilla's root program instead of a site bundle


@dataclass(frozen=True)
class Endpoint:
    """One TLS service on one node: the unit that is probed."""

    node: str
    cluster: str
    role: str
    host: str
    address: str | None
    service: ServiceSpec
    # What the node's release says of this service (no `version:`: None); not part of the endpoint's identity.
    release: ServiceRelease | None = field(default=None, compare=False)
    vocabulary: Vocabulary = field(default=VOS, compare=False)   # its role's words

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def connect_to(self) -> str:
        return self.address or self.host

    @property
    def server_name(self) -> str:
        """The name the certificate must carry: the service's SNI override or the host, without the
        trailing dot of an absolute DNS name (RFC 6066: SNI carries none; certificates name hosts without it)."""
        return (self.service.sni or self.host).removesuffix(".")

    @property
    def sni(self) -> str | None:
        """SNI is a host name; RFC 6066 forbids sending an IP address."""
        name = self.server_name
        return None if is_ip(name) else name


@dataclass(frozen=True)
class Node:
    name: str
    host: str
    address: str | None
    role: str
    cluster: str
    services: tuple[ServiceSpec, ...]
    vocabulary: Vocabulary = VOS   # the role's words in remediation text (catalog `vocabulary:`)
    release: NodeRelease | None = None  # the inventory's `version:` resolved against the catalog
    # `labels:` of its cluster, then its own (estate/labels.py): what `--select` picks nodes by.
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    line: int | None = field(default=None, compare=False)   # where the inventory lists it, for errors

    def plaintext_twins(self) -> dict[str, int]:
        """Each service's plain-text twin port worth a look. A twin on a port this node serves TLS or
        STARTTLS on is no twin: an inventory that moves notification-xmpp to 5222 with `starttls: xmpp`
        makes the catalog's plain-text 5222 the service itself, where plain text is the protocol."""
        served = {s.port for s in self.services}
        return {s.name: s.plaintext_port for s in self.services
                if s.plaintext_port is not None and s.plaintext_port not in served}


@dataclass(frozen=True)
class Inventory:
    site: str
    path: Path
    trust: Path | str | None  # a PEM bundle, "mozilla", or None
    nodes: tuple[Node, ...]

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint(n.name, n.cluster, n.role, n.host, n.address, s,
                         n.release.services.get(s.name) if n.release else None, n.vocabulary)
                for n in self.nodes for s in n.services]

    def releases(self) -> dict[str, str]:
        """node -> its `version:` as written, for the nodes that have one."""
        return {n.name: str(n.release.release) for n in self.nodes if n.release is not None}

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def has(self, name: str) -> bool:
        return name in self._by_name

    def cluster_nodes(self, cluster: str) -> list[Node]:
        """The cluster's nodes, in inventory order."""
        return list(self._by_cluster.get(cluster, ()))

    # Indexes, built on first use: the estate rules ask per node and per cluster, and a scan of the
    # nodes per question was quadratic (10,000 nodes: seconds).
    @cached_property
    def _by_name(self) -> dict[str, Node]:
        return {n.name: n for n in reversed(self.nodes)}   # the first of a repeated name, as a scan found

    @cached_property
    def _by_cluster(self) -> dict[str, list[Node]]:
        found: dict[str, list[Node]] = {}
        for node in self.nodes:
            found.setdefault(node.cluster, []).append(node)
        return found


@cache   # asked for each probe's SNI; a host name costs ipaddress two exceptions
def is_ip(value: str) -> bool:
    """An IPv4 or IPv6 address (not a host name)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
