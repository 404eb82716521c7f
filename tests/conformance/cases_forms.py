"""Generated cases, part 3: key identifiers, duplicate extensions, weak or unusual keys and signature
algorithms, v1 certificates and long chains (RFC 5280 4.1 and 4.2; for algorithms, which RFC 5280 leaves
to the relying party, the CA/B Forum Baseline Requirements 6.1.5 and 7.1.3)."""

from __future__ import annotations

from cryptography.x509.oid import ExtensionOID

from .cases_path import standard
from .pki import Builder
from .registry import Made2, register

RSA = {"key": "rsa"}
accept, reject = register("akid")


@accept("RFC 5280 4.2.1.1: authorityKeyIdentifier only helps find the issuer; a wrong one does not break the path")
def leaf_aki_mismatch(b: Builder) -> Made2:
    return standard(b, aki=b"\x01" * 20)


@accept("RFC 5280 4.2.1.1-2: key identifiers are optional for path validation")
def no_key_identifiers(b: Builder) -> Made2:
    none = dict(ski=False, aki=False)
    return standard(b, root=none, inter=none, **none)


@accept("RFC 5280 4.2.1.1: the leaf names a key id its issuer does not declare (no subjectKeyIdentifier)")
def issuer_without_ski(b: Builder) -> Made2:
    return standard(b, inter=dict(ski=False))


@accept("RFC 5280 4.2.1.1: an intermediate whose authorityKeyIdentifier names another key")
def intermediate_aki_mismatch(b: Builder) -> Made2:
    return standard(b, inter=dict(aki=b"\x02" * 20))


accept, reject = register("dup")


@reject("RFC 5280 4.2: a certificate MUST NOT include an extension twice (the leaf's subjectAltName)")
def leaf_san_twice(b: Builder) -> Made2:
    return standard(b, duplicate=ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string)


@reject("RFC 5280 4.2: a certificate MUST NOT include an extension twice (the intermediate's basicConstraints)")
def intermediate_bc_twice(b: Builder) -> Made2:
    return standard(b, inter=dict(duplicate=ExtensionOID.BASIC_CONSTRAINTS.dotted_string))


@reject("RFC 5280 4.2: a certificate MUST NOT include an extension twice (the leaf's keyUsage)")
def leaf_ku_twice(b: Builder) -> Made2:
    return standard(b, duplicate=ExtensionOID.KEY_USAGE.dotted_string)


accept, reject = register("weak")


@reject("CA/B BR 7.1.3.2: SHA-1 signatures are not allowed (an intermediate signed with SHA-1)")
def intermediate_sha1(b: Builder) -> Made2:
    return standard(b, root=RSA, inter=dict(key="rsa", hash_name="sha1"))


@reject("CA/B BR 7.1.3.2: SHA-1 signatures are not allowed (a leaf signed with SHA-1)")
def leaf_sha1(b: Builder) -> Made2:
    return standard(b, root=RSA, inter=RSA, hash_name="sha1")


@reject("CA/B BR 7.1.3.2: SHA-1 signatures are not allowed (ECDSA with SHA-1 on the leaf)")
def leaf_ecdsa_sha1(b: Builder) -> Made2:
    return standard(b, hash_name="sha1")


@reject("CA/B BR 7.1.3.2 (and RFC 6151): MD5 signatures are not allowed")
def leaf_md5(b: Builder) -> Made2:
    return standard(b, root=RSA, inter=RSA, hash_name="md5")


@reject("CA/B BR 6.1.5: RSA keys of at least 2048 bits (an RSA 1024 intermediate)")
def intermediate_rsa1024(b: Builder) -> Made2:
    return standard(b, root=RSA, inter=dict(key="rsa1024"))


@reject("CA/B BR 6.1.5: RSA keys of at least 2048 bits (an RSA 1024 leaf)")
def leaf_rsa1024(b: Builder) -> Made2:
    return standard(b, key="rsa1024", ku=("digital_signature", "key_encipherment"))


@reject("CA/B BR 6.1.5: EC keys on P-256, P-384 or P-521 only (a P-192 intermediate)")
def intermediate_p192(b: Builder) -> Made2:
    return standard(b, inter=dict(key="p192"))


@reject("CA/B BR 6.1.5: EC keys on P-256, P-384 or P-521 only (a P-192 leaf)")
def leaf_p192(b: Builder) -> Made2:
    return standard(b, key="p192")


@reject("CA/B BR 6.1.5: DSA keys are not allowed (a DSA leaf)")
def leaf_dsa(b: Builder) -> Made2:
    return standard(b, key="dsa")


@accept("CA/B BR 6.1.5: an RSA 4096 leaf under a P-384 chain")
def rsa4096_under_p384(b: Builder) -> Made2:
    p384 = dict(key="p384", hash_name="sha384")
    return standard(b, root=p384, inter=p384, key="rsa4096", hash_name="sha384")


@accept("CA/B BR 6.1.5: a P-521 chain signed with SHA-512")
def p521_chain(b: Builder) -> Made2:
    p521 = dict(key="p521", hash_name="sha512")
    return standard(b, root=p521, inter=p521, **p521)


@accept("CA/B BR 7.1.3.2: RSASSA-PSS signatures with SHA-256 are allowed")
def rsa_pss_intermediate(b: Builder) -> Made2:
    return standard(b, root=RSA, inter=dict(key="rsa", hash_name="pss"))


@reject("CA/B BR 6.1.5: Ed25519 keys are not allowed in the Web PKI (an Ed25519 leaf)")
def leaf_ed25519(b: Builder) -> Made2:
    return standard(b, key="ed25519")


accept, reject = register("v1")


@reject("RFC 5280 6.1.4(k): a v1 intermediate cannot assert cA")
def v1_intermediate(b: Builder) -> Made2:
    return standard(b, inter=dict(v1=True))


@accept("RFC 5280 6.1.1(d): a v1 self-signed root is a trust anchor like any other")
def v1_root(b: Builder) -> Made2:
    return standard(b, root=dict(v1=True))


@reject("RFC 9525 6.3 / CA/B BR 7.1.2.7.12: a v1 leaf has no subjectAltName; the CN is not a reference")
def v1_leaf(b: Builder) -> Made2:
    return standard(b, cn="www.example.test", v1=True)


accept, reject = register("long")


def _ladder(b: Builder, intermediates: int) -> Made2:
    root = b.root()
    chain, issuer = [], root
    for level in range(intermediates):
        issuer = b.ca(f"CA level {level + 1}", issuer)
        chain.insert(0, issuer)
    return [root], [b.leaf(issuer), *chain]


@accept("RFC 5280 6.1: no limit on path length without pathLenConstraint (5 intermediates)")
def five_intermediates(b: Builder) -> Made2:
    return _ladder(b, 5)


@accept("RFC 5280 6.1: no limit on path length without pathLenConstraint (7 intermediates)")
def seven_intermediates(b: Builder) -> Made2:
    return _ladder(b, 7)


@accept("RFC 5280 6.1: no limit on path length without pathLenConstraint (9 intermediates)")
def nine_intermediates(b: Builder) -> Made2:
    return _ladder(b, 9)


@accept("RFC 5280 6.1: no limit on path length without pathLenConstraint (12 intermediates)")
def twelve_intermediates(b: Builder) -> Made2:
    return _ladder(b, 12)
