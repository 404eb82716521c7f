"""The estate as a whole: each cluster's deployment state (the UCCX note's S1-S4 or rsa-only),
and the rules that compare certificates across offers, ports and nodes.

Cluster tests read `test_deployment_state[<cluster>]`, node tests `test_twin_signing[<node>]`."""


def test_deployment_state(dualcert_cluster):
    """The measured state (from the ECDSA-only and RSA-only probes) is the policy's intended_state;
    otherwise the failure names the measured state, what agents will see, and the fix."""
    dualcert_cluster.require("deployment_state")


def test_cluster_roots(dualcert_cluster):
    """Publisher and subscriber chain to the same roots; a multi-server SAN certificate names both."""
    dualcert_cluster.require("cluster_roots")


def test_twin_signing(dualcert_node):
    """A unit whose RSA certificate is CA-signed has an ECDSA twin that is CA-signed too, or not presented."""
    dualcert_node.require("twin_signing")


def test_unit_consistency(dualcert_node):
    """Services that share a certificate unit present the same certificate on every port of the node."""
    dualcert_node.require("unit_consistency")


def test_ecdsa_chain(dualcert_node):
    """No ECDSA leaf whose chain carries an RSA signature, on any offer (CSCvb58580)."""
    dualcert_node.require("ecdsa_chain")


def test_plaintext_listener(dualcert_node):
    """Report only: no plain-text twin listens where the catalog makes the secure port the only one
    (a warning; fails only with --dualcert-strict)."""
    dualcert_node.require("plaintext_listener")


def test_all_node_rules(dualcert_node_rules):
    """--dualcert-items probe: the four node rules above in one test per node; --dualcert-items endpoint
    (large estates): in one test per cluster, over its nodes. A failure names each failing rule (and node),
    and the results JSON still holds one record per node and rule."""
    dualcert_node_rules.require_all()
