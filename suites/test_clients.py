"""Client simulation, one client rule per test, for every (node, service, simulated client).

Test ids read `node:service:client-chrome:auto`. Only with `--clients` (docs/clients.md)."""


def test_client_key(dualcert_client):
    """The client connects and gets the key family the policy intends for it (ecdsa, rsa or any)."""
    dualcert_client.require("client_key")


def test_client_accepts(dualcert_client):
    """The client can validate and use what it gets: its trust stores, the host name, a curve it
    supports, and no ECDSA leaf under an RSA CA (CSCvb58580)."""
    dualcert_client.require("client_accepts")


def test_client_protocol(dualcert_client):
    """The negotiated TLS version is one the policy accepts for this client."""
    dualcert_client.require("client_protocol")


def test_client_rules(dualcert_client_rules):
    """Every client rule above for one client's probe, in one test: `--dualcert-items probe` or
    `endpoint` (the default above 1,000 probes)."""
    dualcert_client_rules.require_all()
