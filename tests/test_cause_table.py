"""One table maps each typed cause to its fix (rules/causes.py), and every cause in it has a test that
produces it on a real server (issue 23, section 2). SHOWN_BY names that test for each cause; this file
checks that the table, the schema and SHOWN_BY agree, and that each named test exists and asserts its
cause by name. The named tests themselves run real servers (nginx, gnutls-serv, the lab, loopback peers)
and read the cause from the results JSON a real `dualcert run` wrote."""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path

import pytest

from dualcert.rules.causes import FIXES, Cause

from .conftest import REPO
from .doctables import DOCS, doc_table, framed, rewrite

TESTS = Path(__file__).parent
TABLE = "causes-table"
_REAL = "test_causes_on_real_servers.py::"
_TAXONOMY = "test_taxonomy.py::test_fix_follows_the_cause"
_LAB = "test_lab_run.py::test_each_state_fails_with_the_causes_of_its_row"
SHOWN_BY = {
    Cause.UNREACHABLE: "test_hostile_servers.py::test_one_run_against_every_hostile_server_beside_a_good_one",
    Cause.UNRESOLVED: "test_fix_by_cause.py::test_a_name_that_does_not_resolve_is_told_so_and_offered_address",
    Cause.NO_TLS: "test_hostile_servers.py::test_one_run_against_every_hostile_server_beside_a_good_one",
    Cause.CHAIN_TOO_LARGE: _TAXONOMY,
    Cause.MALFORMED_CERTIFICATE: "test_hostile_servers.py::test_one_run_against_every_hostile_server_beside_a_good_one",
    Cause.NOT_A_REFUSAL: _REAL + "test_an_end_after_the_certificate_is_not_a_refusal",
    Cause.VERSION_MISSING: "test_pre_tls13.py::test_default_policy_has_no_failure_for_missing_tls13_and_required_names_"
                           "the_version",
    Cause.RELEASE_VERSION: "test_releases.py::test_cucm_15su2_sip_without_tls13_is_a_warning_naming_the_"
                           "secondary_source",
    Cause.ECDSA_NOT_PRESENTED: _LAB,
    Cause.RSA_NOT_PRESENTED: _REAL + "test_an_ecdsa_only_server_refuses_the_rsa_offer",
    Cause.ECDSA_NOT_WANTED: "test_thirdparty_servers.py::test_rsa_only_policy_flags_nginx_presenting_ecdsa",
    Cause.BROWSER_GETS_ECDSA: "test_fix_by_cause.py::test_browser_given_ecdsa_where_rsa_is_intended_is_told_about_the_"
                              "servers_order",
    Cause.BROWSER_GETS_RSA: _LAB,
    Cause.BROWSER_CURVE: _REAL + "test_a_browser_refused_for_the_leafs_curve_is_told_the_curve",
    Cause.SELF_SIGNED: _TAXONOMY,
    Cause.CA_SIGNED: _REAL + "test_a_ca_signed_server_where_self_signed_is_intended",
    Cause.WRONG_ISSUER: _LAB,
    Cause.ECDSA_UNDER_RSA_CA: _TAXONOMY,
    Cause.ISSUER_UNSEEN: _TAXONOMY,
    Cause.INTERMEDIATE_NOT_SENT: _TAXONOMY,
    Cause.NO_TRUST_BUNDLE: _REAL + "test_no_trust_bundle",
    Cause.UNKNOWN_ISSUER: _TAXONOMY,
    Cause.SELF_SIGNED_UNTRUSTED: _LAB,
    Cause.MISSING_INTERMEDIATE: _TAXONOMY,
    Cause.LEAF_VALIDITY: _TAXONOMY,
    Cause.CA_VALIDITY: _TAXONOMY,
    Cause.BAD_SIGNATURE: _TAXONOMY,
    Cause.PROFILE: _TAXONOMY,
    Cause.TOO_COMPLEX: _TAXONOMY,
    Cause.HOSTNAME: _TAXONOMY,
    Cause.NOT_YET_VALID: _TAXONOMY,
    Cause.LEAF_EXPIRING: _TAXONOMY,
    Cause.CA_EXPIRING: _TAXONOMY,
    Cause.WEAK_SIGNATURE: _TAXONOMY,
    Cause.WEAK_KEY: _TAXONOMY,
    Cause.WEAK_CA_KEY: _TAXONOMY,
    Cause.WEAK_ANCHOR: "test_weak_anchor.py::test_a_root_on_a_weak_key_is_named_in_a_warning",
    Cause.LINT: _TAXONOMY,
    Cause.CLIENT_CANNOT_CONNECT: _REAL + "test_a_client_that_cannot_connect_is_told_what_to_enable",
    Cause.CLIENT_GETS_OTHER_FAMILY: _REAL + "test_a_client_given_the_other_family",
    Cause.CLIENT_UNTRUSTED: "test_fix_by_cause.py::test_ca_signed_leaf_without_its_intermediate_is_told_to_send_it",
    Cause.CLIENT_CURVE: _REAL + "test_a_leaf_on_a_curve_the_client_lacks",
    Cause.CLIENT_VERSION: _REAL + "test_a_client_on_a_version_the_policy_does_not_accept",
    Cause.SELF_SIGNED_TWIN: _LAB,
    Cause.UNIT_SPLIT: _REAL + "test_one_certificate_slot_with_two_certificates",
    Cause.PLAINTEXT_TWIN: "test_estate_suite.py::test_plaintext_listener_warns_and_fails_only_when_strict",
    Cause.ROOTS_DIFFER: _LAB,
    Cause.SAN_GAP: _REAL + "test_a_multi_server_certificate_that_misses_a_node",
    Cause.STATE: _LAB,
    Cause.UNDECLARED_CHANGE: "test_baseline_lab.py::test_undeclared_change_fails_its_test_with_a_fix",
}


