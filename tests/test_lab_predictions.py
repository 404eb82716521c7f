"""The lab's predictions (lab/expected.py): what a browser-like (default) offer gets is read from each
lab server's own configuration, and agrees with what the real servers present; `dualcert lab` exits 0
only when every predicted verdict was measured, and names the missing ones when `-k` removed some."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualcert.estate.catalog import load_catalog
from dualcert.estate.inventory import load_inventory
from dualcert.facts.chain import chain_facts
from dualcert.lab.estate import PREFERENCE_LISTS, LabEndpoint, LabNode
from dualcert.lab.expected import browser_family, predictions
from dualcert.lab.server import LabServer, ServedEndpoint
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Outcome
from dualcert.probe.tls import server_context
from dualcert.rules.registry import Scope, rules_of

from .conftest import run_cli

FAMILY = {"ECDSA": "ecdsa", "RSA": "rsa"}


def test_browser_family_is_what_each_lab_server_presents(lab) -> None:
    """For every lab endpoint and both versions, the family read from the server's configuration is the
    family of the leaf its real server gives a browser-like offer."""
    inventory = load_inventory(lab.inventory_path)
    tasks = [ProbeTask(e, Offer.DEFAULT, v) for e in inventory.endpoints() for v in TLSVersion]
    observed = ProbeRunner().run(tasks)
    by_endpoint = {(e.node.name, e.service.name): e for e in lab.endpoints}
    families = set()
    for key, observation in observed.items():
        assert observation.outcome is Outcome.OK, observation
        measured = FAMILY[chain_facts(observation.chain_der).leaf.key_type]
        assert browser_family(by_endpoint[(key.node, key.service)], key.version.value) == measured, key
        families.add(measured)
    assert families == {"rsa", "ecdsa"}  # both kinds of server are exercised


def _tomcat(tmp_path: Path, lab, prefers: str) -> LabEndpoint:
    """A second server for s3-uccx-pub's tomcat (chains from the lab's CAs), configured to put `prefers` first."""
    chains = [lab.pki.leaf(kind, family, ["s3-uccx-pub.lab.dualcert.test"]).write(tmp_path, f"{prefers}-{family}")
              for kind, family in (("rsa-ca", "rsa"), ("ec-ca", "ec"))]
    ciphers, sigalgs = PREFERENCE_LISTS[prefers]
    context = server_context(chains, cipher_preference=ciphers, sigalgs_preference=sigalgs)
    return LabEndpoint(LabNode("s3-uccx-pub", "uccx", "s3", "S3"), load_catalog()["uccx"].services["tomcat"],
                       ServedEndpoint(context, sigalgs_preference=sigalgs), ("rsa", "ecdsa"))


def test_predictions_follow_the_servers_configuration_not_the_catalog(tmp_path: Path, lab) -> None:
    """A tomcat server reconfigured ECDSA first (the catalog still says `prefers: rsa`): the prediction
    follows the server, and so does what the real server presents; presented_key of the default offer is
    then predicted to fail. RSA first: to pass."""
    assert load_catalog()["uccx"].services["tomcat"].prefers == "rsa"
    for prefers, fails in (("ecdsa", True), ("rsa", False)):
        endpoint = _tomcat(tmp_path, lab, prefers)
        with LabServer([endpoint.served]):
            site = tmp_path / f"{prefers}.yaml"
            site.write_text(f"nodes:\n  - name: web\n    host: s3-uccx-pub.lab.dualcert.test\n"
                            f"    address: 127.0.0.1\n    services: [{{name: https, port: {endpoint.served.port}}}]\n")
            inventory = load_inventory(site)
            observed = ProbeRunner().run([ProbeTask(inventory.endpoints()[0], Offer.DEFAULT, v) for v in TLSVersion])
        for key, observation in observed.items():
            measured = FAMILY[chain_facts(observation.chain_der).leaf.key_type]
            assert browser_family(endpoint, key.version.value) == measured == prefers
        predicted = predictions([endpoint], [endpoint.node])
        for version in TLSVersion:
            assert predicted[(f"s3-uccx-pub:tomcat:default:{version.value}", "presented_key")] is fails
            assert predicted[(f"s3-uccx-pub:tomcat:ecdsa:{version.value}", "presented_key")] is False


def test_every_probe_rule_of_the_registry_is_predicted(lab) -> None:
    predicted = predictions(lab.endpoints, lab.nodes)
    probe_rules = {r.name for r in rules_of(Scope.PROBE)}
    assert {rule for (subject, rule) in predicted if subject.count(":") == 3} == probe_rules
    assert len([k for k in predicted if k[0].count(":") == 3]) == len(lab.endpoints) * 3 * 2 * len(probe_rules)
    assert {rule for (subject, rule) in predicted if subject.count(":") != 3} == \
        {r.name for r in rules_of(Scope.NODE)} | {r.name for r in rules_of(Scope.CLUSTER)}


@pytest.mark.parametrize(("extra", "missing"), [
    (["-k", "not tls1.3"], "s3-uccx-pub:tomcat:ecdsa:tls1.3 presented_key"),
    (["--deselect", "test_estate.py::test_cluster_roots"], "s3 cluster_roots"),
])
def test_lab_with_predictions_deselected_names_them_and_exits_1(tmp_path: Path, extra: list[str],
                                                                 missing: str) -> None:
    result = run_cli("lab", "--states", "S3", "--no-collab", "--", *extra, cwd=tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "predicted verdicts were not measured (-k, --deselect or --offers left them out), e.g. " \
        in result.stderr and missing in result.stderr
    assert "every state fails exactly" not in result.stdout
