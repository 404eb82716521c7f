"""Probe rules about the path above the leaf: is it sent whole, signed with strong hashes, and well-formed.

Each reads the chain above the leaf once (Case.above: the validated path, else the presented chain).
"""

from __future__ import annotations

from dualcert.facts.chain import CertFacts
from dualcert.facts.lint import deviations
from dualcert.facts.trust import anchors_of
from dualcert.rules.causes import Cause, failed, finding
from dualcert.rules.probe_rules import Case, _no_chain, _where
from dualcert.verdict import Status, Verdict


def chain_complete(case: Case) -> Verdict:
    """The server sends every certificate between its leaf and the trust anchor: clients that do not
    fetch missing intermediates (AIA) fail otherwise, whether or not the site's bundle rescues the path."""
    rule = "chain_complete"
    if not case.has_chain:
        return _no_chain(case, rule)
    leaf = case.chain.leaf
    if leaf.self_signed:
        return Verdict(rule, Status.NA, f"{_where(case)}: self-signed leaf; no intermediate to send")
    above = case.above
    if above.validated and len(above.certs) == 1:
        return Verdict(rule, Status.PASS, f"{_where(case)}: the leaf itself is in the trust bundle; no "
                       "intermediate is needed")
    if above.validated:
        sent = {c.sha256 for c in case.chain.certs}
        missing = [c for c in above.certs[1:-1] if c.sha256 not in sent]
        if missing:
            names = ", ".join(repr(c.common_name or c.subject) for c in missing)
            return failed(rule, f"{_where(case)}: the server does not send the intermediate {names}; the site's "
                          "bundle holds it, but clients that do not fetch missing intermediates (AIA) fail",
                          Cause.INTERMEDIATE_NOT_SENT, case.endpoint, case.family)
        return Verdict(rule, Status.PASS, f"{_where(case)}: every certificate between the leaf and "
                       f"{above.certs[-1].common_name or above.certs[-1].subject!r} is sent")
    if above.unseen:
        # Without a path the issuer may be a root (a one-tier CA: nothing to send) or a missing intermediate.
        return finding(rule, Status.WARN, f"{_where(case)}: the server sends its leaf alone and its issuer "
                      f"{leaf.issuer!r} is neither sent nor in the trust bundle ({case.validation.detail}): if that "
                      "issuer is an intermediate, clients that do not fetch it (AIA) fail",
                      Cause.INTERMEDIATE_NOT_SENT, case.endpoint, case.family)
    return Verdict(rule, Status.NA, f"{_where(case)}: no validated path ({case.validation.detail}); whether an "
                   "intermediate is missing cannot be told (the trust rule judges the path)")


def judged(case: Case) -> list[CertFacts]:
    """The certificates whose own signature and key the policy judges: the path, without the trust
    bundle's anchors unless `bundle_roots: checked` (a root's self-signature protects nothing, and its
    key is the bundle owner's choice)."""
    above = case.above
    exempt = set() if case.expectation.check_bundle_roots else anchors_of(above, case.trust)
    return [c for c in above.certs if c.sha256 not in exempt]


def _name(cert: CertFacts) -> str:
    return repr(cert.common_name or cert.subject)


def signature_hash(case: Case) -> Verdict:
    rule, forbidden = "signature_hash", case.expectation.forbidden_hashes
    if not case.has_chain:
        return _no_chain(case, rule)
    certs = judged(case)
    weak = [c for c in certs if c.signature_hash in forbidden]
    if weak:
        names = "; ".join(f"{_name(c)} is signed with {c.signature_hash.upper() if c.signature_hash else '?'} "
                          f"({c.signature_algorithm})" for c in weak)
        return failed(rule, f"{_where(case)}: {names}; the policy forbids "
                      f"{', '.join(h.upper() for h in forbidden)} signatures", Cause.WEAK_SIGNATURE, case.endpoint,
                      case.family, [c.common_name or c.subject for c in weak], leaf=weak[0] is case.chain.leaf)
    hashes = ", ".join(dict.fromkeys(c.signature_hash or c.signature_algorithm for c in certs))
    return Verdict(rule, Status.PASS, f"{_where(case)}: {len(certs)} certificate(s) signed with {hashes}")


def weak_intermediate_keys(case: Case) -> list[str]:
    """Intermediates (and, if the policy says so, bundle roots) under the policy's RSA size or curves."""
    leaf = case.chain.leaf
    return _weak_keys(case, [c for c in judged(case) if c is not leaf and c.sha256 != leaf.sha256])


