"""Generated cases, part 4: name constraints (RFC 5280 4.2.1.10, 6.1.4(g)) and the server's name (RFC 6125,
RFC 9525: DNS and IP subjectAltNames, wildcards, case, IDNA A-labels, the trailing dot, no CN fallback)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from .pki import Builder
from .registry import Made3, register

accept, reject = register("nc")


def constrained(b: Builder, san: Sequence[str | x509.GeneralName], permitted: Sequence[str] | None = None,
                excluded: Sequence[str] | None = None, peer: str = "www.example.test", on_root: bool = False,
                cn: str | None = None) -> Made3:
    """A leaf under an intermediate (or a root) carrying the name constraints."""
    root = b.root(permitted=permitted, excluded=excluded) if on_root else b.root()
    inter = b.ca("Issuing CA", root, **({} if on_root else {"permitted": permitted, "excluded": excluded}))
    return [root], [b.leaf(inter, san=san or None, cn=cn), inter], peer


@accept("RFC 5280 4.2.1.10: www.example.test is within the permitted example.test")
def permitted_dns(b: Builder) -> Made3:
    return constrained(b, ["www.example.test"], permitted=["example.test"])


@accept("RFC 5280 4.2.1.10: the permitted subtree's own name is within it")
def permitted_dns_exact(b: Builder) -> Made3:
    return constrained(b, ["example.test"], permitted=["example.test"], peer="example.test")


@reject("RFC 5280 4.2.1.10: www.other.test is outside the permitted example.test")
def outside_permitted_dns(b: Builder) -> Made3:
    return constrained(b, ["www.other.test"], permitted=["example.test"], peer="www.other.test")


@reject("RFC 5280 4.2.1.10: subtrees end at label boundaries: www.notexample.test is not in example.test")
def permitted_label_boundary(b: Builder) -> Made3:
    return constrained(b, ["www.notexample.test"], permitted=["example.test"], peer="www.notexample.test")


@reject("RFC 5280 4.2.1.10: every name must be permitted, not only the one asked for")
def one_name_outside(b: Builder) -> Made3:
    return constrained(b, ["www.example.test", "www.other.test"], permitted=["example.test"])


@reject("RFC 5280 4.2.1.10: the name is in the excluded subtree")
def excluded_dns(b: Builder) -> Made3:
    return constrained(b, ["www.example.test"], excluded=["example.test"])


@accept("RFC 5280 4.2.1.10: the name is outside the excluded subtree")
def outside_excluded_dns(b: Builder) -> Made3:
    return constrained(b, ["www.example.test"], excluded=["bad.example.test"])


@reject("RFC 5280 4.2.1.10: excluded wins over permitted")
def permitted_and_excluded(b: Builder) -> Made3:
    return constrained(b, ["bad.example.test"], permitted=["example.test"], excluded=["bad.example.test"],
                       peer="bad.example.test")


@accept("RFC 5280 4.2.1.10: permitted, and outside the excluded part")
def permitted_not_excluded(b: Builder) -> Made3:
    return constrained(b, ["good.example.test"], permitted=["example.test"], excluded=["bad.example.test"],
                       peer="good.example.test")


@accept("RFC 5280 4.2.1.10: DNS names are compared case-insensitively")
def permitted_case(b: Builder) -> Made3:
    return constrained(b, ["WWW.EXAMPLE.TEST"], permitted=["Example.Test"])


@accept("RFC 5280 4.2.1.10: a wildcard SAN within the permitted subtree")
def wildcard_permitted(b: Builder) -> Made3:
    return constrained(b, ["*.example.test"], permitted=["example.test"])


@reject("RFC 5280 4.2.1.10 with RFC 6125 6.4.3: *.example.test asserts bad.example.test, which is excluded")
def wildcard_into_excluded(b: Builder) -> Made3:
    return constrained(b, ["*.example.test"], excluded=["bad.example.test"])


@reject("RFC 5280 4.2.1.10: a wildcard SAN outside the permitted subtree")
def wildcard_outside_permitted(b: Builder) -> Made3:
    return constrained(b, ["*.other.test", "www.example.test"], permitted=["example.test"])


@accept("RFC 5280 4.2.1.10: DNS constraints leave IP names alone")
def dns_constraint_ip_name(b: Builder) -> Made3:
    return constrained(b, ["127.0.0.1"], permitted=["example.test"], peer="127.0.0.1")


@accept("RFC 5280 4.2.1.10: 127.0.0.1 is in the permitted 127.0.0.0/8")
def permitted_ip(b: Builder) -> Made3:
    return constrained(b, ["127.0.0.1"], permitted=["127.0.0.0/8"], peer="127.0.0.1")


@reject("RFC 5280 4.2.1.10: 127.0.0.1 is outside the permitted 127.1.0.0/16")
def outside_permitted_ip(b: Builder) -> Made3:
    return constrained(b, ["127.0.0.1"], permitted=["127.1.0.0/16"], peer="127.0.0.1")


@reject("RFC 5280 4.2.1.10: 127.0.0.1 is in the excluded 127.0.0.0/24")
def excluded_ip(b: Builder) -> Made3:
    return constrained(b, ["127.0.0.1"], excluded=["127.0.0.0/24"], peer="127.0.0.1")


@accept("RFC 5280 4.2.1.10: ::1 is in the permitted ::/64")
def permitted_ipv6(b: Builder) -> Made3:
    return constrained(b, ["::1"], permitted=["::/64"], peer="::1")


@accept("RFC 5280 4.2.1.10: IP constraints leave DNS names alone")
def ip_constraint_dns_name(b: Builder) -> Made3:
    return constrained(b, ["www.example.test"], permitted=["127.0.0.0/8"])


@reject("RFC 5937 2: a root's name constraints bind the whole path")
def root_constrains(b: Builder) -> Made3:
    return constrained(b, ["www.other.test"], permitted=["example.test"], peer="www.other.test", on_root=True)


@accept("RFC 5937 2: a root's name constraints that the leaf meets")
def root_constrains_met(b: Builder) -> Made3:
    return constrained(b, ["www.example.test"], permitted=["example.test"], on_root=True)


@accept("RFC 5280 4.2.1.10 / RFC 9525: with a DNS SAN, a host-like CN outside the subtree is not a DNS name")
def cn_outside_with_san(b: Builder) -> Made3:
    return constrained(b, ["www.example.test"], permitted=["example.test"], cn="www.other.test")


@accept("RFC 5280 4.2.1.10: a directoryName constraint the leaf's subject meets")
def permitted_dn(b: Builder) -> Made3:
    org = x509.DirectoryName(b.name(None))
    root = b.root()
    inter = b.ca("Issuing CA", root, permitted=[org])
    return [root], [b.leaf(inter), inter], "www.example.test"


@reject("RFC 5280 4.2.1.10: the leaf's subject is outside the permitted directoryName")
def outside_permitted_dn(b: Builder) -> Made3:
    org = x509.DirectoryName(b.name(None, org="Somebody Else"))
    root = b.root()
    inter = b.ca("Issuing CA", root, permitted=[org])
    return [root], [b.leaf(inter), inter], "www.example.test"


@reject("RFC 5280 4.2.1.10: an email SAN in the excluded example.test mailboxes")
def excluded_email(b: Builder) -> Made3:
    root = b.root()
    inter = b.ca("Issuing CA", root, excluded=[x509.RFC822Name("example.test")])
    leaf = b.leaf(inter, san=["www.example.test", x509.RFC822Name("ops@example.test")])
    return [root], [leaf, inter], "www.example.test"


accept, reject = register("host")


def named(b: Builder, san: Sequence[str] | None, peer: str, cn: str | None = None) -> Made3:
    root = b.root()
    inter = b.ca("Issuing CA", root)
    return [root], [b.leaf(inter, san=san, cn=cn), inter], peer


@accept("RFC 6125 6.4.1: the DNS SAN is the name asked for")
def exact(b: Builder) -> Made3:
    return named(b, ["www.example.test"], "www.example.test")


@reject("RFC 6125 6.4.1: the DNS SAN is another name")
def mismatch(b: Builder) -> Made3:
    return named(b, ["mail.example.test"], "www.example.test")


@accept("RFC 6125 6.4.1: DNS names match case-insensitively (upper-case SAN)")
def san_upper_case(b: Builder) -> Made3:
    return named(b, ["WWW.Example.TEST"], "www.example.test")


@accept("RFC 6125 6.4.1: DNS names match case-insensitively (upper-case name asked for)")
def peer_upper_case(b: Builder) -> Made3:
    return named(b, ["www.example.test"], "WWW.EXAMPLE.TEST")


@accept("RFC 6125 6.4.3: *.example.test matches one label")
def wildcard(b: Builder) -> Made3:
    return named(b, ["*.example.test"], "www.example.test")


@reject("RFC 6125 6.4.3: *.example.test does not match example.test")
def wildcard_apex(b: Builder) -> Made3:
    return named(b, ["*.example.test"], "example.test")


@reject("RFC 6125 6.4.3: *.example.test does not match two labels")
def wildcard_two_labels(b: Builder) -> Made3:
    return named(b, ["*.example.test"], "a.www.example.test")


@reject("RFC 9525 6.3: a partial-label wildcard (w*.example.test) matches nothing")
def wildcard_partial(b: Builder) -> Made3:
    return named(b, ["w*.example.test"], "www.example.test")


@reject("RFC 6125 6.4.3: a wildcard only as the left-most label")
def wildcard_not_leftmost(b: Builder) -> Made3:
    return named(b, ["www.*.test"], "www.example.test")


@reject("RFC 6125 7.2 / CA/B BR 3.2.2.6: a wildcard over a top-level domain")
def wildcard_tld(b: Builder) -> Made3:
    return named(b, ["*.test"], "example.test")


@reject("RFC 6125 6.4.3: a lone '*' matches nothing")
def wildcard_alone(b: Builder) -> Made3:
    return named(b, ["*"], "www.example.test")


@accept("RFC 6125 6.4.2: IDNA names compare as A-labels")
def idna_a_label(b: Builder) -> Made3:
    return named(b, ["xn--bcher-kva.example.test"], "xn--bcher-kva.example.test")


@accept("RFC 6125 6.4.3: a wildcard over an IDNA A-label domain")
def idna_wildcard(b: Builder) -> Made3:
    return named(b, ["*.xn--bcher-kva.example.test"], "www.xn--bcher-kva.example.test")


@reject("RFC 6125 6.4.3: a wildcard must not match inside an A-label (xn--*)")
def idna_partial_wildcard(b: Builder) -> Made3:
    return named(b, ["xn--*.example.test"], "xn--bcher-kva.example.test")


@reject("RFC 6125 6.4.2: another A-label is another name")
def idna_other_label(b: Builder) -> Made3:
    return named(b, ["xn--bcher-kva.example.test"], "xn--bchen-kva.example.test")


@accept("RFC 6125 6.4.1: an absolute name (trailing dot) is the same host")
def peer_trailing_dot(b: Builder) -> Made3:
    return named(b, ["www.example.test"], "www.example.test.")


@accept("RFC 6125 6.4: an IP address matches an iPAddress SAN")
def ip_san(b: Builder) -> Made3:
    return named(b, ["127.0.0.1"], "127.0.0.1")


@accept("RFC 6125 6.4: an IPv6 address matches an iPAddress SAN")
def ipv6_san(b: Builder) -> Made3:
    return named(b, ["::1"], "::1")


@reject("RFC 6125 6.4: another IP address")
def ip_mismatch(b: Builder) -> Made3:
    return named(b, ["127.0.0.2"], "127.0.0.1")


@reject("RFC 6125 6.4 / RFC 5280 4.2.1.6: an IP address is matched against iPAddress SANs only, not a dNSName")
def ip_as_dns_san(b: Builder) -> Made3:
    return named(b, [x509.DNSName("127.0.0.1")], "127.0.0.1")   # type: ignore[list-item]


@reject("RFC 6125 6.4.1: a DNS name is not matched against iPAddress SANs")
def dns_name_ip_san_only(b: Builder) -> Made3:
    return named(b, ["127.0.0.1"], "www.example.test")


@reject("RFC 9525 6.3 / CA/B BR 7.1.2.7.12: no subjectAltName; the CN is not a reference")
def cn_only(b: Builder) -> Made3:
    return named(b, None, "www.example.test", cn="www.example.test")


@reject("RFC 6125 6.4.4: with a DNS SAN the CN is never consulted")
def cn_matches_san_does_not(b: Builder) -> Made3:
    return named(b, ["mail.example.test"], "www.example.test", cn="www.example.test")


@accept("RFC 6125 6.4.1: one of several DNS SANs")
def many_sans(b: Builder) -> Made3:
    return named(b, [f"host{i}.example.test" for i in range(50)] + ["www.example.test"], "www.example.test")


@accept("RFC 6125 6.4.1: a 63-octet label")
def long_label(b: Builder) -> Made3:
    return named(b, ["a" * 63 + ".example.test"], "a" * 63 + ".example.test")
