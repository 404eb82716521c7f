"""Reading an inventory (dualcert YAML or Ansible INI/YAML) into the estate model (docs/inventory.md)."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from pathlib import Path

from dualcert.errors import UsageError
from dualcert.estate import ansible
from dualcert.estate.catalog import Role, ServiceSpec, load_catalog, read_service, role_or_error
from dualcert.estate.labels import read_labels
from dualcert.estate.model import MOZILLA, Inventory, Node, is_ip
from dualcert.estate.release import KNOWN_FORMS, parse_release
from dualcert.estate.releases import NodeRelease, resolve
from dualcert.estate.yamlfile import Reader, load_text, load_yaml, parse_yaml

INVENTORY_KEYS = frozenset({"site", "trust", "nodes", "catalog", "defaults", "clusters"})
NODE_KEYS = frozenset({"name", "host", "address", "role", "cluster", "services", "sni", "version", "parameters",
                       "labels"})
_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# `auto` tells dualcert's YAML and Ansible's INI and YAML apart by the file's name and first lines.
FORMATS = ("auto", "dualcert", "ansible-ini", "ansible-yaml")


def load_inventory(path: Path, fmt: str = "auto") -> Inventory:
    """dualcert's own YAML, or an Ansible inventory (INI or YAML): `fmt` is one of
    FORMATS; `auto` tells them apart by the file's name and first lines."""
    with _collector_paused():
        return _load(path, fmt)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing makes a few hundred thousand objects that live as long as the run, without cycles; the
    garbage collector's passes over them while they are made were half the load time of a
    10,000-node inventory (1.8 s -> 0.8 s). Restored as it was, however the load ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load(path: Path, fmt: str) -> Inventory:
    data = _read(path, fmt)
    if data is None:
        raise UsageError("the inventory is empty", file=path,
                         fix="list the site's nodes under 'nodes:' (see fixtures/uccx-site.example.yaml)")
    top = Reader(data, path, "the inventory")
    top.reject_unknown(INVENTORY_KEYS)
    site = top.get("site", str, None) or path.stem
    if not _NAME.match(site):
        raise top.error("site", f"site name {site!r} is not usable as a file name",
                        "use letters, digits, '.', '_' or '-' (it names reports/<site>.html)")
    roles = _catalog(top, path)
    trust = _trust(top, path)
    raw_nodes = top.get("nodes", list, required=True,
                        hint="add 'nodes:' with at least one '- name: ..., host: ..., role: ...' entry")
    if not raw_nodes:
        raise top.error("nodes", "the inventory lists no nodes", "add at least one node under 'nodes:'")
    nodes: list[Node] = []
    seen: dict[str, int | None] = {}
    # `defaults:` gives every node a `version:` and `parameters:` it does not set itself.
    defaults = top.child("defaults", top.get("defaults", dict, {}), "defaults")
    clusters = _clusters(top)
    for index, raw in enumerate(raw_nodes):
        node = _node(top.child("nodes", raw, f"node #{index + 1}"), roles, site, defaults, clusters)
        if node.name in seen:
            raise UsageError(f"duplicate node name {node.name!r} (first at line {seen[node.name]})",
                             file=path, line=getattr(raw, "line", None),
                             fix="give every node a unique name")
        seen[node.name] = getattr(raw, "line", None)
        nodes.append(node)
    named = dict.fromkeys(n.cluster for n in nodes)
    for cluster in clusters:
        if cluster not in named:
            raise top.child("clusters", top.data["clusters"], "clusters").error(
                cluster, f"clusters: {cluster!r} is no node's cluster",
                f"name a cluster the nodes have ({', '.join(named)}), or set 'cluster: {cluster}' on its nodes")
    return Inventory(site, path, trust, tuple(nodes))


