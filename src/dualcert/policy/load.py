"""Reading a policy file or a built-in profile into a Policy, with line-numbered errors."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from dualcert.errors import UsageError
from dualcert.estate.yamlfile import Mapping, Reader, load_yaml, parse_yaml
from dualcert.offers import Offer, TLSVersion
from dualcert.policy.clients import builtin_clients, read_clients
from dualcert.policy.model import (
    CHANGE_KEYS,
    FAMILIES,
    HASHES,
    LEVELS,
    POLICY_KEYS,
    PRESENTATION_CLASSES,
    PRESENTS,
    PROFILES,
    RELEASE_MODES,
    RULE_KEYS,
    ExpectedChange,
    Policy,
    merge,
    parse_dn,
)
from dualcert.policy.states import NO_STATE, STATES

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
DEFAULT_PROFILE = "ec-ca-signed"   # best practice (S3): the policy when none is given


def builtin_profile(name: str) -> Policy:
    if name not in PROFILES:
        raise UsageError(f"unknown built-in profile {name!r}", fix=f"use one of: {', '.join(PROFILES)}")
    source = resources.files("dualcert.policy") / "profiles" / f"{name}.yaml"
    return _build(parse_yaml(source.read_text(encoding="utf-8"), f"profile {name}", what="profile"),
                  f"dualcert/policy/profiles/{name}.yaml", None, name)


def load_policy(spec: str | Path | None) -> Policy:
    """`spec` is a policy file, a built-in profile name, or None for ec-ca-signed."""
    if spec is None:
        # No policy: every node with a `version:` is judged by what its release should present.
        default = builtin_profile(DEFAULT_PROFILE)
        return replace(default, rules={**default.rules, "release": "auto"})
    if str(spec) in PROFILES and not Path(spec).exists():
        return builtin_profile(str(spec))
    path = Path(spec)
    return _build(load_yaml(path, what="policy"), path, path, path.stem)


def _build(data: Any, where: Path | str, path: Path | None, name: str) -> Policy:
    top = Reader(data if data is not None else {}, where, "the policy")
    top.reject_unknown(POLICY_KEYS)
    base_name = top.get("extends", str, None)
    if base_name is not None and base_name not in PROFILES:
        raise top.error("extends", f"unknown profile {base_name!r} in 'extends'", f"use one of: {', '.join(PROFILES)}")
    if base_name is None and path is not None:
        base_name = DEFAULT_PROFILE
    base = builtin_profile(base_name) if base_name else None
    rules = copy.deepcopy(base.rules) if base else {}
    merge(rules, _rules(top.child("rules", top.get("rules", dict, {}), "rules"), complete=base is None))
    if "release" in top.data:  # `release: auto` at the top is short for rules.release
        merge(rules, _rules(Reader({"release": top.data["release"]}, where, "the policy", top.line_of("release")),
                            complete=False))
    lines: dict[str, int | None] = {}
    raw_services = top.get("services", dict, {})
    services = {k: _rules(top.child(k, v, f"rules of service {k!r}"), complete=False)
                for k, v in raw_services.items()}
    lines.update({f"services.{k}": _line_of(raw_services, k) for k in services})
    if base:
        services = {**base.services, **services}
    nodes: dict[str, dict[str, Any]] = {}
    raw_nodes = top.get("nodes", dict, {})
    for node_name, raw in raw_nodes.items():
        lines[f"nodes.{node_name}"] = _line_of(raw_nodes, node_name)
        node = top.child(node_name, raw, f"node {node_name!r} of the policy")
        node.reject_unknown(frozenset({"rules", "services", "release"}))
        node_services = node.get("services", dict, {})
        node_rules = dict(node.get("rules", dict, {}))
        if "release" in node.data:  # nodes.<n>.release is short for nodes.<n>.rules.release
            node_rules["release"] = node.data["release"]
        nodes[node_name] = {
            "rules": _rules(node.child("rules", node_rules, f"rules of node {node_name!r}"), complete=False),
            "services": {k: _rules(node.child(k, v, f"rules of {node_name}:{k}"), complete=False)
                         for k, v in node_services.items()},
        }
        lines.update({f"nodes.{node_name}.services.{k}": _line_of(node_services, k) for k in node_services})
    state = top.get("intended_state", str, base.intended_state if base else "S3")
    if state not in (*STATES, NO_STATE):
        raise top.error("intended_state", f"unknown state {state!r}", f"use one of: {', '.join(STATES)}, or "
                        f"{NO_STATE} when no deployment state of the digest is intended (e.g. an ECDSA-only server)")
    changes = _expected_changes(top)
    known = builtin_clients()
    clients = {**known, **read_clients(top.get("clients", dict, {}), where, known)}
    return Policy(name, path, state, rules, services, nodes, changes, lines, clients)


def _names(reader: Reader, key: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
    """A selector: one name or a list of names; "*" (or nothing) means every one."""
    value = reader.get(key, (str, list), None)
    if value is None or value == "*":
        return None
    items = [value] if isinstance(value, str) else value
    if not items or not all(isinstance(v, str) and v for v in items):
        raise reader.error(key, f"{key!r} must be a name or a list of names", f"e.g. {key}: [a, b], or '*' for all")
    if allowed is not None:
        for item in items:
            if item not in allowed:
                raise reader.error(key, f"{key!r}: unknown value {item!r}", f"use one of: {', '.join(allowed)}")
    return None if "*" in items else tuple(items)


def _expected_changes(top: Reader) -> tuple[ExpectedChange, ...]:
    raw = top.get("expected_changes", list, [])
    out: list[ExpectedChange] = []
    for index, item in enumerate(raw):
        entry = Reader(item, top.path, f"expected_changes[{index}]",
                       getattr(item, "line", None) or top.line_of("expected_changes"))
        entry.reject_unknown(CHANGE_KEYS)
        any_change = entry.get("any", bool, False)
        before = _names(entry, "from", PRESENTATION_CLASSES)
        after = _names(entry, "to", PRESENTATION_CLASSES)
        if any_change and ("from" in entry.data or "to" in entry.data):
            raise entry.error("any", f"expected_changes[{index}] has both 'any: true' and from/to",
                              "use 'any: true' to allow every change, or from:/to: to allow one kind")
        if not any_change and "from" not in entry.data and "to" not in entry.data:
            raise entry.error(None, f"expected_changes[{index}] does not say which change is expected",
                              "add 'from:' and/or 'to:' (e.g. to: ec-ca-signed), or 'any: true'")
        out.append(ExpectedChange(
            index=index, where=f"{top.path}:{entry.line}" if entry.line else str(top.path), line=entry.line,
            nodes=_names(entry, "nodes"), roles=_names(entry, "role"), services=_names(entry, "services"),
            offers=_names(entry, "offers", tuple(o.value for o in Offer)),
            tls_versions=_names(entry, "tls_versions", tuple(v.value for v in TLSVersion)),
            before=before, after=after, any_change=any_change, reason=entry.get("reason", str, None)))
    return tuple(out)


def _line_of(mapping: Any, key: str) -> int | None:
    return mapping.line_of(key) if isinstance(mapping, Mapping) else None


def _reject_empty(reader: Reader) -> None:
    """`key:` with nothing after it is a half-written rule, not "use the default"."""
    for key, value in reader.data.items():
        if value is None:
            raise reader.error(key, f"{reader.context}: {key!r} has no value",
                               f"give {key!r} a value, or delete the line to keep the profile's")


def _rules(reader: Reader, *, complete: bool) -> dict[str, Any]:
    """Validate one rules mapping; `complete` demands every key (only the profiles are)."""
    reader.reject_unknown(RULE_KEYS)
    _reject_empty(reader)
    out: dict[str, Any] = {}
    data = reader.data

    def choice(key: str, options: tuple[str, ...]) -> None:
        if key in data:
            if options == LEVELS and isinstance(data[key], bool):  # YAML 1.1 reads a bare `off` as false
                out[key] = "required" if data[key] else "off"
                return
            value = reader.get(key, str)
            if value not in options:
                raise reader.error(key, f"{key!r} must be one of {', '.join(options)}, got {value!r}",
                                   f"write one of: {', '.join(options)}")
            out[key] = value

    if "presents" in data:
        presents = reader.child("presents", reader.get("presents", dict), "presents")
        presents.reject_unknown(frozenset(o.value for o in Offer))
        out["presents"] = {}
        for offer, value in presents.data.items():
            if value not in PRESENTS:
                raise presents.error(offer, f"presents.{offer} must be one of {', '.join(PRESENTS)}, got {value!r}",
                                     "say which key family that offer must get, or 'refused'")
            out["presents"][offer] = value
    choice("signing", ("ca", "self", "any"))
    choice("chain_algorithm", ("ecdsa-throughout", "any"))
    choice("trust", LEVELS)
    choice("release", RELEASE_MODES)
    choice("hostname", LEVELS)
    if "rsa_min_bits" in data:
        bits = reader.get("rsa_min_bits", int)
        if not 512 <= bits <= 16384:
            raise reader.error("rsa_min_bits", f"rsa_min_bits {bits} is not a sensible RSA size", "use e.g. 2048")
        out["rsa_min_bits"] = bits
    if "ec_curves" in data:
        curves = reader.get("ec_curves", list)
        if not all(isinstance(c, str) for c in curves):
            raise reader.error("ec_curves", "ec_curves must be a list of curve names", "e.g. [secp256r1, secp384r1]")
        out["ec_curves"] = curves
    choice("bundle_roots", ("exempt", "checked"))
    if "signature_hashes" in data:
        hashes = reader.child("signature_hashes", reader.get("signature_hashes", dict), "signature_hashes")
        hashes.reject_unknown(frozenset({"forbidden"}))
        forbidden = hashes.get("forbidden", list)
        unknown = [h for h in forbidden if not isinstance(h, str) or h.lower() not in HASHES]
        if unknown:
            raise hashes.error("forbidden", f"signature_hashes.forbidden names unknown hashes: {unknown}",
                               f"use names from: {', '.join(HASHES)}")
        out["signature_hashes"] = {"forbidden": [h.lower() for h in forbidden]}
    if "expiry" in data:
        expiry = reader.child("expiry", reader.get("expiry", dict), "expiry")
        expiry.reject_unknown(frozenset({"warn_days", "fail_days"}))
        _reject_empty(expiry)
        out["expiry"] = {k: expiry.get(k, int) for k in ("warn_days", "fail_days") if k in expiry.data}
        if out["expiry"].get("warn_days", 10**6) < out["expiry"].get("fail_days", -1):
            raise expiry.error("warn_days", "warn_days is below fail_days",
                               "warn before failing: warn_days >= fail_days")
    if "versions" in data:
        versions = reader.child("versions", reader.get("versions", dict), "versions")
        versions.reject_unknown(frozenset(v.value for v in TLSVersion))
        _reject_empty(versions)
        out["versions"] = {}
        for version, level in versions.data.items():
            if level not in ("required", "optional"):
                raise versions.error(version, f"versions.{version} must be required or optional, got {level!r}",
                                     "write required or optional")
            out["versions"][version] = level
    if "issuer" in data:
        issuer = reader.child("issuer", reader.get("issuer", dict), "issuer")
        issuer.reject_unknown(frozenset(FAMILIES))
        out["issuer"] = {}
        for family, raw in issuer.data.items():
            rule = issuer.child(family, raw, f"issuer.{family}")
            rule.reject_unknown(frozenset({"dn", "sha256"}))
            dn, sha = rule.get("dn", str, None), rule.get("sha256", str, None)
            if sha is not None:
                sha = sha.replace(":", "").lower()
                if not _SHA256.match(sha):
                    raise rule.error("sha256", f"issuer.{family}.sha256 is not a SHA-256 fingerprint",
                                     "give 64 hex digits (colons allowed), e.g. from "
                                     "`openssl x509 -fingerprint -sha256`")
            if dn is not None and parse_dn(dn) is None:
                raise rule.error("dn", f"issuer.{family}.dn {dn!r} is not an RFC 4514 distinguished name",
                                 "write it as `openssl x509 -noout -issuer -nameopt RFC2253` prints it, "
                                 "e.g. CN=Example Issuing CA,O=Example")
            if dn is None and sha is None:
                raise rule.error(None, f"issuer.{family} names neither dn nor sha256", "give 'dn:' or 'sha256:'")
            out["issuer"][family] = {"dn": dn, "sha256": sha}
    if complete:
        missing = sorted(RULE_KEYS - {"issuer", "release"} - set(out))
        if missing:
            raise reader.error(None, f"the rules lack {', '.join(missing)}", "add them, or use 'extends: ec-ca-signed'")
    return out

