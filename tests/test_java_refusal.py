"""Java's TLS 1.3 refusal (issue 21, section 1): Tomcat 10 on JSSE holding one certificate answers a
TLS 1.3 offer it cannot serve with a ServerHello, then closes the connection without an alert. That
is a refusal of the offer (another offer of TLS 1.3 completes), not an error: an RSA-only node judged
by `rsa-only`, and an ECDSA-only one by a policy that wants ECDSA alone, pass with exit 0."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dualcert.compare.results_file import load_document
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.observation import Outcome

from .conftest import debian_binary, run_cli
from .test_pre_tls13 import probe_all
from .test_thirdparty_servers import inventory_for
from .thirdparty import make_pki, tomcat_dual

KEYSTORES = {  # the one certificate Tomcat holds, the offer it cannot serve, the policy it is judged by
    "RSA": (Offer.ECDSA, "rsa-only"),
    "EC": (Offer.RSA, "presents: {ecdsa: ecdsa, rsa: refused, default: ecdsa}"),
}


def _policy(tmp_path: Path, rule: str) -> str:
    if not rule.startswith("presents:"):
        return rule
    path = tmp_path / "ecdsa-only.yaml"
    path.write_text(f"extends: ec-ca-signed\nintended_state: none\nrules:\n  {rule}\n")
    return str(path)


@pytest.mark.parametrize("held", KEYSTORES)
def test_single_keystore_tomcat_refuses_the_offer_it_cannot_serve(tmp_path: Path, held: str) -> None:
    refused_offer, policy = KEYSTORES[held]
    pki = make_pki(tmp_path)
    with tomcat_dual(pki, certificates=(held,)) as port:
        # What the issue measured, with a client nobody here wrote: a ServerHello, then the close.
        sigalgs = "ecdsa_secp256r1_sha256" if refused_offer is Offer.ECDSA else "rsa_pss_rsae_sha256"
        s_client = subprocess.run([debian_binary("openssl", "openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
                                   "-tls1_3", "-sigalgs", sigalgs], input=b"", capture_output=True, timeout=30)
        inventory = inventory_for(tmp_path, port, pki.roots)
        results = probe_all(inventory)
        run = run_cli("run", "--inventory", str(inventory), "--policy", _policy(tmp_path, policy), cwd=tmp_path)
    assert b"unexpected eof" in s_client.stderr + s_client.stdout, s_client

    tls13 = results[(refused_offer, TLSVersion.TLS1_3)]
    assert tls13.outcome is Outcome.REFUSED, tls13
    assert (tls13.alert, tls13.dropped, tls13.negotiated_version) == (None, "closed", "TLSv1.3")
    assert tls13.detail == ("the server sent its TLSv1.3 ServerHello, then closed the connection without an alert, "
                            "before any certificate (the server speaks TLS 1.3: another offer of it completed)")
    tls12 = results[(refused_offer, TLSVersion.TLS1_2)]
    assert (tls12.outcome, tls12.alert) == (Outcome.REFUSED, "handshake_failure"), tls12
    served = {Offer.ECDSA: Offer.RSA, Offer.RSA: Offer.ECDSA}[refused_offer]
    assert {results[(o, v)].outcome for o in (served, Offer.DEFAULT) for v in TLSVersion} == {Outcome.OK}

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    data = load_document(tmp_path / "reports" / "thirdparty.json")
    refusals = {(p["offer"], p["tls_version"]): p["outcome"] for p in data["probes"] if p["offer"] == refused_offer}
    assert refusals == {(refused_offer.value, "tls1.2"): "refused", (refused_offer.value, "tls1.3"): "refused"}
    presented = [t for t in data["tests"] if t["rule"] == "presented_key"]
    assert len(presented) == 6 and {t["status"] for t in presented} == {"pass"}


def test_rsa_only_release_on_java_passes_by_its_release(tmp_path: Path) -> None:
    """A UCCX 12.5 node (RSA only by design, judged by its release with the default policy) whose
    Tomcat holds only the RSA certificate: its TLS 1.3 ECDSA offers are refused, and the run passes."""
    pki = make_pki(tmp_path, host="uccx-pub.example.test")
    with tomcat_dual(pki, certificates=("RSA",)) as port:
        services = "\n".join(f"      - {{name: {name}, port: {port}}}" for name in
                             ("tomcat", "tomcat-443", "notification-bosh", "notification-xmpp", "socketio"))
        (tmp_path / "uccx.yaml").write_text(
            f"site: r125\ntrust: {pki.roots}\nnodes:\n  - name: uccx-pub\n    host: uccx-pub.example.test\n"
            f"    address: 127.0.0.1\n    role: uccx\n    version: \"12.5(1)\"\n    services:\n{services}\n")
        run = run_cli("run", "--inventory", "uccx.yaml", cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    data = load_document(tmp_path / "reports" / "r125.json")
    ecdsa13 = [p for p in data["probes"] if (p["offer"], p["tls_version"]) == ("ecdsa", "tls1.3")]
    assert len(ecdsa13) == 5 and {(p["outcome"], p["dropped"]) for p in ecdsa13} == {("refused", "closed")}
