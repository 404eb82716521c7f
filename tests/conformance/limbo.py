"""x509-limbo's published JSON format (limbo.json: {"version": 1, "testcases": [...]}), read into cases
the harness serves and judges, and written from the generated cases (the tests check the reader on a file
written here, never on limbo's data, which is not vendored: docs/checks.md, "Conformance")."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .case import Case

_NODE = re.compile(r"[^A-Za-z0-9._-]")
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}"
                   r"[A-Za-z0-9])?)*\.?$")   # what an inventory's `host:` takes (estate/inventory.py)


def node_name(limbo_id: str) -> str:
    """A limbo id (`rfc5280::nc::permitted-dns`) as a node name: '::' becomes '.', at most 63 characters."""
    name = _NODE.sub("-", limbo_id.replace("::", "."))
    if len(name) > 63:
        name = f"{name[:54]}-{hashlib.sha256(limbo_id.encode()).hexdigest()[:8]}"
    return name


def _ders(pems: Sequence[str]) -> tuple[bytes, ...]:
    return tuple(x509.load_pem_x509_certificate(p.encode()).public_bytes(serialization.Encoding.DER) for p in pems)


def load(path: Path) -> tuple[list[Case], dict[str, str]]:
    """The server-validation cases of a limbo file the harness can run, and the others by id with why
    not (client validation, no DNS or IP peer name, no private key, a name no inventory takes, ...)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("version") != 1 or not isinstance(data.get("testcases"), list):
        raise ValueError(f"{path} is not a limbo file (version 1 with testcases)")
    cases, skipped = [], {}
    for raw in data["testcases"]:
        why_not = _unrunnable(raw)
        if why_not:
            skipped[str(raw.get("id"))] = why_not
            continue
        try:
            chain = _ders([raw["peer_certificate"], *raw["untrusted_intermediates"]])
            trusted = _ders(raw["trusted_certs"])
        except ValueError as exc:
            skipped[raw["id"]] = f"a certificate cryptography cannot read: {exc}"
            continue
        at = dt.datetime.fromisoformat(raw["validation_time"]) if raw.get("validation_time") else None
        description = " ".join(str(raw.get("description", "")).split())
        cases.append(Case(node_name(raw["id"]), raw["expected_result"] == "SUCCESS", description[:200] or raw["id"],
                          trusted, chain, raw["peer_certificate_key"].encode(), raw["expected_peer_name"]["value"],
                          at.astimezone(dt.UTC) if at else None, raw["id"].split("::")[0]))
    names = [c.id for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: two testcase ids map to one node name")
    return cases, skipped


def _unrunnable(raw: dict[str, object]) -> str | None:
    peer = raw.get("expected_peer_name")
    if raw.get("validation_kind") != "SERVER":
        return "not a server validation"
    if not isinstance(peer, dict) or peer.get("kind") not in ("DNS", "IP"):
        return "no DNS or IP peer name to ask for"
    if not raw.get("peer_certificate_key"):
        return "no private key for the leaf: it cannot be served"
    usages = raw.get("extended_key_usage") or []   # none: a server validation, serverAuth as every client asks
    if usages and "serverAuth" not in usages:   # type: ignore[operator]
        return f"asks for {usages}, not serverAuth as a TLS client does"
    if raw.get("max_chain_depth") is not None:
        return "a max_chain_depth, which no TLS client takes as an option"
    if peer["kind"] == "DNS" and not _HOST.match(str(peer["value"])):
        return f"peer name {peer['value']!r} is no host name an inventory takes (A-labels only)"
    return None


def dump(cases: Sequence[Case]) -> dict[str, object]:
    """The cases in limbo's format (version 1), as its generator writes server-validation testcases."""
    def pem(ders: Sequence[bytes]) -> list[str]:
        return [x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM).decode() for d in ders]

    return {"version": 1, "testcases": [{
        "id": f"dualcert::{case.category}::{case.id.removeprefix(case.category + '-')}",
        "conflicts_with": [], "features": [], "description": case.why, "validation_kind": "SERVER",
        "trusted_certs": pem(case.trusted), "untrusted_intermediates": pem(case.chain[1:]),
        "peer_certificate": pem(case.chain[:1])[0],
        "peer_certificate_key": case.key_pem.decode() if case.key_pem else None,
        "validation_time": case.at.isoformat().replace("+00:00", "Z") if case.at else None,
        "signature_algorithms": [], "key_usage": [], "extended_key_usage": ["serverAuth"],
        "expected_result": "SUCCESS" if case.expected else "FAILURE",
        "expected_peer_name": {"kind": "IP" if case.peer_is_ip else "DNS", "value": case.peer},
        "expected_peer_names": [], "max_chain_depth": None} for case in cases]}
