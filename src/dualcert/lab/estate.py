"""The lab's estate: which certificates each node holds in each deployment state, how its
services prefer them, and the inventory/policy files that describe it to the suite."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization

from dualcert.errors import UsageError
from dualcert.estate.catalog import ServiceSpec, load_catalog
from dualcert.estate.release import parse_release
from dualcert.estate.releases import ServiceRelease, resolve
from dualcert.lab.pki import CA, Issued, KeySpec, self_signed
from dualcert.lab.server import ServedEndpoint
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.states import STATES
from dualcert.probe.hello import ECDSA_SIGALGS, RSA_SIGALGS, SHA1_SIGALGS
from dualcert.probe.tls import server_context

# What the digest's table says each state holds: (RSA certificate, ECDSA certificate).
STATE_CERTS = {
    "S1": ("self", "self"),
    "S2": ("rsa-ca", "rsa-ca"),     # tomcat-ECDSA signed by the RSA CA (CSCvb58580)
    "S3": ("rsa-ca", "ec-ca"),      # best practice
    "S4": ("rsa-ca", "self"),
    "rsa-only": ("rsa-ca", None),   # ECDSA-disable COP: never presented
}
DOMAIN = "lab.dualcert.test"

# Browser-like preference lists for the servers, RSA-first or ECDSA-first: (TLS 1.2 ciphers, sigalgs).
_RSA_FIRST = (*RSA_SIGALGS, SHA1_SIGALGS[Offer.RSA][0], *ECDSA_SIGALGS, SHA1_SIGALGS[Offer.ECDSA][0])
_ECDSA_FIRST = (*ECDSA_SIGALGS, SHA1_SIGALGS[Offer.ECDSA][0], *RSA_SIGALGS, SHA1_SIGALGS[Offer.RSA][0])
PREFERENCE_LISTS = {"rsa": ("aRSA:aECDSA:!aNULL:@SECLEVEL=0", ":".join(_RSA_FIRST)),
           "ecdsa": ("aECDSA:aRSA:!aNULL:@SECLEVEL=0", ":".join(_ECDSA_FIRST))}
# The lab's servers put ECDSA first on these services and RSA first on every other: the digest's table, row S3
# (Cisco, "Configure the UCCX solution for ECDSA certificates", UCCX 11.5: a browser gets ECDSA from Socket.IO and
# SocialMiner Openfire, RSA from the Tomcats and UCCX Openfire). Deliberately not the catalog's `prefers`, which
# the policy reads: the lab predicts from what its servers are configured to do (lab/expected.py), so a catalog
# and a policy that agree on a mistake still show as a deviation.
ECDSA_FIRST = frozenset({("uccx", "socketio"), ("socialminer", "openfire")})
PREFERENCE_SOURCE = "dualcert/lab/estate.py, server_preference()"


def server_preference(node: LabNode, service: str) -> str:
    """The key family the lab's server for `service` on `node` puts first (ECDSA_FIRST); RSA first in S2,
    whose row of the digest's table is RSA throughout: Cisco does not show browsers an ECDSA certificate
    chained through RSA."""
    return "ecdsa" if node.state != "S2" and (node.role, service) in ECDSA_FIRST else "rsa"


@dataclass(frozen=True)
class LabNode:
    name: str
    role: str
    cluster: str
    state: str
    version: str | None = None   # the inventory's `version:`; the catalog's release then says what is presented

    @property
    def host(self) -> str:
        return f"{self.name}.{DOMAIN}"


def default_nodes(states: tuple[str, ...] = STATES, collab: bool = True, *,
                  state_names: bool = True) -> list[LabNode]:
    """A UCCX publisher, subscriber and SocialMiner per state; plus, in S3, a CUCM and an
    IM&P node so the catalog's other roles (and XMPP STARTTLS) are exercised; plus, when S3
    and S4 are both shown, a cluster whose subscriber alone is in S4 (the diagnosis says
    "mixed" and names it).

    Nodes are named after their state (`s4-uccx-pub`) so that states can run side by side;
    `state_names=False` (one state only) names them `uccx-pub`, `uccx-sub`, `sm`: one estate
    that can be moved from state to state between runs, e.g. to compare S4 with S3."""
    if not state_names and len(states) != 1:
        raise ValueError("nodes without the state in their names need exactly one state")
    nodes: list[LabNode] = []
    for state in states:
        cluster = state.lower() if state_names else "uccx"
        prefix = f"{cluster}-" if state_names else ""
        nodes += [LabNode(f"{prefix}uccx-pub", "uccx", cluster, state),
                  LabNode(f"{prefix}uccx-sub", "uccx", cluster, state),
                  LabNode(f"{prefix}sm", "socialminer", cluster, state)]
    if collab:
        nodes += [LabNode("collab-cucm", "cucm", "collab", "S3"), LabNode("collab-imp", "imp", "collab", "S3")]
    if "S3" in states and "S4" in states:
        nodes += [LabNode("mixed-uccx-pub", "uccx", "mixed", "S3"), LabNode("mixed-uccx-sub", "uccx", "mixed", "S4"),
                  LabNode("mixed-sm", "socialminer", "mixed", "S3")]
    if collab and state_names and "S3" in states:
        nodes += release_nodes()
    return nodes


def release_nodes() -> list[LabNode]:
    """Release-specific nodes (CA-signed certificates, as S3): a UCCX 12.5 cluster, which presents RSA
    only by design, and a CUCM 15SU2 node (TLS 1.3 picking the certificate by signature_algorithms on
    5061; HTTPS RSA only, the HTTPS Ciphers parameter's default)."""
    return [LabNode("r125-uccx-pub", "uccx", "r125", "S3", "12.5(1)"),
            LabNode("r125-uccx-sub", "uccx", "r125", "S3", "12.5(1)"),
            LabNode("r125-sm", "socialminer", "r125", "S3", "12.5(1)"),
            LabNode("cucm15-pub", "cucm", "cucm15", "S3", "15SU2")]


def with_release(nodes: list[LabNode], release: str) -> list[LabNode]:
    """`dualcert lab --release`: the UCCX and SocialMiner nodes without a version get this one."""
    trains = load_catalog()["uccx"].trains
    try:
        train = parse_release(release).train
    except ValueError as exc:
        raise UsageError(f"--release: {exc}") from None
    if train not in trains:
        raise UsageError(f"--release {release}: not a UCCX release the catalog knows ({', '.join(trains)})",
                         fix="give one of those trains, e.g. --release 11.5(1) or --release 12.5(1)")
    return [replace(n, version=release) if n.role in ("uccx", "socialminer") and n.version is None else n
            for n in nodes]


def lab_services(node: LabNode) -> list[tuple[ServiceSpec, ServiceRelease | None]]:
    """The node's services as its release has them (no version: the catalog's, as today)."""
    role = load_catalog()[node.role]
    if node.version is None:
        return [(spec, None) for spec in role.services.values()]
    parameters = {p.name: p.default for p in role.parameters.values()}
    view, specs = resolve(role.name, parse_release(node.version), role.releases, dict(role.services), parameters)
    return [(spec, view.services.get(name)) for name, spec in specs.items()]


class LabPKI:
    """RSA root + issuing CA, EC root + issuing CA; leaves are issued per node on demand.

    With a `store` (a private directory, `dualcert lab --pki-dir`), the CAs and every leaf
    are kept there and reused by the next lab: a leaf is the same certificate as long as
    its node, unit, key family and kind (self, rsa-ca, ec-ca) are the same, so moving the
    lab from one state to another changes only the certificates the state changes."""

    def __init__(self, store: Path | None = None) -> None:
        self.store = store
        self.rsa_root = self._ca("rsa-root", lambda: CA.root("dualcert Lab RSA Root CA", KeySpec.rsa(2048)))
        self.rsa_issuing = self._ca("rsa-issuing", lambda: self.rsa_root.sub_ca("dualcert Lab RSA Issuing CA"))
        self.ec_root = self._ca("ec-root", lambda: CA.root("dualcert Lab EC Root CA", KeySpec.ec("secp384r1")))
        self.ec_issuing = self._ca("ec-issuing", lambda: self.ec_root.sub_ca("dualcert Lab EC Issuing CA"))

    def _ca(self, stem: str, make: Callable[[], CA]) -> CA:
        kept = self._kept(stem)
        if kept is not None:
            return CA(kept.cert, kept.key)
        ca = make()
        if self.store is not None:
            Issued(ca.cert, ca.key).write(self.store, stem)
        return ca

    def _kept(self, stem: str) -> Issued | None:
        """A stored certificate + key still valid for a day, or None (then it is made anew)."""
        if self.store is None:
            return None
        chain, key = self.store / f"{stem}.chain.pem", self.store / f"{stem}.key.pem"
        if not (chain.exists() and key.exists()):
            return None
        issued = Issued.load(chain, key)
        if issued.cert.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
            return None
        return issued

    def roots_pem(self) -> bytes:
        return b"".join(ca.cert.public_bytes(serialization.Encoding.PEM) for ca in (self.rsa_root, self.ec_root))

    def leaf(self, kind: str, family: str, names: list[str], stem: str | None = None) -> Issued:
        """A new leaf; with a store and a `stem`, the kept one for (stem, family, kind) if there is one."""
        kept_as = f"leaf-{stem}-{family}-{kind}" if stem else None
        kept = self._kept(kept_as) if kept_as else None
        if kept is not None:
            return kept
        spec = KeySpec.ec() if family == "ec" else KeySpec.rsa()
        if kind == "self":
            issued = self_signed(names, spec)
        else:
            issued = (self.ec_issuing if kind == "ec-ca" else self.rsa_issuing).issue(names, spec)
        if self.store is not None and kept_as:
            issued.write(self.store, kept_as)
        return issued


def open_pki_dir(path: Path) -> Path:
    """The user's directory for a kept lab PKI: created 0700, or refused if others can read it
    (it holds private keys, like ~/.ssh)."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory", fix="give a directory for the lab's keys (--pki-dir DIR)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise UsageError(f"{path} is accessible by other users (mode {mode:o}) and would hold private keys",
                         fix=f"chmod 700 {path}, or give a new directory")
    if path.stat().st_uid != os.getuid():
        raise UsageError(f"{path} belongs to another user", fix="give a directory of your own")
    return path


@dataclass
class LabEndpoint:
    node: LabNode
    service: ServiceSpec
    served: ServedEndpoint
    families: tuple[str, ...] = ("rsa",)  # the key families of the chains its server holds: rsa, ecdsa


def build_endpoints(nodes: list[LabNode], pki: LabPKI, keydir: Path) -> list[LabEndpoint]:
    endpoints: list[LabEndpoint] = []
    for node in nodes:
        rsa_kind, ec_kind = STATE_CERTS[node.state]
        # One certificate per unit per node, shared by every service presenting that unit.
        issued: dict[tuple[str, str], tuple[Path, Path]] = {}

        def files(unit: str, family: str, kind: str, node: LabNode = node,
                  issued: dict[tuple[str, str], tuple[Path, Path]] = issued) -> tuple[Path, Path]:
            if (unit, family) not in issued:
                leaf = pki.leaf(kind, family, [node.host], stem=f"{node.name}-{unit}")
                issued[(unit, family)] = leaf.write(keydir, f"{node.name}-{unit}")
            return issued[(unit, family)]

        for service, release in lab_services(node):
            chains = [files(service.rsa_unit or "rsa", "rsa", rsa_kind)]
            if ec_kind and service.ecdsa_unit and not (release and release.rsa_only_by_design):
                chains.append(files(service.ecdsa_unit, "ec", ec_kind))
            ciphers, sigalgs = PREFERENCE_LISTS[server_preference(node, service.name)]
            absent = release is not None and release.tls13 == "absent"
            versions = (TLSVersion.TLS1_2,) if absent else (TLSVersion.TLS1_2, TLSVersion.TLS1_3)
            context = server_context(chains, cipher_preference=ciphers, sigalgs_preference=sigalgs, versions=versions)
            served = ServedEndpoint(context, starttls=service.starttls, domain=node.host, sigalgs_preference=sigalgs)
            endpoints.append(LabEndpoint(node, service, served, ("rsa", "ecdsa")[:len(chains)]))
    return endpoints


def write_inventory(path: Path, site: str, endpoints: list[LabEndpoint], trust_file: Path) -> None:
    nodes: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        entry = nodes.setdefault(ep.node.name, {
            "name": ep.node.name, "host": ep.node.host, "address": ep.served.host, "role": ep.node.role,
            "cluster": ep.node.cluster, **({"version": ep.node.version} if ep.node.version else {}), "services": []})
        service: dict[str, Any] = {"name": ep.service.name, "port": ep.served.port}
        if ep.service.plaintext_port is not None:
            # The catalog's plain-text twin port means nothing on loopback's random ports.
            service["plaintext_port"] = None
        entry["services"].append(service)
    document = {"site": site, "trust": str(trust_file), "nodes": list(nodes.values())}
    path.write_text("# Generated by `dualcert lab`: the lab's servers on loopback.\n"
                    + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def write_policy(path: Path, pki: LabPKI) -> None:
    document = {
        "extends": "ec-ca-signed",
        "intended_state": "S3",
        # Nodes with a `version:` are judged by what their release presents (the others as S3).
        "release": "auto",
        "rules": {"issuer": {
            "ecdsa": {"dn": pki.ec_issuing.cert.subject.rfc4514_string()},
            "rsa": {"dn": pki.rsa_issuing.cert.subject.rfc4514_string()},
        }},
    }
    path.write_text("# Generated by `dualcert lab`: best practice (S3) with the lab's issuing CAs.\n"
                    + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
