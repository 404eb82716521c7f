"""The policy's expected_changes: parsed into selectors and from/to words, or a usage error
naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualcert.errors import UsageError
from dualcert.estate.inventory import load_inventory
from dualcert.policy.load import load_policy


def load(tmp_path: Path, text: str):
    path = tmp_path / "upgrade.yaml"
    path.write_text(text)
    return load_policy(path)


def test_entries_parse_with_defaults(tmp_path: Path) -> None:
    policy = load(tmp_path, "extends: ec-ca-signed\n"
                            "expected_changes:\n"
                            "  - nodes: '*'\n"
                            "    role: uccx\n"
                            "    services: [tomcat, socketio]\n"
                            "    offers: [ecdsa]\n"
                            "    from: self-signed\n"
                            "    to: ec-ca-signed\n"
                            "  - {nodes: [uccx-sub], any: true}\n")
    first, second = policy.expected_changes
    assert (first.nodes, first.roles, first.services, first.offers, first.tls_versions) == (
        None, ("uccx",), ("tomcat", "socketio"), ("ecdsa",), None)
    assert (first.before, first.after, first.any_change) == (("self-signed",), ("ec-ca-signed",), False)
    assert first.where.endswith("upgrade.yaml:3") and second.label.endswith("upgrade.yaml:9)")
    assert second.nodes == ("uccx-sub",) and second.any_change
    assert load_policy(None).expected_changes == ()


@pytest.mark.parametrize(("entry", "line", "message"), [
    ("  - {offers: [ecdsa], to: signed}\n", 3, "'to': unknown value 'signed'"),
    ("  - {offers: [ecdh], to: refused}\n", 3, "'offers': unknown value 'ecdh'"),
    ("  - {nodes: [a]}\n", 3, "does not say which change is expected"),
    ("  - {any: true, to: refused}\n", 3, "has both 'any: true' and from/to"),
    ("  - {to: refused, when: later}\n", 3, "unknown key 'when' in expected_changes[0]"),
    ("  - {services: 5, to: refused}\n", 3, "'services' must be text or a list"),
    ("  - to: refused\n    tls_versions: [tls1.1]\n", 4, "'tls_versions': unknown value 'tls1.1'"),
    ("  - refused\n", 2, "expected_changes[0] must be a mapping"),
])
def test_mistakes_name_file_and_line(tmp_path: Path, entry: str, line: int, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        load(tmp_path, "rules: {}\nexpected_changes:\n" + entry)
    error = caught.value
    assert message in str(error) and error.line == line and str(error.file).endswith("upgrade.yaml") and error.fix


def test_expiry_days_follow_the_layers_for_any_node(tmp_path: Path) -> None:
    policy = load(tmp_path, "rules: {expiry: {warn_days: 60}}\n"
                            "nodes:\n  uccx-sub:\n    services:\n      tomcat: {expiry: {fail_days: 14}}\n")
    assert policy.expiry_days("uccx-sub", "tomcat") == (60, 14)
    assert policy.expiry_days("gone-node", "tomcat") == (60, 7)


def test_unknown_role_is_caught_against_the_inventory(tmp_path: Path) -> None:
    inventory_path = tmp_path / "site.yaml"
    inventory_path.write_text("nodes:\n  - {name: pub, host: pub.example.test, address: 127.0.0.1, role: uccx}\n")
    inventory = load_inventory(inventory_path)
    load(tmp_path, "expected_changes:\n  - {role: [uccx, socialminer], to: refused}\n").check_against(inventory)
    policy = load(tmp_path, "expected_changes:\n  - {nodes: [gone-node], any: true}\n  - {role: ucx, to: refused}\n")
    with pytest.raises(UsageError) as caught:
        policy.check_against(inventory)
    assert "names role 'ucx'" in str(caught.value) and caught.value.line == 3 and "uccx" in (caught.value.fix or "")
