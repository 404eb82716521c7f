"""Generated cases, part 2: key usages, extended key usages, critical extensions, self-signed leaves and
cross-signing (RFC 5280 4.2 and 6.1, RFC 4158 path building, RFC 8446 4.4.2.2 for a server key's use)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU

from .cases_path import standard
from .pki import Builder, unknown_extension
from .registry import Made2, Made3, register

CLIENT_AUTH, ANY_EKU = (EKU.CLIENT_AUTH,), (EKU.ANY_EXTENDED_KEY_USAGE,)

accept, reject = register("ku")


@reject("RFC 5280 6.1.4(n): the intermediate's keyUsage lacks keyCertSign")
def intermediate_without_key_cert_sign(b: Builder) -> Made2:
    return standard(b, inter=dict(ku=("digital_signature", "crl_sign")))


@accept("RFC 5280 4.2.1.3: keyUsage is optional; a CA without it may sign")
def intermediate_without_ku(b: Builder) -> Made2:
    return standard(b, inter=dict(ku=None))


@accept("RFC 5280 4.2.1.3: a non-critical keyUsage with keyCertSign")
def intermediate_ku_not_critical(b: Builder) -> Made2:
    return standard(b, inter=dict(ku_critical=False))


@reject("RFC 8446 4.4.2.2 / RFC 5246 7.4.2: a leaf keyUsage without digitalSignature cannot sign the handshake")
def leaf_key_cert_sign_only(b: Builder) -> Made2:
    return standard(b, ku=("key_cert_sign",))


@accept("RFC 5280 4.2.1.3: a leaf without keyUsage")
def leaf_without_ku(b: Builder) -> Made2:
    return standard(b, ku=None)


@accept("RFC 5280 4.2.1.3: an RSA leaf with digitalSignature and keyEncipherment")
def leaf_rsa_usual(b: Builder) -> Made2:
    return standard(b, key="rsa", ku=("digital_signature", "key_encipherment"))


@reject("RFC 8446 4.4.2.2: an RSA leaf with keyEncipherment only cannot sign (EC)DHE handshakes")
def leaf_rsa_key_encipherment_only(b: Builder) -> Made2:
    return standard(b, key="rsa", ku=("key_encipherment",))


accept, reject = register("eku")


@reject("RFC 5280 4.2.1.12: the leaf's extendedKeyUsage names clientAuth only")
def leaf_client_auth(b: Builder) -> Made2:
    return standard(b, eku=CLIENT_AUTH)


@reject("RFC 5280 4.2.1.12: the leaf's extendedKeyUsage names codeSigning only")
def leaf_code_signing(b: Builder) -> Made2:
    return standard(b, eku=(EKU.CODE_SIGNING,))


@accept("RFC 5280 4.2.1.12: anyExtendedKeyUsage allows any purpose, serverAuth included")
def leaf_any_eku(b: Builder) -> Made2:
    return standard(b, eku=ANY_EKU)


@accept("RFC 5280 4.2.1.12: serverAuth among other purposes")
def leaf_server_and_client(b: Builder) -> Made2:
    return standard(b, eku=(EKU.SERVER_AUTH, EKU.CLIENT_AUTH))


@accept("RFC 5280 4.2.1.12: a leaf without extendedKeyUsage may be used for any purpose")
def leaf_without_eku(b: Builder) -> Made2:
    return standard(b, eku=None)


@accept("RFC 5280 4.2.1.12: a critical extendedKeyUsage naming serverAuth")
def leaf_eku_critical(b: Builder) -> Made2:
    return standard(b, eku_critical=True)


@reject("CA/B BR 7.1.2.2 and every client's practice: an intermediate limited to clientAuth cannot issue servers")
def intermediate_client_auth(b: Builder) -> Made2:
    return standard(b, inter=dict(eku=CLIENT_AUTH))


@accept("RFC 5280 4.2.1.12: an intermediate with serverAuth")
def intermediate_server_auth(b: Builder) -> Made2:
    return standard(b, inter=dict(eku=(EKU.SERVER_AUTH,)))


@accept("RFC 5280 4.2.1.12: an intermediate with anyExtendedKeyUsage is not limited")
def intermediate_any_eku(b: Builder) -> Made2:
    return standard(b, inter=dict(eku=ANY_EKU))


@accept("RFC 5280 6.1.1(d): the trust anchor's extendedKeyUsage is not processed")
def root_client_auth(b: Builder) -> Made2:
    return standard(b, root=dict(eku=CLIENT_AUTH))


accept, reject = register("critical")


@reject("RFC 5280 4.2: a leaf with a critical extension the client does not recognise")
def leaf_unknown_critical(b: Builder) -> Made2:
    return standard(b, extra=[(unknown_extension(), True)])


@reject("RFC 5280 6.1.4(o): an intermediate with an unrecognised critical extension")
def intermediate_unknown_critical(b: Builder) -> Made2:
    return standard(b, inter=dict(extra=[(unknown_extension(), True)]))


@accept("RFC 5280 6.1.1(d): the trust anchor's extensions are not processed, critical or not")
def root_unknown_critical(b: Builder) -> Made2:
    return standard(b, root=dict(extra=[(unknown_extension(), True)]))


@accept("RFC 5280 4.2: an unrecognised non-critical extension is ignored")
def leaf_unknown_not_critical(b: Builder) -> Made2:
    return standard(b, extra=[(unknown_extension(), False)])


@accept("RFC 5280 4.2.1.4: a critical certificatePolicies extension is recognised")
def leaf_critical_policies(b: Builder) -> Made2:
    policies = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)])
    return standard(b, extra=[(policies, True)])


@accept("RFC 5280 4.2.1.6: a critical subjectAltName beside a subject")
def leaf_critical_san(b: Builder) -> Made2:
    return standard(b, san_critical=True)


@accept("RFC 5280 4.2.1.6: an empty subject with a critical subjectAltName")
def leaf_empty_subject(b: Builder) -> Made2:
    root = b.root()
    return [root], [b.leaf(root, subject=x509.Name([]), san_critical=True)]


accept, reject = register("selfsigned")


@reject("RFC 5280 6.1: a self-signed leaf the client does not trust")
def leaf_untrusted(b: Builder) -> Made2:
    leaf = b.leaf(None)
    return [b.root()], [leaf]


@accept("RFC 5280 6.1.1(d): a self-signed leaf the client holds as its trust anchor")
def leaf_pinned(b: Builder) -> Made2:
    leaf = b.leaf(None)
    return [leaf], [leaf]


@accept("RFC 5280 6.1.1(d): a self-signed CA-and-server certificate (an appliance's) held as the anchor")
def appliance_pinned(b: Builder) -> Made2:
    leaf = b.leaf(None, ca=True, ku=("digital_signature", "key_cert_sign"))
    return [leaf], [leaf]


@reject("RFC 5280 6.1: a self-signed certificate claiming the trusted root's name, with another key")
def leaf_claims_root_name(b: Builder) -> Made2:
    root = b.root()
    fake = b.leaf(None, subject=root.cert.subject)
    return [root], [fake]


accept, reject = register("cross")


@accept("RFC 4158: the sent cross-certificate leads nowhere; the path through the trusted new root is built")
def cross_to_new_root(b: Builder) -> Made2:
    old = b.root("Old Root CA")
    key = b.key()
    new = b.root("New Root CA", key=key)
    cross = b.ca("New Root CA", old, key=key)
    inter = b.ca("Issuing CA", new)
    return [new], [b.leaf(inter), inter, cross]


@accept("RFC 4158: the sent cross-certificate leads to the trusted old root")
def cross_to_old_root(b: Builder) -> Made2:
    old = b.root("Old Root CA")
    key = b.key()
    b.root("New Root CA", key=key)
    cross = b.ca("New Root CA", old, key=key)
    inter = b.ca("Issuing CA", cross)
    return [old], [b.leaf(inter), inter, cross]


@reject("RFC 5280 6.1.3(a)(2): the only path runs through an expired cross-certificate")
def cross_expired_only_path(b: Builder) -> Made2:
    old = b.root("Old Root CA")
    key = b.key()
    cross = b.ca("New Root CA", old, key=key, not_after=-1, not_before=-400)
    inter = b.ca("Issuing CA", cross)
    return [old], [b.leaf(inter), inter, cross]


@accept("RFC 4158: an expired cross-certificate is sent, the path through the trusted new root is valid")
def cross_expired_other_path(b: Builder) -> Made2:
    old = b.root("Old Root CA")
    key = b.key()
    new = b.root("New Root CA", key=key)
    cross = b.ca("New Root CA", old, key=key, not_after=-1, not_before=-400)
    inter = b.ca("Issuing CA", new)
    return [old, new], [b.leaf(inter), inter, cross]


@accept("RFC 4158: of two intermediates with one name, the one whose key verifies is used")
def wrong_twin_first(b: Builder) -> Made2:
    root = b.root()
    real = b.ca("Issuing CA", root)
    twin = b.ca("Issuing CA", root)
    return [root], [b.leaf(real, aki=False), twin, real]


@accept("RFC 4158: of two versions of the intermediate, the expired one is passed over")
def expired_twin_first(b: Builder) -> Made2:
    root = b.root()
    key = b.key()
    old = b.ca("Issuing CA", root, key=key, not_after=-1, not_before=-400)
    new = b.ca("Issuing CA", root, key=key)
    return [root], [b.leaf(new), old, new]


@accept("RFC 4158: of two versions of the intermediate, the clientAuth-only one is passed over")
def client_auth_twin_first(b: Builder) -> Made2:
    root = b.root()
    key = b.key()
    limited = b.ca("Issuing CA", root, key=key, eku=CLIENT_AUTH)
    full = b.ca("Issuing CA", root, key=key)
    return [root], [b.leaf(full), limited, full]


@reject("RFC 4158: two CAs cross-signed into a loop, neither trusted: no path, and the builder stops")
def cross_loop(b: Builder) -> Made3:
    key_a, key_b = b.key(), b.key()
    a_self = b.root("CA A", key=key_a)
    b_self = b.root("CA B", key=key_b)
    a_by_b = b.ca("CA A", b_self, key=key_a)
    b_by_a = b.ca("CA B", a_self, key=key_b)
    return [b.root("Unrelated Root")], [b.leaf(a_by_b), a_by_b, b_by_a], "www.example.test"
