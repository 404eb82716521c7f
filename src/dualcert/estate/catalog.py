"""The service catalog: which services a role brings (see data/catalog.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path

from dualcert.estate.releases import Parameter, ReleaseRule, read_rules
from dualcert.estate.vocabulary import GENERIC, VOS, Vocabulary
from dualcert.estate.yamlfile import Reader, parse_yaml

STARTTLS_PROTOCOLS = ("xmpp", "xmpp-server", "smtp", "imap", "pop3", "ftp", "ldap", "postgres")
PREFERENCES = ("rsa", "ecdsa", "either")
SERVICE_KEYS = frozenset({"name", "port", "starttls", "rsa_unit", "ecdsa_unit", "prefers", "label", "note",
                          "xmpp_domain", "sni", "enabled", "plaintext_port"})
VOS_UNITS = ("tomcat", "tomcat-ECDSA")  # what a Cisco VOS service presents to RSA and to ECDSA offers


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    starttls: str | None = None
    rsa_unit: str | None = VOS_UNITS[0]
    ecdsa_unit: str | None = VOS_UNITS[1]
    prefers: str = "either"
    label: str = ""
    note: str = ""
    xmpp_domain: str | None = None
    sni: str | None = None
    # The plain-text twin of this service that the vendor's hardening guidance turns off, so the
    # secure port should be the only one; a listener there is reported (never failed by default).
    plaintext_port: int | None = None


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    services: dict[str, ServiceSpec]
    # The words of its remediation text (catalog `vocabulary:`): VOS slots and COPs, or plain words.
    vocabulary: Vocabulary = VOS
    # What each release presents (data/catalog.yaml `releases:`; estate/releases.py): the trains
    # the catalog knows (a `version:` outside them is an error), node parameters, and the rules.
    trains: tuple[str, ...] = ()
    parameters: dict[str, Parameter] = field(default_factory=dict)
    releases: tuple[ReleaseRule, ...] = ()
    # The certificate units of services the catalog does not list for this role (catalog `units:`):
    # a VOS node's extra service presents tomcat/tomcat-ECDSA; a generic server's, its RSA/ECDSA certificate.
    units: tuple[str, str] = VOS_UNITS


def read_service(reader: Reader, name: str, base: ServiceSpec | None,
                 units: tuple[str, str] | None = None) -> ServiceSpec | None:
    """Read one service mapping, on top of `base` (the role's default) when there is one, else with
    the role's default certificate `units` (RSA, ECDSA). Returns None for `enabled: false`."""
    reader.reject_unknown(SERVICE_KEYS)
    if reader.get("enabled", bool, True) is False:
        return None
    port = reader.get("port", int, base.port if base else None)
    if port is None:
        raise reader.error(None, f"service {name!r} has no port and no role default",
                           "add 'port: <number>' to the service")
    if not 1 <= port <= 65535:
        raise reader.error("port", f"port {port} of service {name!r} is out of range", "use a port from 1 to 65535")
    starttls = reader.get("starttls", str, base.starttls if base else None)
    if starttls is not None and starttls not in STARTTLS_PROTOCOLS:
        raise reader.error("starttls", f"unknown starttls protocol {starttls!r}",
                           f"use one of: {', '.join(STARTTLS_PROTOCOLS)}, or omit it for direct TLS")
    prefers = reader.get("prefers", str, base.prefers if base else "either")
    if prefers not in PREFERENCES:
        raise reader.error("prefers", f"'prefers' must be one of {', '.join(PREFERENCES)}, got {prefers!r}",
                           "say which family a browser offering both should get, or 'either'")
    rsa_unit, ecdsa_unit = units or VOS_UNITS
    template = base or ServiceSpec(name=name, port=port, rsa_unit=rsa_unit, ecdsa_unit=ecdsa_unit)
    plaintext_port = template.plaintext_port
    if "plaintext_port" in reader.data:
        plaintext_port = reader.get("plaintext_port", int, None)  # null: no plain-text twin to look for
        if plaintext_port is not None and not 1 <= plaintext_port <= 65535:
            raise reader.error("plaintext_port", f"plaintext_port {plaintext_port} of service {name!r} is out of "
                               "range", "use a port from 1 to 65535, or null")

    def text(key: str) -> str | None:
        if key not in reader.data:
            inherited: str | None = getattr(template, key)
            return inherited
        # An explicit null clears the default (e.g. `ecdsa_unit: null`: no ECDSA certificate).
        value: str | None = reader.get(key, str, None)
        return value

    return replace(
        template, name=name, port=port, starttls=starttls, prefers=prefers,
        rsa_unit=text("rsa_unit"), ecdsa_unit=text("ecdsa_unit"), label=text("label") or "",
        note=text("note") or "", xmpp_domain=text("xmpp_domain"), sni=text("sni"), plaintext_port=plaintext_port,
    )


def load_catalog(path: Path | None = None) -> dict[str, Role]:
    """The shipped catalog, or a user's catalog file of the same shape."""
    if path is None:
        return _shipped()
    return _parse(path.read_text(encoding="utf-8"), path)


@cache
def _shipped() -> dict[str, Role]:
    source = resources.files("dualcert.estate") / "data" / "catalog.yaml"
    return _parse(source.read_text(encoding="utf-8"), "dualcert/estate/data/catalog.yaml")


def _parse(text: str, path: Path | str) -> dict[str, Role]:
    top = Reader(parse_yaml(text, path, what="catalog"), path, "the catalog")
    roles_reader = top.child("roles", top.get("roles", dict, required=True), "roles")
    roles: dict[str, Role] = {}
    for role_name, role_data in roles_reader.data.items():
        role = roles_reader.child(role_name, role_data, f"role {role_name!r}")
        services_reader = role.child("services", role.get("services", dict, {}), f"services of role {role_name!r}")
        unit_names = role.child("units", role.get("units", dict, {}), f"units of role {role_name!r}")
        unit_names.reject_unknown(frozenset({"rsa", "ecdsa"}))
        units = (unit_names.get("rsa", str, VOS_UNITS[0]), unit_names.get("ecdsa", str, VOS_UNITS[1]))
        services: dict[str, ServiceSpec] = {}
        for service_name, service_data in services_reader.data.items():
            spec = read_service(services_reader.child(service_name, service_data, f"service {service_name!r}"),
                                service_name, None, units)
            if spec is not None:
                services[service_name] = spec
        releases = role.child("releases", role.get("releases", dict, {}), f"releases of role {role_name!r}")
        trains, parameters, rules = read_rules(releases, role_name)
        roles[role_name] = Role(role_name, role.get("description", str, ""), services,
                                _vocabulary(role, role_name), trains, parameters, rules, units)
    return roles


VOCABULARY_KEYS = frozenset({"vos", "manage", "restart", "disable_ecdsa", "enable_ecdsa", "users", "prompt",
                             "digest"})


def _vocabulary(role: Reader, role_name: str) -> Vocabulary:
    """The role's `vocabulary:`, on top of the VOS defaults (or of the generic words with `vos: false`).
    A role's `restart:` and `ecdsa_cop:` (the catalog's older keys) still say the restart and the COP."""
    words = role.child("vocabulary", role.get("vocabulary", dict, {}), f"vocabulary of role {role_name!r}")
    words.reject_unknown(VOCABULARY_KEYS)
    base = VOS if words.get("vos", bool, True) else GENERIC
    cop = role.get("ecdsa_cop", str, None)
    # `manage: null`: no page to name (the server's own configuration files).
    manage = None if words.data.get("manage", base.manage) is None else words.get("manage", str, base.manage)
    return Vocabulary(
        vos=base.vos, manage=manage,
        restart=words.get("restart", str, role.get("restart", str, base.restart)),
        disable_ecdsa=words.get("disable_ecdsa", str, f"install {cop}" if cop else base.disable_ecdsa),
        enable_ecdsa=words.get("enable_ecdsa", str, base.enable_ecdsa),
        users=words.get("users", str, base.users), prompt=words.get("prompt", str, base.prompt),
        digest=words.get("digest", bool, base.digest))


def role_or_error(roles: dict[str, Role], name: str, reader: Reader, key: str) -> Role:
    if name not in roles:
        raise reader.error(key, f"unknown role {name!r}", f"use one of: {', '.join(sorted(roles))}")
    return roles[name]

