"""The certificate taxonomy against a real nginx: every case of tests/taxonomy.py, generated now, served
from its own server block of one nginx, judged by one `dualcert run`; each rule's verdict as expected."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from dualcert.compare.results_file import load_document
from dualcert.rules.causes import Cause
from dualcert.rules.registry import Scope, rules_of

from .conftest import free_ports, run_cli
from .doctables import doc_table
from .taxonomy import CASES, CHECKS_DOC, PROBE_RULES, TABLE, TaxonomyCase, render
from .taxonomy_pki import Served, SharedCAs
from .thirdparty import nginx_serving

SERVER_BLOCK = """
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {chain};
        ssl_certificate_key {key};
        {extra}
        location / {{ return 200 "{id}\\n"; }}
    }}"""

# Each case's node offers only its leaf's family: the other family's offer is refused, as intended.
PRESENTS = {"ECDSA": "{ecdsa: ecdsa, rsa: refused, default: ecdsa}",
            "RSA": "{ecdsa: refused, rsa: rsa, default: rsa}"}


@dataclass
class TaxonomyRun:
    served: dict[str, Served]
    results: dict[str, Any]
    returncode: int
    output: str

    def tests(self, case_id: str) -> list[dict[str, Any]]:
        return [t for t in self.results["tests"] if t["id"] == case_id or t["id"].startswith(f"{case_id}:")]

    def probes(self, case_id: str) -> list[dict[str, Any]]:
        return [p for p in self.results["probes"] if p["node"] == case_id]


def write_site(directory: Path, served: dict[str, Served], ports: dict[str, int], cas: SharedCAs) -> str:
    """Chains, keys, the site's bundle, the inventory and the policy; returns nginx's server blocks."""
    servers = []
    for case in CASES.values():
        chain, key = directory / f"{case.id}.chain.pem", directory / f"{case.id}.key.pem"
        chain.write_bytes(b"".join(c.pem() for c in served[case.id].chain))
        key.write_bytes(served[case.id].leaf.key_pem())
        servers.append(SERVER_BLOCK.format(port=ports[case.id], chain=chain, key=key, extra=case.nginx, id=case.id))
    bundle = [*cas.roots, *(c for s in served.values() for c in s.bundle)]
    (directory / "bundle.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in bundle))
    nodes = "".join(f"  - {{name: {c.id}, host: {c.host}, address: 127.0.0.1, cluster: {c.id}, "
                    f"services: [{{name: https, port: {ports[c.id]}}}]}}\n" for c in CASES.values())
    (directory / "taxonomy.yaml").write_text(f"site: taxonomy\ntrust: bundle.pem\nnodes:\n{nodes}")
    policy = "".join(f"  {c.id}: {{rules: {{presents: {PRESENTS[c.family]}}}}}\n" for c in CASES.values())
    (directory / "policy.yaml").write_text(f"extends: ec-ca-signed\nnodes:\n{policy}")
    return "".join(servers)


@pytest.fixture(scope="module")
def taxonomy(tmp_path_factory: pytest.TempPathFactory) -> TaxonomyRun:
    directory = tmp_path_factory.mktemp("taxonomy")
    cas = SharedCAs()
    served = {case.id: case.build(cas, case.host) for case in CASES.values()}
    ports = dict(zip(CASES, free_ports(len(CASES)), strict=True))
    servers = write_site(directory, served, ports, cas)
    with nginx_serving(directory, servers, ports[next(reversed(ports))]):
        result = run_cli("run", "--inventory", "taxonomy.yaml", "--policy", "policy.yaml", cwd=directory)
    results = load_document(directory / "reports" / "taxonomy.json")
    return TaxonomyRun(served, results, result.returncode, result.stdout + result.stderr)


def test_one_run_judges_every_case(taxonomy: TaxonomyRun) -> None:
    """The run ends as a policy failure (the taxonomy has failing cases), never as an internal error."""
    assert taxonomy.returncode == 1, taxonomy.output[-3000:]
    assert taxonomy.results["run"]["internal_errors"] == []
    assert {p["node"] for p in taxonomy.results["probes"]} == set(CASES)


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_what_nginx_serves_is_what_the_case_built(taxonomy: TaxonomyRun, case: TaxonomyCase) -> None:
    """The harness itself: the offers that ask for the leaf's family got the case's outcome, and every
    chain received is exactly the one built, in its order."""
    sent = [c.cert.fingerprint(hashes.SHA256()).hex() for c in taxonomy.served[case.id].chain]
    probes = {f"{p['offer']}:{p['tls_version']}": p for p in taxonomy.probes(case.id)}
    outcomes = {probe: p["outcome"] for probe, p in probes.items() if case.gets_chain(probe) and probe not in case.at}
    assert set(outcomes.values()) == {case.outcome}, outcomes
    assert all([c["sha256"] for c in p["chain"]] == sent for p in probes.values() if p["outcome"] == "ok"), case.id
    if case.outcome == "ok":
        assert {p["chain"][0]["key_type"] for p in probes.values() if p["outcome"] == "ok"} == {case.family}
    if case.outcome == "chain-too-large":   # the premise: a Certificate message over 100 KiB
        size = sum(len(c.cert.public_bytes(serialization.Encoding.DER)) for c in taxonomy.served[case.id].chain)
        assert size > 100 * 1024, size


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_verdict_per_rule(taxonomy: TaxonomyRun, case: TaxonomyCase) -> None:
    """Each rule's verdict on every probe that got the case's chain (and on the node), as the case expects."""
    with_chain = {f"{p['offer']}:{p['tls_version']}" for p in taxonomy.probes(case.id) if p["outcome"] == "ok"}
    judged, wrong = set(), []
    for test in taxonomy.tests(case.id):
        if test["rule"] not in case.verdicts:
            continue   # cluster rules, and node rules a one-family generic node does not exercise (twins, units)
        parts = test["id"].split(":")
        probe = f"{parts[2]}:{parts[3]}" if len(parts) == 4 else None
        expect = case.expected(test["rule"], probe, probe in with_chain)
        if expect is None:
            continue
        judged.add(test["rule"])
        if not expect.met_by(test["status"], test["message"]):
            wrong.append(f"{test['id']} {test['rule']}: expected {expect.status} saying {expect.words}, "
                         f"got {test['status']}: {test['message']}")
    missing = sorted(set(case.verdicts) - judged)
    assert not missing and not wrong, "\n".join([*(f"{case.id}: no {rule} verdict" for rule in missing), *wrong])


# (case, rule): the cause its failing or warning verdicts record, words their fix must hold and words it
# must not: the fix follows the cause (rules/causes.py), each on a real nginx.
FIX_FOR_CAUSE = {
    ("expired", "trust"): (Cause.LEAF_VALIDITY, "renew it", "trust bundle if it is your CA"),
    ("expired", "expiry"): (Cause.LEAF_EXPIRING, "renew the server's ECDSA certificate", "the CA certificate"),
    ("not-yet-valid", "expiry"): (Cause.NOT_YET_VALID, "clock", "renew"),
    ("wrong-host", "hostname"): (Cause.HOSTNAME, "subject alternative names", "trust bundle"),
    ("untrusted-root", "trust"): (Cause.UNKNOWN_ISSUER, "trust bundle if it is your CA", "renew it"),
    ("incomplete-unbundled", "trust"): (Cause.MISSING_INTERMEDIATE, "does not send the CA that issued", "renew"),
    ("incomplete-unbundled", "chain_algorithm"): (Cause.ISSUER_UNSEEN, "intermediate", "renew"),
    ("incomplete-unbundled", "ecdsa_chain"): (Cause.ISSUER_UNSEEN, "intermediate", "renew"),
    ("incomplete-bundled", "chain_complete"): (Cause.INTERMEDIATE_NOT_SENT, "chain", "renew"),
    ("sha1-intermediate", "signature_hash"): (Cause.WEAK_SIGNATURE, "Taxonomy Legacy Issuing CA", "trust bundle"),
    ("reversed-order", "chain_lint"): (Cause.LINT, "report only", "trust bundle"),
    ("san-10000", "presented_key"): (Cause.CHAIN_TOO_LARGE, "subject alternative names", "trust bundle"),
    ("rsa-1024", "key_strength"): (Cause.WEAK_KEY, "allowed key size", "trust bundle"),
    ("weak-intermediate", "key_strength"): (Cause.WEAK_CA_KEY, "CA", "renew it"),
    ("intermediate-expiring", "expiry"): (Cause.CA_EXPIRING, "Taxonomy Expiring Issuing CA",
                                          "renew the ECDSA certificate"),
    ("expired-intermediate", "trust"): (Cause.CA_VALIDITY, "the CA's current certificate", "renew it"),
    ("namesake-issuer", "trust"): (Cause.BAD_SIGNATURE, "does not verify with its issuer's key",
                                   "trust bundle if it is your CA"),
    ("constraint-bomb", "trust"): (Cause.TOO_COMPLEX, "fewer name constraints", "trust bundle if it is your CA"),
    ("name-constraint-violated", "trust"): (Cause.PROFILE, "re-issue", "trust bundle if it is your CA"),
    ("ec-under-rsa-sent", "chain_algorithm"): (Cause.ECDSA_UNDER_RSA_CA, "signed by an RSA CA", "trust bundle"),
    ("self-signed", "issuer"): (Cause.SELF_SIGNED, "generate a CSR", "trust bundle"),
    ("self-signed", "trust"): (Cause.SELF_SIGNED_UNTRUSTED, "that very certificate", "issuing root"),
    ("p521", "presented_key"): (Cause.BROWSER_CURVE, "on P-256 or P-384", "to RSA clients"),
}


@pytest.mark.parametrize(("case_id", "rule"), list(FIX_FOR_CAUSE), ids=[f"{c}-{r}" for c, r in FIX_FOR_CAUSE])
def test_fix_follows_the_cause(taxonomy: TaxonomyRun, case_id: str, rule: str) -> None:
    cause, must, must_not = FIX_FOR_CAUSE[(case_id, rule)]
    found = [t for t in taxonomy.tests(case_id) if t["rule"] == rule and t["status"] in ("fail", "warn")]
    assert found and all(t["causes"] == [cause] for t in found), [(t["id"], t["causes"]) for t in found]
    fixes = {t["fix"] for t in found}
    assert all(must in f and must_not not in f for f in fixes), fixes


# case: (which certificate of the served chain the trust failure is about, the check that failed)
CONCERNS = {"expired-intermediate": (1, "validity"), "name-constraint-violated": (1, "nameConstraints"),
            "namesake-issuer": (0, "signature"), "incomplete-unbundled": (0, "issuer"),
            "constraint-bomb": (1, "nameConstraints")}


@pytest.mark.parametrize("case_id", list(CONCERNS))
def test_a_trust_failure_names_the_certificate_and_the_check(taxonomy: TaxonomyRun, case_id: str) -> None:
    """Issue 22, section 3: the validator's finding as data in the results JSON, beside the words."""
    index, check = CONCERNS[case_id]
    sha256 = taxonomy.served[case_id].chain[index].cert.fingerprint(hashes.SHA256()).hex()
    found = [t for t in taxonomy.tests(case_id) if t["rule"] == "trust" and t["status"] == "fail"]
    assert found and all(t["concerns"] == {"certificate": sha256, "check": check} for t in found), found
    assert sha256 in taxonomy.results["certificates"]   # a key of the certificates table


def test_every_probe_rule_has_a_column() -> None:
    """A rule added to the registry is judged on every case of the taxonomy, not silently left out."""
    assert set(PROBE_RULES) == {rule.name for rule in rules_of(Scope.PROBE)}


def test_docs_table_is_the_cases() -> None:
    table = doc_table(CHECKS_DOC.read_text(encoding="utf-8"), TABLE)
    assert table is not None, "docs/checks.md lacks the taxonomy-table markers"
    assert table == render(), "docs/checks.md's taxonomy table is stale: run `python -m tests.taxonomy`"