def test_every_cause_has_a_fix_and_a_test() -> None:
    assert set(FIXES) == set(Cause), set(Cause) ^ set(FIXES)
    assert set(SHOWN_BY) == set(Cause), set(Cause) ^ set(SHOWN_BY)


def test_the_results_schema_lists_every_cause() -> None:
    schema = json.loads((REPO / "schema" / "results.schema.json").read_text())
    assert schema["$defs"]["verdict"]["properties"]["causes"]["items"]["enum"] == [c.value for c in Cause]


@cache
def _module(name: str) -> tuple[str, frozenset[str]]:
    source = (TESTS / name).read_text(encoding="utf-8")
    functions = frozenset(node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef))
    return source, functions


@pytest.mark.parametrize("cause", list(Cause), ids=[c.value for c in Cause])
def test_the_named_test_exists_and_asserts_the_cause(cause: Cause) -> None:
    """The test names the cause as `Cause.NAME` in its module (in its body, or in the table it is
    parametrized over): it reads it from a real run's results JSON and compares."""
    module, _, function = SHOWN_BY[cause].partition("::")
    source, functions = _module(module)
    assert function in functions, f"{SHOWN_BY[cause]} does not exist"
    assert f"Cause.{cause.name}" in source, f"{module} never asserts Cause.{cause.name}"


def render() -> str:
    """docs/checks.md's "Causes and fixes" table: each cause, what it means, and the test that shows it."""
    lines = ["| cause | means | shown on a real server by |", "|---|---|---|"]
    for cause, remedy in FIXES.items():
        module, _, function = SHOWN_BY[cause].partition("::")
        lines.append(f"| `{cause.value}` | {remedy.means} | `tests/{module}` `{function}` |")
    return framed(TABLE, lines)


def test_the_docs_table_is_the_table() -> None:
    table = doc_table((DOCS / "checks.md").read_text(encoding="utf-8"), TABLE)
    assert table is not None, "docs/checks.md lacks the causes-table markers"
    assert table == render(), "docs/checks.md's causes table is stale: run `python -m tests.test_cause_table`"


if __name__ == "__main__":
    rewrite(DOCS / "checks.md", TABLE, render())
