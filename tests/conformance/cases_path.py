"""Generated cases, part 1: path building, validity, a fixed validation time, basicConstraints and path
length, written from RFC 5280 section 6 (path validation) and RFC 8446 4.4.2 (what a server sends).

Every case is written from the standards, not from what dualcert does: RFC 5280 section 6 for the path
(the trust anchor is a name and a key, 6.1.1(d): of its certificate only the pathLenConstraint and name
constraints apply, as RFC 5937 lets them; its dates, cA flag and other extensions are not processed), 4.2
for extensions, RFC 6125 / RFC 9525 for names and, where RFC 5280 leaves algorithms to the relying
party, the CA/B Forum Baseline Requirements 6.1.5 and 7.1.3 (SHA-2; RSA of 2048 bits or more; P-256,
P-384, P-521)."""

from __future__ import annotations

from .pki import Builder
from .registry import Made2, register


def standard(b: Builder, root: dict[str, object] | None = None, inter: dict[str, object] | None = None,
             **leaf: object) -> Made2:
    """Root (trusted), 'Issuing CA' and a leaf, sent as leaf and intermediate; each with the changes given."""
    anchor = b.root(**root or {})
    issuing = b.ca("Issuing CA", anchor, **inter or {})
    return [anchor], [b.leaf(issuing, **leaf), issuing]   # type: ignore[arg-type]


accept, reject = register("path")


@accept("RFC 5280 6.1: a leaf issued directly by the trust anchor")
def root_leaf(b: Builder) -> Made2:
    root = b.root()
    return [root], [b.leaf(root)]


@accept("RFC 5280 6.1: leaf, one intermediate, trust anchor")
def one_intermediate(b: Builder) -> Made2:
    return standard(b)


@accept("RFC 5280 6.1: two intermediates")
def two_intermediates(b: Builder) -> Made2:
    root = b.root()
    policy = b.ca("Policy CA", root)
    issuing = b.ca("Issuing CA", policy)
    return [root], [b.leaf(issuing), issuing, policy]


@reject("RFC 5280 6.1: no path: the intermediate is neither sent nor trusted")
def intermediate_missing(b: Builder) -> Made2:
    trusted, chain = standard(b)
    return trusted, chain[:1]


@accept("RFC 5280 6.1: the intermediate is not sent but the client holds it (as a trust anchor)")
def intermediate_in_bundle(b: Builder) -> Made2:
    trusted, chain = standard(b)
    return [*trusted, chain[1]], chain[:1]


@accept("RFC 5280 6.1.1(d): any public key may be the trust anchor, an intermediate's too")
def intermediate_as_anchor(b: Builder) -> Made2:
    _, chain = standard(b)
    return [chain[1]], chain


@accept("RFC 5246 7.4.2 / RFC 8446 4.4.2: clients build the path whatever the order sent")
def chain_out_of_order(b: Builder) -> Made2:
    root = b.root()
    policy = b.ca("Policy CA", root)
    issuing = b.ca("Issuing CA", policy)
    return [root], [b.leaf(issuing), policy, issuing]


@accept("RFC 8446 4.4.2: certificates not on the path are ignored")
def unrelated_certificate_sent(b: Builder) -> Made2:
    root = b.root()
    inter = b.ca("Issuing CA", root)
    stray = b.root("Stray Root CA")
    return [root], [b.leaf(inter), stray, inter]


@accept("RFC 8446 4.4.2: the trust anchor may be sent too")
def root_sent_too(b: Builder) -> Made2:
    trusted, chain = standard(b)
    return trusted, [*chain, *trusted]


@reject("RFC 5280 6.1.3(a)(1): the trusted root has the issuer's name but another key")
def anchor_same_name_other_key(b: Builder) -> Made2:
    root = b.root()
    impostor = b.root()
    inter = b.ca("Issuing CA", root)
    return [impostor], [b.leaf(inter), inter]


@reject("RFC 5280 6.1.3(a)(1): the leaf's signature does not verify with the sent intermediate's key")
def intermediate_same_name_other_key(b: Builder) -> Made2:
    root = b.root()
    real = b.ca("Issuing CA", root)
    other = b.ca("Issuing CA", root)
    return [root], [b.leaf(real), other]


@reject("RFC 5280 6.1: the trust bundle holds an unrelated root only")
def unrelated_root(b: Builder) -> Made2:
    _, chain = standard(b)
    return [b.root("Other Root CA")], chain


@accept("RFC 5280 6.1: paths with mixed key types (RSA root, ECDSA intermediate, RSA leaf)")
def mixed_key_types(b: Builder) -> Made2:
    return standard(b, root=dict(key="rsa"), key="rsa", ku=("digital_signature", "key_encipherment"))


accept, reject = register("validity")


@reject("RFC 5280 6.1.3(a)(2): the leaf has expired")
def leaf_expired(b: Builder) -> Made2:
    return standard(b, not_after=-1)


@reject("RFC 5280 6.1.3(a)(2): the leaf is not yet valid")
def leaf_not_yet_valid(b: Builder) -> Made2:
    return standard(b, not_before=2)


@reject("RFC 5280 6.1.3(a)(2): the intermediate has expired")
def intermediate_expired(b: Builder) -> Made2:
    return standard(b, inter=dict(not_after=-1))


@reject("RFC 5280 6.1.3(a)(2): the intermediate is not yet valid")
def intermediate_not_yet_valid(b: Builder) -> Made2:
    return standard(b, inter=dict(not_before=1))


