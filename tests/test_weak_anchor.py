"""A weak trust anchor is a finding (issue 22, section 2): the bundle's roots are exempt from the
policy's key rule by design (bundle_roots: exempt), but a root on an RSA 1024-bit key, served on a
real path, is named in a key_strength warning; `bundle_roots: checked` makes it fail."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from dualcert.compare.results_file import load_document
from dualcert.lab.pki import CA, KeySpec
from dualcert.lab.server import LabServer, ServedEndpoint
from dualcert.probe.tls import server_context
from dualcert.rules.causes import Cause

from .conftest import run_cli

HOST = "weak-root.lab.test"


def test_a_root_on_a_weak_key_is_named_in_a_warning(tmp_path: Path) -> None:
    root = CA.root("dualcert Weak Root", KeySpec.rsa(1024))
    issuing = root.sub_ca("dualcert Issuing CA", KeySpec.rsa())
    leaf = issuing.issue([HOST], KeySpec.rsa())
    (tmp_path / "roots.pem").write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "checked.yaml").write_text("extends: ec-ca-signed\nrules:\n  bundle_roots: checked\n")
    served = ServedEndpoint(server_context([leaf.write(tmp_path, "leaf")]))
    with LabServer([served]):
        (tmp_path / "site.yaml").write_text(
            f"site: weak\ntrust: roots.pem\nnodes:\n  - name: web\n    host: {HOST}\n    address: 127.0.0.1\n"
            f"    services: [{{name: https, port: {served.port}, rsa_unit: tomcat, ecdsa_unit: null}}]\n")
        exempt = run_cli("run", "--inventory", "site.yaml", cwd=tmp_path)
        exempt_data = load_document(tmp_path / "reports" / "weak.json")
        checked = run_cli("run", "--inventory", "site.yaml", "--policy", "checked.yaml", cwd=tmp_path)
        checked_data = load_document(tmp_path / "reports" / "weak.json")

    assert exempt.returncode == 0, exempt.stdout[-3000:]   # a warning passes
    warned = [t for t in exempt_data["tests"] if t["rule"] == "key_strength" and t["status"] == "warn"]
    assert warned, [t["message"] for t in exempt_data["tests"] if t["rule"] == "key_strength"]
    assert all("'dualcert Weak Root' has an RSA 1024-bit key" in t["message"] and "bundle_roots: checked" in t["fix"]
               for t in warned)
    assert all(t["causes"] == [Cause.WEAK_ANCHOR] for t in warned), warned
    assert checked.returncode == 1
    failed = [t for t in checked_data["tests"] if t["rule"] == "key_strength" and t["status"] == "fail"]
    assert failed and all("'dualcert Weak Root' has an RSA 1024-bit key" in t["message"] for t in failed)
