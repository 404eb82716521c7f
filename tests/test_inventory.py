"""Inventory loading: the documented shape works, role defaults expand, bad input names file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualcert.errors import UsageError
from dualcert.estate.inventory import load_inventory

from .conftest import CERTS


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_issue_example_shape_loads_with_role_defaults_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "tomcat-trust.pem").write_bytes((CERTS / "roots.pem").read_bytes())
    inv = load_inventory(write(tmp_path, """
site: lab
trust: certs/tomcat-trust.pem
nodes:
  - name: uccx-pub
    host: uccx-pub.example.com
    address: 10.0.0.11
    role: uccx
    services:
      - {name: tomcat, port: 8443}
      - {name: notification-xmpp, port: 5222, starttls: xmpp}
"""))
    assert inv.site == "lab"
    assert inv.trust == (tmp_path / "certs" / "tomcat-trust.pem").resolve()
    endpoints = {e.service.name: e for e in inv.endpoints()}
    assert set(endpoints) == {"tomcat", "tomcat-443", "notification-bosh", "notification-xmpp", "socketio"}
    assert endpoints["notification-xmpp"].port == 5222
    assert endpoints["notification-xmpp"].service.starttls == "xmpp"
    assert endpoints["socketio"].port == 12015 and endpoints["socketio"].service.prefers == "ecdsa"
    assert endpoints["tomcat"].connect_to == "10.0.0.11"
    assert endpoints["tomcat"].sni == "uccx-pub.example.com"
    assert endpoints["tomcat"].cluster == "lab"


def test_role_alone_is_enough_for_every_catalog_role(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, """
nodes:
  - {name: cucm-pub, host: cucm.example.com, role: cucm}
  - {name: imp, host: imp.example.com, role: imp}
"""))
    ports = {(e.node, e.service.name): e.port for e in inv.endpoints()}
    assert ports[("cucm-pub", "sip-tls")] == 5061
    assert ports[("cucm-pub", "capf")] == 3804
    assert ports[("imp", "xmpp-s2s")] == 5269
    assert inv.site == "site"  # defaults to the file's stem


def test_service_can_be_disabled_and_generic_nodes_need_services(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, """
nodes:
  - name: sm
    host: sm.example.com
    role: socialminer
    services: [{name: openfire, enabled: false}]
  - name: lb
    host: 127.0.0.1
    services: [{name: https, port: 443}]
"""))
    assert [f"{e.node}:{e.service.name}" for e in inv.endpoints()] == ["sm:tomcat", "lb:https"]
    assert inv.endpoints()[1].sni is None  # an IP host sends no SNI


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("nodes:\n  - name: a\n    host: a.example.com\n    role: nope\n", 4, "unknown role 'nope'"),
    ("nodes:\n  - {name: a, host: a.example.com, role: uccx}\n  - {name: a, host: b.example.com, role: uccx}\n",
     3, "duplicate node name 'a'"),
    ("nodes:\n  - name: a\n    host: a.example.com\n    services:\n      - {name: x, port: 70000}\n", 5,
     "out of range"),
    ("nodes:\n  - name: a\n    host: a.example.com\n    address: not-an-ip\n    role: uccx\n", 4,
     "is not an IP address"),
    ("nodes:\n  - name: a\n    host: a.example.com\n    role: uccx\n    colour: blue\n", 5, "unknown key 'colour'"),
    ("nodes: []\n", 1, "lists no nodes"),
    ("nodes:\n  - name: a\n    host: a.example.com\n    role: uccx\n  bad: [\n", 5, "not valid YAML"),
    ("trust: missing.pem\nnodes:\n  - {name: a, host: a.example.com, role: uccx}\n", 1, "does not exist"),
    ("nodes:\n  - name: a\n    host: 'bad host!'\n    role: uccx\n", 3, "not a DNS name"),
    ("nodes:\n  - name: a\n    host: a.example.com\n    services:\n      - {name: x, port: 1, starttls: gopher}\n",
     5, "unknown starttls protocol"),
    ("nodes:\n  - name: a\n    host: a.example.com\n    services:\n      - {name: x, port: '443'}\n", 5,
     "must be a whole number"),
    ("nodes:\n  - name: a\n    host: a.example.com\n", 2, "has no services"),
    ("- just\n- a list\n", None, "must be a mapping"),
])
def test_bad_inventory_names_file_line_and_fix(tmp_path: Path, text: str, line: int | None, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_inventory(path)
    error = caught.value
    assert fragment in error.what
    assert error.file == path
    assert error.line == line
    assert error.fix, "every error says what to do"
    assert str(error).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_trust_bundle_with_garbage_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(UsageError, match="not usable"):
        load_inventory(write(tmp_path, "trust: bad.pem\nnodes:\n  - {name: a, host: a.example.com, role: uccx}\n"))


def test_missing_inventory_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="inventory file not found"):
        load_inventory(tmp_path / "nope.yaml")


def test_a_generic_server_is_told_about_its_ecdsa_and_rsa_certificates(tmp_path: Path) -> None:
    """A plain nginx estate has no tomcat-ECDSA: its fix text names the certificate by family,
    while a service added to a VOS node still presents tomcat/tomcat-ECDSA."""
    from dualcert.rules import remedies

    path = tmp_path / "inv.yaml"
    path.write_text("site: s\nnodes:\n  - {name: web, host: web.example.test, services: [{name: https, port: 443}]}\n"
                    "  - {name: pub, host: pub.example.test, role: uccx, services: [{name: extra, port: 9443}]}\n")
    endpoints = {(e.node, e.service.name): e for e in load_inventory(path).endpoints()}
    web, extra = endpoints[("web", "https")], endpoints[("pub", "extra")]
    texts = [remedies.renew(web, "ECDSA"), remedies.sign_with_ca(web, "RSA"), remedies.ecdsa_signed_by_rsa(web),
             remedies.browser_gets_rsa(web, ecdsa_answered=False, ecdsa_by_rsa_ca=False)]
    assert all("tomcat" not in text for text in texts), texts
    assert "renew the server's ECDSA certificate" in texts[0] and "make sure clients trust the CA root" in texts[1]
    assert (extra.service.rsa_unit, extra.service.ecdsa_unit) == ("tomcat", "tomcat-ECDSA")
