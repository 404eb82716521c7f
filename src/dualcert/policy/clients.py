"""Client profiles (what a real client offers, how it judges a certificate) and what the policy
expects each client to get: the built-in catalog (data/clients.yaml), a policy's `clients:` section
and `--client-profiles FILE`, validated with line-numbered errors (docs/clients.md)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from dualcert.errors import UsageError
from dualcert.estate.yamlfile import Reader, load_yaml, parse_yaml

CLIENT_VERSIONS = ("tls1.0", "tls1.1", "tls1.2", "tls1.3")
TRUST_STORES = ("site", "mozilla", "java", "windows", "apple")  # or a PEM file's path
KEY_FAMILIES = ("ecdsa", "rsa", "any")
LEVELS = ("required", "warn", "off")
KINDS = ("browser", "java", "library", "app", "appliance")
# IANA names OpenSSL understands in SSL_CTX_set1_sigalgs_list and `openssl s_client -sigalgs`.
SIGALGS = frozenset({
    "ecdsa_secp256r1_sha256", "ecdsa_secp384r1_sha384", "ecdsa_secp521r1_sha512", "ecdsa_sha224", "ecdsa_sha1",
    "ed25519", "ed448", "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha384", "rsa_pss_rsae_sha512", "rsa_pss_pss_sha256",
    "rsa_pss_pss_sha384", "rsa_pss_pss_sha512", "rsa_pkcs1_sha256", "rsa_pkcs1_sha384", "rsa_pkcs1_sha512",
    "rsa_pkcs1_sha224", "rsa_pkcs1_sha1",
})
# The hello's parts a profile may leave out of its source, saying why in `omits:`.
OMITTABLE = ("versions", "ciphers", "tls13_ciphers", "sigalgs", "sigalgs_cert", "groups")
_PROFILE_KEYS = frozenset({"name", "source", "kind", "interactive", "versions", "ciphers", "tls13_ciphers", "groups",
                           "sigalgs", "sigalgs_cert", "trust", "uncertain", "sni", "omits"})
_EXPECT_KEYS = frozenset({"key", "validate", "accept_versions"})
ENTRY_KEYS = _PROFILE_KEYS | _EXPECT_KEYS | {"extends", "services"}


@dataclass(frozen=True)
class ClientExpectation:
    """What the policy wants this client to get from one service."""

    key: str = "any"                   # KEY_FAMILIES: the leaf family it should be given
    validate: str = "required"         # LEVELS: it must validate what it gets (trust, name, chain)
    accept_versions: tuple[str, ...] = ("tls1.2", "tls1.3")  # negotiated versions the policy accepts


@dataclass(frozen=True)
class Omission:
    """What a profile leaves out of its source's hello (names the profile's vocabulary may lack:
    `ssl3`, `dsa_sha256`, `sect571r1`), and why."""

    field: str                         # one of OMITTABLE
    items: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class ClientProfile:
    name: str                          # the profile's key: `--clients chrome`, offer `client-chrome`
    title: str
    source: str
    kind: str
    interactive: bool                  # a person is asked to accept an untrusted certificate
    versions: tuple[str, ...]
    ciphers: tuple[str, ...]           # TLS 1.2 and below, in the client's order (OpenSSL names)
    tls13_ciphers: tuple[str, ...]
    groups: tuple[str, ...]
    sigalgs: tuple[str, ...]
    trust: tuple[str, ...]
    sigalgs_cert: tuple[str, ...] = ()
    sni: bool = True
    uncertain: str = ""
    omits: tuple[Omission, ...] = ()
    expect: ClientExpectation = field(default_factory=ClientExpectation)
    services: dict[str, ClientExpectation] = field(default_factory=dict, compare=False)

    def expectation(self, service: str) -> ClientExpectation:
        return self.services.get(service, self.expect)


def builtin_clients() -> dict[str, ClientProfile]:
    return dict(_builtin_clients())


@functools.cache
def _builtin_clients() -> dict[str, ClientProfile]:
    # Parsed once per process: `dualcert run --help` names them and every policy load starts from them.
    source = resources.files("dualcert.policy") / "data" / "clients.yaml"
    data = parse_yaml(source.read_text(encoding="utf-8"), "dualcert/policy/data/clients.yaml", what="client profiles")
    return read_clients(data, "dualcert/policy/data/clients.yaml", {})


def load_client_file(path: Path, known: dict[str, ClientProfile]) -> dict[str, ClientProfile]:
    """`--client-profiles FILE`: a mapping of profiles, or one with a top-level `clients:`."""
    data = load_yaml(path, what="client profiles")
    if isinstance(data, dict) and set(data) == {"clients"}:
        data = data["clients"]
    return {**known, **read_clients(data, path, known)}


def read_clients(data: Any, where: Path | str, known: dict[str, ClientProfile]) -> dict[str, ClientProfile]:
    """Each entry is a new profile, or overrides (and sets expectations for) a known one."""
    top = Reader(data if data is not None else {}, where, "clients")
    out: dict[str, ClientProfile] = {}
    for name, raw in top.data.items():
        if not name.replace("-", "").replace("_", "").isalnum():
            raise top.error(name, f"client name {name!r} must be letters, digits, '-' or '_'", "e.g. java17-site")
        out[name] = _entry(top.child(name, raw, f"client {name!r}"), name, {**known, **out})
    return out


def _entry(entry: Reader, name: str, known: dict[str, ClientProfile]) -> ClientProfile:
    entry.reject_unknown(ENTRY_KEYS)
    base_name = entry.get("extends", str, name if name in known else None)
    if base_name is not None and base_name not in known:
        raise entry.error("extends", f"client {name!r} extends unknown profile {base_name!r}",
                          f"use one of: {', '.join(sorted(known))}")
    base = known.get(base_name) if base_name else None
    fields: dict[str, Any] = {}
    for key in ("versions", "ciphers", "tls13_ciphers", "groups", "sigalgs", "sigalgs_cert", "trust"):
        if key in entry.data:
            fields[key] = _texts(entry, key)
    for key, kind in (("name", str), ("source", str), ("uncertain", str), ("kind", str), ("interactive", bool),
                      ("sni", bool)):
        if key in entry.data:
            fields["title" if key == "name" else key] = entry.get(key, kind)
    _check(entry, fields)
    if "omits" in entry.data:
        fields["omits"] = _omissions(entry)
    elif base is not None:  # what the base left out of a list this entry replaces no longer applies
        fields["omits"] = tuple(o for o in base.omits if o.field not in fields)
    if "trust" in fields and isinstance(entry.path, Path):  # a bundle's path is read relative to its file
        fields["trust"] = tuple(str(entry.path.parent / t) if t.endswith(".pem") else t for t in fields["trust"])
    expect = _expectation(entry, base.expect if base else ClientExpectation())
    services = dict(base.services) if base else {}
    raw_services = entry.get("services", dict, {})
    for service, raw in raw_services.items():
        sub = entry.child("services", raw, f"client {name!r}, service {service!r}")
        sub.reject_unknown(_EXPECT_KEYS)
        services[service] = _expectation(sub, expect)
    if base is not None:
        if base.name != name:  # a new profile built on a built-in one: say so where it is shown
            fields.setdefault("title", f"{name} (based on {base.title})")
        return replace(base, name=name, expect=expect, services=services, **fields)
    missing = [k for k in ("versions", "ciphers", "sigalgs", "source") if k not in fields]
    if missing:
        raise entry.error(None, f"new client {name!r} lacks {', '.join(missing)}",
                          "give them (docs/clients.md), or 'extends: <built-in profile>'")
    fields.setdefault("title", name)
    fields.setdefault("kind", "library")
    fields.setdefault("interactive", False)
    fields.setdefault("tls13_ciphers", ())
    fields.setdefault("groups", ())
    fields.setdefault("trust", ("site",))
    return ClientProfile(name=name, expect=expect, services=services, **fields)


def _omissions(entry: Reader) -> tuple[Omission, ...]:
    out = []
    for raw in entry.get("omits", list):
        item = entry.child("omits", raw, f"{entry.context}, an 'omits' entry")
        item.reject_unknown(frozenset({*OMITTABLE, "why"}))
        named = [key for key in OMITTABLE if key in item.data]
        why = item.get("why", str, "")
        if len(named) != 1 or not why.strip():
            raise item.error(None, f"{item.context} must name one of {', '.join(OMITTABLE)} and say why",
                             "e.g. {versions: [ssl3], why: the bundled OpenSSL is built without SSLv3}")
        out.append(Omission(named[0], _texts(item, named[0]), why.strip()))
    return tuple(out)


def _texts(entry: Reader, key: str) -> tuple[str, ...]:
    value = entry.get(key, list)
    if not all(isinstance(v, str) and v for v in value):
        raise entry.error(key, f"{entry.context}: {key!r} must be a list of names", f"e.g. {key}: [a, b]")
    return tuple(value)


def _check(entry: Reader, fields: dict[str, Any]) -> None:
    def within(key: str, allowed: tuple[str, ...] | frozenset[str], *, paths: bool = False) -> None:
        for value in fields.get(key, ()):
            if value not in allowed and not (paths and value.endswith(".pem")):
                raise entry.error(key, f"{entry.context}: unknown {key} entry {value!r}",
                                  f"use {', '.join(sorted(allowed))}" + (" or a .pem file" if paths else ""))

    within("versions", CLIENT_VERSIONS)
    within("sigalgs", SIGALGS)
    within("sigalgs_cert", SIGALGS)
    within("trust", TRUST_STORES, paths=True)
    if "versions" in fields and not fields["versions"]:
        raise entry.error("versions", f"{entry.context}: 'versions' is empty", "list the TLS versions it offers")
    if fields.get("kind", "library") not in KINDS:
        raise entry.error("kind", f"{entry.context}: unknown kind {fields['kind']!r}",
                          f"use one of: {', '.join(KINDS)}")
    if "tls1.3" in fields.get("versions", ()) and "tls13_ciphers" in fields and not fields["tls13_ciphers"]:
        raise entry.error("tls13_ciphers", f"{entry.context} offers TLS 1.3 but no TLS 1.3 cipher suites",
                          "list them, e.g. [TLS_AES_128_GCM_SHA256]")


def _expectation(entry: Reader, base: ClientExpectation) -> ClientExpectation:
    out = base
    for key, allowed in (("key", KEY_FAMILIES), ("validate", LEVELS)):
        if key in entry.data:
            value = entry.get(key, (str, bool))
            if isinstance(value, bool):  # YAML 1.1 reads a bare `off` as false
                value = "required" if value else "off"
            if value not in allowed:
                raise entry.error(key, f"{entry.context}: {key!r} must be one of {', '.join(allowed)}, got {value!r}",
                                  f"write one of: {', '.join(allowed)}")
            out = replace(out, **{key: value})
    if "accept_versions" in entry.data:
        versions = _texts(entry, "accept_versions")
        for version in versions:
            if version not in CLIENT_VERSIONS:
                raise entry.error("accept_versions", f"{entry.context}: unknown TLS version {version!r}",
                                  f"use {', '.join(CLIENT_VERSIONS)}")
        out = replace(out, accept_versions=versions)
    return out


def select(spec: str, profiles: dict[str, ClientProfile]) -> tuple[ClientProfile, ...]:
    """`--clients chrome,java8` or `all`; an unknown name is a usage error listing the known ones."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if names == ["all"]:
        return tuple(profiles.values())
    unknown = [n for n in names if n not in profiles]
    if unknown:
        raise UsageError(f"--clients: unknown client profile {', '.join(map(repr, unknown))}",
                         fix=f"use 'all' or some of: {', '.join(profiles)} (or add one with --client-profiles)")
    return tuple(profiles[n] for n in dict.fromkeys(names))