@accept("RFC 5280 6.1.1(d): the trust anchor is a key and a name; its certificate's dates are not checked")
def root_expired(b: Builder) -> Made2:
    return standard(b, root=dict(not_after=-1, not_before=-800))


@accept("RFC 5280 4.1.2.5: a leaf valid for 20 years is still valid (the profile's limits bind CAs)")
def leaf_long_lived(b: Builder) -> Made2:
    return standard(b, not_after=20 * 365)


accept, reject = register("time")


@accept("RFC 5280 6.1.1(b): valid at the given validation time (2016)", fixed_time=True)
def valid_then(b: Builder) -> Made2:
    return standard(b)


@reject("RFC 5280 6.1.3(a)(2): expired at the given validation time", fixed_time=True)
def expired_then(b: Builder) -> Made2:
    return standard(b, not_after=-0.5)


@reject("RFC 5280 6.1.3(a)(2): not yet valid at the given validation time", fixed_time=True)
def not_yet_valid_then(b: Builder) -> Made2:
    return standard(b, not_before=0.5)


@accept("RFC 5280 6.1: a SHA-256 RSA path valid at the given time", fixed_time=True)
def rsa_path_then(b: Builder) -> Made2:
    return standard(b, root=dict(key="rsa"), inter=dict(key="rsa"), key="rsa")


accept, reject = register("bc")


@reject("RFC 5280 6.1.4(k): a v3 intermediate without basicConstraints is not a CA")
def intermediate_without_bc(b: Builder) -> Made2:
    return standard(b, inter=dict(ca=None))


@reject("RFC 5280 6.1.4(k): an intermediate with cA false is not a CA")
def intermediate_ca_false(b: Builder) -> Made2:
    return standard(b, inter=dict(ca=False))


@accept("RFC 5280 6.1.4(k) checks cA, not the criticality 4.2.1.9 asks CAs to set")
def intermediate_bc_not_critical(b: Builder) -> Made2:
    return standard(b, inter=dict(bc_critical=False))


@accept("RFC 5280 6.1.1(d): the trust anchor's certificate needs no basicConstraints")
def root_without_bc(b: Builder) -> Made2:
    return standard(b, root=dict(ca=None))


@accept("RFC 5280 6.1.1(d): the trust anchor's extensions are not processed (no basicConstraints, no keyUsage)")
def root_without_bc_or_ku(b: Builder) -> Made2:
    return standard(b, root=dict(ca=None, ku=None))


@accept("RFC 5280 6.1.1(d): the trust anchor's basicConstraints are not processed (cA false)")
def root_ca_false(b: Builder) -> Made2:
    return standard(b, root=dict(ca=False))


@accept("RFC 5280 4.2.1.9: cA true on a leaf does not stop it from being an end entity")
def leaf_ca_true(b: Builder) -> Made2:
    return standard(b, ca=True)


@accept("RFC 5280 4.2.1.9: a leaf without basicConstraints is an end entity")
def leaf_without_bc(b: Builder) -> Made2:
    return standard(b, ca=None)


accept, reject = register("pathlen")


@accept("RFC 5280 6.1.4(m): pathLenConstraint 0 on the issuing CA allows the leaf")
def zero_above_leaf(b: Builder) -> Made2:
    return standard(b, inter=dict(pathlen=0))


@reject("RFC 5937 2: the root's pathLenConstraint 0 applies; one intermediate below it")
def zero_on_root(b: Builder) -> Made2:
    return standard(b, root=dict(pathlen=0))


@reject("RFC 5937 2: the root's pathLenConstraint 1 applies; two intermediates below it")
def one_exceeded(b: Builder) -> Made2:
    root = b.root(pathlen=1)
    policy = b.ca("Policy CA", root)
    issuing = b.ca("Issuing CA", policy)
    return [root], [b.leaf(issuing), issuing, policy]


@accept("RFC 5937 2: the root's pathLenConstraint 1 is met by one intermediate")
def one_met(b: Builder) -> Made2:
    return standard(b, root=dict(pathlen=1))


@reject("RFC 5280 6.1.4(l): pathLenConstraint 0 on an intermediate with another CA below it")
def zero_on_intermediate(b: Builder) -> Made2:
    root = b.root()
    policy = b.ca("Policy CA", root, pathlen=0)
    issuing = b.ca("Issuing CA", policy)
    return [root], [b.leaf(issuing), issuing, policy]


@accept("RFC 5280 6.1.4(l): a self-issued intermediate (key rollover) does not count against pathLen")
def self_issued_not_counted(b: Builder) -> Made2:
    root = b.root()
    old = b.ca("Issuing CA", root, pathlen=0)
    new = b.ca("Issuing CA", old)   # same name, new key: self-issued
    return [root], [b.leaf(new), new, old]


@accept("RFC 5280 6.1.4(m): a leaf with cA true is the end entity, not counted by pathLen 0")
def zero_with_ca_leaf(b: Builder) -> Made2:
    return standard(b, inter=dict(pathlen=0), ca=True)


@reject("RFC 5937 2: the anchor certificate's pathLenConstraint 0 applies; two CAs below it")
def zero_on_anchor_intermediate(b: Builder) -> Made2:
    root = b.root()
    anchor = b.ca("Anchor CA", root, pathlen=0)
    policy = b.ca("Policy CA", anchor)
    issuing = b.ca("Issuing CA", policy)
    return [anchor], [b.leaf(issuing), issuing, policy]
