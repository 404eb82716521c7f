"""Name constraints (RFC 5280 4.2.1.10) as the validators users run apply them: DNS, IP, directory, email
and URI subtrees checked; a constraint of another form, a wildcard reaching into an excluded subtree or a
malformed DNS name under DNS constraints refuses the path; the work is bounded (facts/path.py calls it)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

from dualcert.facts.chain import extension, label, rfc4514, self_issued
from dualcert.facts.names import name_key

# Name-constraint comparisons (names x subtrees) one validation may make, over every path it tries: Go's
# crypto/x509 default (VerifyOptions.MaxConstraintComparisions, 250,000). A chain that needs more is
# refused with its own cause, in milliseconds, instead of stalling the run (issue 22).
MAX_CONSTRAINT_COMPARISONS = 250_000
# The name forms whose constraints are checked; a constraint of any other form (otherName, registeredID)
# cannot be honoured, and a client refuses the path (OpenSSL: unsupported name constraint type).
CHECKED_FORMS = (x509.DNSName, x509.IPAddress, x509.DirectoryName, x509.RFC822Name, x509.UniformResourceIdentifier)


def refused_name(path: Sequence[x509.Certificate], index: int, left: list[int]) -> tuple[str, bool] | None:
    """Why the name constraints of path[index] refuse the path below it (RFC 5280 4.2.1.10), and whether
    only because checking them needs more than the bound; None when they allow it. Spends `left`, the
    validation's comparison budget."""
    nc = extension(path[index], x509.NameConstraints)
    if nc is None:
        return None
    subtrees = [*(nc.permitted_subtrees or []), *(nc.excluded_subtrees or [])]
    odd = sorted({type(s).__name__ for s in subtrees if not isinstance(s, CHECKED_FORMS)})
    if odd:
        return (f"the name constraints of {label(path[index])} use a form clients cannot check "
                f"({', '.join(odd)}): clients refuse the path", False)
    dns_constrained = any(isinstance(s, x509.DNSName) for s in subtrees)
    for below, cert in enumerate(path[:index]):
        if below > 0 and self_issued(cert):
            continue
        names = _names(cert, is_leaf=below == 0)
        left[0] -= len(names) * len(subtrees)
        if left[0] < 0:
            return (f"checking the name constraints of {label(path[index])} against {label(cert)} needs more than "
                    f"{MAX_CONSTRAINT_COMPARISONS:,} comparisons (names x constraints), the bound clients such as "
                    "Go's crypto/x509 apply: the path is refused", True)
        for name in names:
            if dns_constrained and isinstance(name, x509.DNSName) and not _dns_syntax(name.value):
                return (f"{label(cert)} carries {_show(name)}, not a valid DNS name, under the name constraints "
                        f"of {label(path[index])}", False)
            if not _allowed(name, nc):
                return (f"the name constraints of {label(path[index])} do not allow {_show(name)} in "
                        f"{label(cert)}", False)
    return None


def _dns_syntax(value: str) -> bool:
    """A host name a constraint can be checked against: labels of letters, digits, '-' and '_', none
    empty, an optional leading '*' label (a wildcard)."""
    labels = value.rstrip(".").split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return bool(labels) and all(0 < len(part) < 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in part)
                                for part in labels)


def _names(cert: x509.Certificate, *, is_leaf: bool) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DirectoryName(cert.subject)] if cert.subject.rdns else []
    san = extension(cert, x509.SubjectAlternativeName)
    if san is not None:
        names += list(san)
    if is_leaf and not any(isinstance(n, x509.DNSName) for n in names):
        # Like OpenSSL, a leaf without DNS SANs has its CN checked as a host name.
        for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            value = str(attr.value)
            if "." in value and " " not in value:
                names.append(x509.DNSName(value))
    return names


def _show(name: x509.GeneralName) -> str:
    value = name.value
    return rfc4514(value) if isinstance(value, x509.Name) else repr(str(value))


def _allowed(name: x509.GeneralName, nc: x509.NameConstraints) -> bool:
    same = [s for s in nc.permitted_subtrees or [] if type(s) is type(name)]
    if same and not any(_within(name, s) for s in same):
        return False
    return not any(_within(name, s) or _wildcard_reaches(name, s)
                   for s in nc.excluded_subtrees or [] if type(s) is type(name))


def _wildcard_reaches(name: x509.GeneralName, subtree: x509.GeneralName) -> bool:
    """A wildcard SAN (*.example.com) matches hosts of an excluded subtree below its domain
    (bad.example.com): clients refuse it (Go since CVE-2025-61727)."""
    if not isinstance(name, x509.DNSName) or not name.value.startswith("*."):
        return False
    domain, base = name.value[2:].lower().rstrip("."), str(subtree.value).lower().strip(".")
    return base.endswith("." + domain)


def _within(name: x509.GeneralName, subtree: x509.GeneralName) -> bool:
    if isinstance(name, x509.DNSName):
        host, base = name.value.lower().rstrip("."), str(subtree.value).lower().rstrip(".")
        if base.startswith("."):
            return host.endswith(base)
        return not base or host == base or host.endswith("." + base)
    if isinstance(name, x509.IPAddress) and isinstance(subtree.value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        address = name.value
        return isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and address in subtree.value
    if isinstance(name, x509.DirectoryName) and isinstance(subtree.value, x509.Name):
        prefix = name_key(subtree.value)
        return name_key(name.value)[:len(prefix)] == prefix
    if isinstance(name, (x509.RFC822Name, x509.UniformResourceIdentifier)):
        text, base = str(name.value).lower(), str(subtree.value).lower()
        return text == base or text.endswith("@" + base) or text.endswith("." + base.lstrip("."))
    return False
