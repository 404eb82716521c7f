"""Certificate policy, one rule per test, for every (node, service, offer, TLS version).

Test ids read `node:service:offer:tls1.2`. The rules live in `dualcert.checks`; each test
states one and asserts on its finding, so a failure names exactly one rule."""


def test_presented_key(dualcert_case):
    """The offer gets the key family the policy intends: ECDSA, RSA, or no certificate (refused)."""
    dualcert_case.require("presented_key")


def test_chain_algorithm(dualcert_case):
    """An ECDSA leaf and every certificate above it are signed with ECDSA (CSCvb58580)."""
    dualcert_case.require("chain_algorithm")


def test_chain_complete(dualcert_case):
    """The server sends every intermediate between its leaf and the trust anchor (clients without AIA fetching
    fail otherwise), whether or not the site's bundle holds the missing one."""
    dualcert_case.require("chain_complete")


def test_issuer(dualcert_case):
    """CA-signed or self-signed as the policy says, by the issuer it names."""
    dualcert_case.require("issuer")


def test_trust(dualcert_case):
    """The chain validates to the site's trust bundle as a server's path (what OpenSSL, Java and browsers accept)."""
    dualcert_case.require("trust")


def test_hostname(dualcert_case):
    """The certificate names the node's host (RFC 6125)."""
    dualcert_case.require("hostname")


def test_key_strength(dualcert_case):
    """RSA keys of the policy's minimum size, EC keys on an allowed curve: the leaf and the
    certificates above it (the bundle's roots exempt unless `bundle_roots: checked`)."""
    dualcert_case.require("key_strength")


def test_expiry(dualcert_case):
    """Every certificate of the chain is valid now and outside the fail window; warns inside the warn window."""
    dualcert_case.require("expiry")


def test_signature_hash(dualcert_case):
    """No certificate of the path is signed with a hash the policy forbids (SHA-1, MD5 by default;
    the bundle's roots are exempt unless `bundle_roots: checked`)."""
    dualcert_case.require("signature_hash")


def test_chain_lint(dualcert_case):
    """Report only: the path's certificates follow RFC 5280 / the CA/B profile (a deviation clients
    accept is a warning naming the certificate; fails only with --dualcert-strict)."""
    dualcert_case.require("chain_lint")


def test_all_rules(dualcert_probe):
    """Every rule above for one probe, in one test: `--dualcert-items probe`, for large estates."""
    dualcert_probe.require_all()


def test_endpoint_rules(dualcert_endpoint):
    """Every rule above over every probe of one endpoint (node:service), in one test:
    `--dualcert-items endpoint`, the default above 1,000 probes."""
    dualcert_endpoint.require_all()
