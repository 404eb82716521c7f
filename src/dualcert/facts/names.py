"""Distinguished names compared as parsed RDN sequences, normalised the way path builders match them.

RFC 5280 7.1 compares names after case folding and whitespace folding (LDAP StringPrep); OpenSSL's
canonical encoding does the same. Splitting an RFC 4514 string on commas breaks on escaped commas
and multi-valued RDNs, so names are compared here, parsed, and nowhere else.
"""

from __future__ import annotations

from cryptography import x509

NameKey = tuple[tuple[tuple[str, str], ...], ...]


def _fold(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return " ".join(text.split()).casefold()


def name_key(name: x509.Name) -> NameKey:
    """The name as a sequence of RDNs, each a sorted set of (attribute OID, folded value)."""
    return tuple(tuple(sorted((attr.oid.dotted_string, _fold(attr.value)) for attr in rdn)) for rdn in name.rdns)


def same_name(a: x509.Name, b: x509.Name) -> bool:
    return name_key(a) == name_key(b)