def _clusters(top: Reader) -> dict[str, dict[str, str]]:
    """`clusters:`: each cluster's `labels:`, which its nodes inherit (a node's own labels add or override)."""
    section = top.child("clusters", top.get("clusters", dict, {}, hint="write 'clusters: {uccx: {labels: "
                                                                     "{site: dc1}}}'"), "clusters")
    labels = {}
    for name in section.data:
        cluster = section.child(name, section.data[name] or {}, f"cluster {name!r}")
        cluster.reject_unknown(frozenset({"labels"}))
        labels[str(name)] = read_labels(cluster, "labels", f"cluster {name!r}")
    return labels


def _read(path: Path, fmt: str) -> object:
    if fmt not in FORMATS:
        raise UsageError(f"unknown inventory format {fmt!r}", fix=f"use one of: {', '.join(FORMATS)}")
    if fmt == "dualcert":
        return load_yaml(path, what="inventory")
    text = load_text(path, what="inventory")
    parsed = None
    if fmt == "auto":
        fmt, parsed = ansible.detect_format(path, text)
    if fmt == "dualcert":
        return parse_yaml(text, path, what="inventory") if parsed is None else parsed

    def roles_for(catalog: str | None) -> set[str]:
        if catalog is None:
            return set(load_catalog())
        return set(_catalog(Reader({"catalog": catalog}, path, "the inventory's all vars"), path))

    return ansible.to_inventory_data(path, text, fmt, roles_for, parsed)