def weak_anchor_keys(case: Case) -> list[str]:
    """The trust bundle's anchors on the path that the policy's key rule would refuse: exempt from it
    (bundle_roots: exempt), yet worth a warning, since clients that enforce key sizes refuse them."""
    if case.expectation.check_bundle_roots:
        return []   # judged as any certificate of the path
    anchors = anchors_of(case.above, case.trust)
    return _weak_keys(case, [c for c in case.above.certs if c.sha256 in anchors])


def _weak_keys(case: Case, certs: list[CertFacts]) -> list[str]:
    exp = case.expectation
    found = []
    for cert in certs:
        if cert.key_type == "RSA" and (cert.key_size or 0) < exp.rsa_min_bits:
            found.append(f"{_name(cert)} has an RSA {cert.key_size}-bit key")
        elif cert.key_type == "ECDSA" and cert.curve not in exp.ec_curves:
            found.append(f"{_name(cert)} has a key on curve {cert.curve}")
        elif cert.key_type not in ("RSA", "ECDSA"):
            found.append(f"{_name(cert)} has a {cert.key_type} key")
    return found


def key_strength(case: Case) -> Verdict:
    rule, exp = "key_strength", case.expectation
    if not case.has_chain:
        return _no_chain(case, rule)
    leaf = case.chain.leaf
    if leaf.key_type == "RSA":
        ok = (leaf.key_size or 0) >= exp.rsa_min_bits
        want = f"RSA of at least {exp.rsa_min_bits} bits"
        seen = f"RSA {leaf.key_size} bits"
    elif leaf.key_type == "ECDSA":
        ok = leaf.curve in exp.ec_curves
        want, seen = f"a curve in {', '.join(exp.ec_curves)}", f"curve {leaf.curve}"
    else:
        ok, want, seen = False, "an RSA or ECDSA key", leaf.key_type
    if not ok:
        return failed(rule, f"{_where(case)}: expected {want}, saw {seen}", Cause.WEAK_KEY, case.endpoint,
                      case.family)
    weak = weak_intermediate_keys(case)
    if weak:
        return failed(rule, f"{_where(case)}: the leaf's {seen} is fine, but {'; '.join(weak)} (the policy wants "
                      f"RSA of at least {exp.rsa_min_bits} bits or a curve in {', '.join(exp.ec_curves)} on every "
                      "certificate above the leaf too)", Cause.WEAK_CA_KEY, case.endpoint, case.family)
    anchors = weak_anchor_keys(case)
    if anchors:
        return finding(rule, Status.WARN, f"{_where(case)}: the leaf's {seen} is fine, but the trust bundle's "
                      f"{'; '.join(anchors)}: anchors are exempt from the policy's key rule (bundle_roots: exempt), "
                      "yet clients that enforce key sizes refuse such a root", Cause.WEAK_ANCHOR)
    above = len(case.above.certs) - 1
    return Verdict(rule, Status.PASS, f"{_where(case)}: {seen}" + (f"; {above} certificate(s) above it checked"
                                                                    if above else ""))


def _presentation(case: Case) -> list[str]:
    """How the server sends a validated path: in order (RFC 5246 wants each certificate followed by its
    issuer; clients tolerate other orders), and without certificates that are not on the path."""
    above = case.above
    if not above.validated:
        return []
    position = {c.sha256: i for i, c in enumerate(above.certs)}
    sent = [position.get(c.sha256) for c in case.chain.certs]
    found = []
    on_path = [p for p in sent if p is not None]
    if on_path != sorted(on_path):
        found.append("the server sends its chain out of order (each certificate should be followed by its issuer)")
    extra = [c for c, p in zip(case.chain.certs, sent, strict=True) if p is None]
    if extra:
        found.append(f"the server sends {len(extra)} certificate(s) not on the path: "
                     f"{', '.join(_name(c) for c in extra)}")
    return found


def chain_lint(case: Case) -> Verdict:
    """Report only: deviations from RFC 5280 / the CA/B profile that clients accept (never "untrusted")."""
    rule = "chain_lint"
    if not case.has_chain:
        return _no_chain(case, rule)
    found = []
    # The bundle's anchors only under `bundle_roots: checked`: a root is rarely re-issued, and several of
    # Mozilla's would warn on every public site.
    judged_prints = {c.sha256 for c in judged(case)}
    for index, cert in enumerate(case.above.certs):
        if cert.sha256 not in judged_prints:
            continue
        try:
            said = deviations(cert.der, index == 0)
        except ValueError as exc:
            said = (f"cannot be read for linting: {exc}",)
        if said:
            found.append(f"{_name(cert)}: {'; '.join(said)}")
    found += _presentation(case)
    if found:
        return finding(rule, Status.WARN, f"{_where(case)}: " + " | ".join(found) + " (report only)", Cause.LINT)
    return Verdict(rule, Status.PASS, f"{_where(case)}: {len(case.above.certs)} certificate(s) follow the profile")
