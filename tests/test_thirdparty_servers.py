"""Against dual-certificate servers nobody here wrote, each offer's leaf is the one openssl s_client sees."""

from __future__ import annotations

from pathlib import Path

from dualcert.compare.results_file import load_document
from dualcert.estate.inventory import load_inventory
from dualcert.facts.chain import chain_facts
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Outcome
from dualcert.rules.causes import Cause

from .conftest import run_cli
from .thirdparty import make_pki, nginx_dual, openssl_s_server_tls13, s_client_leaf_sha256, tomcat_dual

S_CLIENT = {
    (Offer.ECDSA, TLSVersion.TLS1_2): ("-tls1_2", "-cipher", "aECDSA"),
    (Offer.RSA, TLSVersion.TLS1_2): ("-tls1_2", "-cipher", "aRSA"),
    (Offer.ECDSA, TLSVersion.TLS1_3): ("-tls1_3", "-sigalgs", "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512"),
    (Offer.RSA, TLSVersion.TLS1_3): ("-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:RSA+SHA256"),
}


def inventory_for(tmp_path: Path, port: int, roots: Path) -> Path:
    path = tmp_path / "thirdparty.yaml"
    path.write_text(f"site: thirdparty\ntrust: {roots}\nnodes:\n  - name: dual\n    host: dual.example.test\n"
                    f"    address: 127.0.0.1\n    services: [{{name: https, port: {port}}}]\n")
    return path


def probe_all(inventory: Path):
    endpoint = load_inventory(inventory).endpoints()[0]
    return ProbeRunner().run([ProbeTask(endpoint, o, v) for o in Offer for v in TLSVersion])


def leaf_of(observation):
    return chain_facts(observation.chain_der).leaf


def assert_offers_match_s_client(port: int, results) -> None:
    for (offer, version), options in S_CLIENT.items():
        observation = next(o for k, o in results.items() if k.offer is offer and k.version is version)
        assert observation.outcome is Outcome.OK, observation
        assert leaf_of(observation).key_type == {"ecdsa": "ECDSA", "rsa": "RSA"}[offer.value]
        assert leaf_of(observation).sha256 == s_client_leaf_sha256(port, *options), (offer, version)
        assert len(observation.chain_der) == 2  # leaf and its issuing CA


def test_nginx_with_two_ssl_certificate_lines(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with nginx_dual(pki) as port:
        assert_offers_match_s_client(port, probe_all(inventory_for(tmp_path, port, pki.roots)))


def test_tomcat_with_rsa_and_ec_certificates(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with tomcat_dual(pki) as port:
        results = probe_all(inventory_for(tmp_path, port, pki.roots))
        assert_offers_match_s_client(port, results)
        default = {k.version: leaf_of(o).key_type for k, o in results.items() if k.offer is Offer.DEFAULT}
    # Tomcat honours the client's order: a browser-like offer (ECDSA first) gets the ECDSA chain.
    assert default == {TLSVersion.TLS1_2: "ECDSA", TLSVersion.TLS1_3: "ECDSA"}


def test_openssl_s_server_tls13_only_cert_and_dcert(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with openssl_s_server_tls13(pki) as port:
        results = probe_all(inventory_for(tmp_path, port, pki.roots))
        for key, observation in results.items():
            if key.version is TLSVersion.TLS1_2:
                assert observation.outcome is Outcome.UNSUPPORTED, observation
                continue
            assert observation.outcome is Outcome.OK, observation
            if key.offer is not Offer.DEFAULT:
                expected = s_client_leaf_sha256(port, *S_CLIENT[(key.offer, key.version)])
                assert leaf_of(observation).sha256 == expected
                assert leaf_of(observation).key_type == key.offer.value.upper()


def test_full_run_against_nginx_passes_best_practice(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with nginx_dual(pki) as port:
        inventory = inventory_for(tmp_path, port, pki.roots)
        result = run_cli("run", "--inventory", str(inventory), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    data = load_document(tmp_path / "reports" / "thirdparty.json")
    assert data["run"]["counts"]["passed"] > 0 and "failed" not in data["run"]["counts"]
    assert (tmp_path / "reports" / "thirdparty.html").exists()


def test_rsa_only_policy_flags_nginx_presenting_ecdsa(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with nginx_dual(pki) as port:
        inventory = inventory_for(tmp_path, port, pki.roots)
        result = run_cli("run", "--inventory", str(inventory), "--policy", "rsa-only", cwd=tmp_path)
    assert result.returncode == 1
    tests = load_document(tmp_path / "reports" / "thirdparty.json")["tests"]
    failed = {(t["id"], t["rule"]) for t in tests if t["outcome"] == "failed"}
    # nginx answers ECDSA-only offers, and gives ECDSA-first browsers the ECDSA chain too.
    assert failed == {(f"dual:https:{offer}:{version}", "presented_key")
                      for offer in ("ecdsa", "default") for version in ("tls1.2", "tls1.3")} | \
        {("thirdparty", "deployment_state")}
    assert {tuple(t["causes"]) for t in tests if t["rule"] == "presented_key" and t["outcome"] == "failed"} == \
        {(Cause.ECDSA_NOT_WANTED,)}
    # nginx with EC-CA and RSA-CA certificates is the note's S3; the fix is the COP.
    [state] = [t for t in tests if t["rule"] == "deployment_state"]
    assert "measured state S3, the policy intends rsa-only" in state["message"]
    # A generic server is told in its own words, not the VOS COP's.
    assert "remove the ECDSA certificate from the server's TLS configuration so that only RSA certificates are " \
        "presented" in state["fix"] and "COP" not in state["fix"]