def _catalog(top: Reader, path: Path) -> dict[str, Role]:
    custom = top.get("catalog", str, None)
    if custom is None:
        return load_catalog()
    catalog_path = _relative_path(top, "catalog", path, custom)
    try:
        return load_catalog(catalog_path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise top.error("catalog", f"cannot read catalog {catalog_path}: {reason}",
                        "point 'catalog:' at a readable YAML file, relative to the inventory") from None


def _relative_path(top: Reader, key: str, path: Path, value: str) -> Path:
    """`value` resolved against the inventory's directory; a NUL byte is a usage error, not a crash."""
    try:
        return (path.parent / value).resolve()
    except (ValueError, OSError) as exc:
        raise top.error(key, f"{key!r} is not a usable path: {exc}", f"write '{key}:' as a file path") from None


def _trust(top: Reader, path: Path) -> Path | str | None:
    trust: str | None = top.get("trust", str, None)
    if trust is None or trust == MOZILLA:
        return trust
    bundle = _relative_path(top, "trust", path, trust)
    if bundle.is_dir():
        raise top.error("trust", f"trust bundle {bundle} is a directory, not a file",
                        "point 'trust:' at the PEM file itself")
    if not bundle.is_file():
        raise top.error("trust", f"trust bundle {bundle} does not exist",
                        "point 'trust:' at a PEM file of the site's roots (relative to the inventory), "
                        "or use 'trust: mozilla' for public CAs")
    try:
        data = bundle.read_bytes()
    except OSError as exc:
        raise top.error("trust", f"cannot read trust bundle {bundle}: {exc.strerror}",
                        "make the file readable") from None
    from dualcert.estate.trustbundle import load_pem_bundle  # deferred: cryptography loads only for a bundle

    try:
        load_pem_bundle(data)
    except ValueError as exc:
        raise top.error("trust", f"trust bundle {bundle} is not usable: {exc}",
                        "give a PEM file with one or more '-----BEGIN CERTIFICATE-----' blocks") from None
    return bundle


def _node(reader: Reader, roles: dict[str, Role], site: str, defaults: Reader,
          clusters: dict[str, dict[str, str]]) -> Node:
    reader.reject_unknown(NODE_KEYS)
    name = reader.get("name", str, required=True, hint="give every node a 'name:'")
    if not _NAME.match(name):
        raise reader.error("name", f"node name {name!r} has characters that cannot be used in test ids",
                           "use letters, digits, '.', '_' or '-'")
    host = reader.get("host", str, required=True, hint=f"give node {name!r} a 'host:' (its DNS name)")
    if not _HOST.match(host) and not is_ip(host):
        raise reader.error("host", f"host {host!r} of node {name!r} is not a DNS name or IP address",
                           "write the node's fully qualified name, e.g. uccx-pub.example.com")
    address = reader.get("address", str, None)
    if address is not None and not is_ip(address):
        raise reader.error("address", f"address {address!r} of node {name!r} is not an IP address",
                           "write an IPv4 or IPv6 address, or drop 'address:' to resolve the host name")
    role_name = reader.get("role", str, "generic")
    role = role_or_error(roles, role_name, reader, "role")
    cluster = reader.get("cluster", str, site)
    # The release first (it may drop or change the role's services), the inventory's own services over it.
    node_release, services = _release(reader, defaults, role, name, dict(role.services))
    raw_services = reader.get("services", list, [])
    for index, raw in enumerate(raw_services):
        service_reader = reader.child("services", raw, f"service #{index + 1} of node {name!r}")
        service_name = service_reader.get("name", str, required=True, hint="give every service a 'name:'")
        if not _NAME.match(service_name):
            raise service_reader.error("name", f"service name {service_name!r} has unusable characters",
                                       "use letters, digits, '.', '_' or '-'")
        spec = read_service(service_reader, service_name, services.get(service_name), role.units)
        if spec is None:
            services.pop(service_name, None)
        else:
            services[service_name] = spec
        if node_release is not None and "ecdsa_unit" in service_reader.data:
            node_release.services.pop(service_name, None)  # the inventory states the unit: it wins, measured
    if not services:
        raise reader.error(None, f"node {name!r} has no services (role {role_name!r} brings none)",
                           "give the node a role such as uccx, or list its 'services:' with name and port")
    sni = reader.get("sni", str, None)
    specs = tuple(s if s.sni or not sni else _with_sni(s, sni) for s in services.values())
    labels = {**clusters.get(cluster, {}), **read_labels(reader, "labels", f"node {name!r}")}
    return Node(name, host, address, role_name, cluster, specs, role.vocabulary, node_release, labels, reader.line)


def _release(reader: Reader, defaults: Reader, role: Role, name: str,
             services: dict[str, ServiceSpec]) -> tuple[NodeRelease | None, dict[str, ServiceSpec]]:
    """The node's `version:` (or the defaults') resolved against its role's release rules."""
    where = reader if "version" in reader.data else defaults
    raw = where.get("version", (str, int, float), None)
    if raw is None:
        return None, services
    try:
        release = parse_release(raw)
    except ValueError as exc:
        raise where.error("version", f"node {name!r}: {exc}", "use the release as Cisco writes it; the forms "
                          f"dualcert reads: {', '.join(KNOWN_FORMS)}") from None
    if role.trains and release.train not in role.trains:
        raise where.error("version", f"node {name!r}: release {str(raw)!r} ({release.train}) is not one the "
                          f"catalog knows for role {role.name!r}",
                          f"use a release of the trains {', '.join(role.trains)} (written like "
                          f"{', '.join(KNOWN_FORMS[:4])}), or drop 'version:' to have the suite measure everything")
    parameters = {p.name: p.default for p in role.parameters.values()}
    for source in (defaults, reader):
        given = source.child("parameters", source.get("parameters", dict, {}), f"parameters of node {name!r}")
        for key, value in given.data.items():
            if key not in role.parameters and source is defaults:
                continue  # `defaults:` serves every role; a parameter of another role is not this node's
            if key not in role.parameters:
                raise given.error(key, f"unknown parameter {key!r} for role {role.name!r}",
                                  f"use one of: {', '.join(role.parameters) or '(none for this role)'}")
            if str(value) not in role.parameters[key].values:
                raise given.error(key, f"parameter {key!r} must be one of {', '.join(role.parameters[key].values)}",
                                  f"e.g. {key}: {role.parameters[key].default}")
            parameters[key] = str(value)
    node_release, resolved = resolve(role.name, release, role.releases, services, parameters)
    return node_release, resolved


def _with_sni(spec: ServiceSpec, sni: str) -> ServiceSpec:
    from dataclasses import replace

    return replace(spec, sni=sni)
