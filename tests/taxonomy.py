"""The certificate taxonomy (issue 12, section 9): the certificate sets a real site meets, what nginx serves
for each, and the verdict per rule a careful PKI engineer expects.

tests/test_taxonomy.py generates every case (tests/taxonomy_pki.py), serves each from its own server
block of one nginx, runs `dualcert run` once over an inventory with one generic node per case and
asserts these verdicts. docs/checks.md's "Certificate taxonomy" table is rendered from CASES;
tests/test_taxonomy.py fails when it is stale (`python -m tests.taxonomy` rewrites it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .doctables import DOCS, framed, rewrite
from .taxonomy_pki import DOMAIN, Builder, Cert, Served, SharedCAs, ca, dn, leaf, legacy_ca


@dataclass(frozen=True)
class Expect:
    status: str              # pass | fail | warn | n/a, as the results JSON spells a verdict's status
    words: tuple[str, ...]   # what every such verdict's message says (case-insensitive)

    def met_by(self, status: str, message: str) -> bool:
        return status == self.status and all(w.lower() in message.lower() for w in self.words)

    def cell(self) -> str:
        if self.status in ("pass", "n/a"):
            return self.status
        return f"**{self.status}**: " + ", ".join(f"“{w}”" for w in self.words)


def passes(*words: str) -> Expect:
    return Expect("pass", words)


def fails(*words: str) -> Expect:
    return Expect("fail", words)


def warns(*words: str) -> Expect:
    return Expect("warn", words)


def not_applicable(*words: str) -> Expect:
    return Expect("n/a", words)


# The rules each case is judged by: per probe that got a certificate, then per node.
PROBE_RULES = ("presented_key", "chain_algorithm", "issuer", "trust", "hostname", "key_strength", "expiry",
               "chain_complete", "signature_hash", "chain_lint")
NODE_RULES = ("ecdsa_chain",)


def good_verdicts(family: str) -> dict[str, Expect]:
    """What a good chain gets, per rule: the baseline each case states its differences from."""
    ecdsa = family == "ECDSA"
    return {
        "presented_key": passes(f"{family} ("),
        "chain_algorithm": passes("ECDSA signatures throughout") if ecdsa else not_applicable("ECDSA leaves"),
        "issuer": passes("issued by"),
        "trust": passes("chains to"),
        "hostname": passes("matches the certificate"),
        "key_strength": passes("secp256r1" if ecdsa else "RSA 2048 bits"),
        "expiry": passes("days left"),
        "chain_complete": passes("is sent"),
        "signature_hash": passes("signed with"),
        "chain_lint": passes("follow the profile"),
        "ecdsa_chain": passes("ECDSA-signed throughout") if ecdsa else not_applicable("no ECDSA certificate"),
    }


@dataclass(frozen=True)
class TaxonomyCase:
    id: str
    what: str                 # what the server sends (and the bundle adds), in the docs' words
    family: str               # the leaf's key family: ECDSA | RSA
    build: Builder
    differs: Mapping[str, Expect] = field(default_factory=dict)   # verdicts that differ from a good chain's
    outcome: str = "ok"       # the probe outcome of the offers that ask for the leaf's family
    at: Mapping[str, Mapping[str, Expect]] = field(default_factory=dict)  # "offer:version" -> that probe's own
    nginx: str = ""           # extra directives in the case's server block
    domain: str = DOMAIN      # the node's host is <id>.<domain>

    @property
    def host(self) -> str:
        return f"{self.id}.{self.domain}"

    @property
    def verdicts(self) -> dict[str, Expect]:
        return {**good_verdicts(self.family), **self.differs}

    def gets_chain(self, probe: str) -> bool:
        """Whether the probe's offer ("offer:version") asks for the leaf's family: the node's policy
        expects the leaf there, and a refusal of the other family's offer."""
        return probe.split(":")[0] in ("default", self.family.lower())

    def expected(self, rule: str, probe: str | None, has_chain: bool) -> Expect | None:
        """The verdict of `rule` on one probe ("offer:version"; None for a node rule), or None when the
        rule has nothing to judge there (the other family's offer, refused as intended: n/a)."""
        if probe is not None and rule in self.at.get(probe, {}):
            return self.at[probe][rule]
        if probe is None or has_chain:
            return self.verdicts[rule]
        if rule == "presented_key":
            return self.verdicts[rule] if self.gets_chain(probe) else passes("as intended")
        return not_applicable("no certificate to check") if self.gets_chain(probe) else None


def _sent(*chain: Cert, bundle: tuple[x509.Certificate, ...] = ()) -> Served:
    return Served(chain, bundle)


# --- the cases' certificates: (the site's CAs, the node's host) -> what is served ------------------

def _good_ec(cas: SharedCAs, host: str) -> Served:
    return _sent(leaf(host, cas.ec_issuing), cas.ec_issuing)


def _good_rsa(cas: SharedCAs, host: str) -> Served:
    return _sent(leaf(host, cas.rsa_issuing, "rsa2048"), cas.rsa_issuing)


def _valid(days: tuple[int, int]) -> Builder:
    return lambda cas, host: _sent(leaf(host, cas.ec_issuing, valid_days=days), cas.ec_issuing)


def _wrong_host(cas: SharedCAs, host: str) -> Served:
    return _sent(leaf(f"elsewhere.{DOMAIN}", cas.ec_issuing), cas.ec_issuing)


def _self_signed(cas: SharedCAs, host: str) -> Served:
    return _sent(leaf(host, None))


def _self_signed_bundled(cas: SharedCAs, host: str) -> Served:
    ss = leaf(host, None)
    return _sent(ss, bundle=(ss.cert,))


def _untrusted_root(cas: SharedCAs, host: str) -> Served:
    issuing = ca("Taxonomy Unknown Issuing CA", "unknown-issuing", ca("Taxonomy Unknown Root", "unknown-root", None))
    return _sent(leaf(host, issuing), issuing)


def _leaf_only(in_bundle: bool) -> Builder:
    """The server sends its leaf alone; its issuing CA is in the site's bundle, or nowhere."""
    def build(cas: SharedCAs, host: str) -> Served:
        issuing = ca(f"Taxonomy Unsent Issuing CA ({'bundled' if in_bundle else 'nowhere'})",
                     f"unsent-{in_bundle}", cas.ec_root)
        return _sent(leaf(host, issuing), bundle=(issuing.cert,) if in_bundle else ())
    return build


def _one_tier(cas: SharedCAs, host: str) -> Served:
    return _sent(leaf(host, cas.ec_root))   # the root signs the leaf: nothing to send but the leaf


def _sha1_intermediate(cas: SharedCAs, host: str) -> Served:
    issuing = legacy_ca("Taxonomy Legacy Issuing CA", "sha1-issuing", cas.rsa_root)
    return _sent(leaf(host, issuing, "rsa2048"), issuing)


def _ecdsa_sha1_intermediate(cas: SharedCAs, host: str) -> Served:
    issuing = legacy_ca("Taxonomy Legacy EC Issuing CA", "ecdsa-sha1-issuing", cas.ec_root, "p256")
    return _sent(leaf(host, issuing), issuing)


def _md5_intermediate(cas: SharedCAs, host: str) -> Served:
    issuing = legacy_ca("Taxonomy MD5 Issuing CA", "md5-issuing", cas.rsa_root, digest="md5")
    return _sent(leaf(host, issuing, "rsa2048"), issuing)


def _reversed(cas: SharedCAs, host: str) -> Served:
    policy = ca("Taxonomy Policy CA", "policy-ca", cas.ec_root)
    issuing = ca("Taxonomy Reversed Issuing CA", "reversed-issuing", policy)
    return _sent(leaf(host, issuing), policy, issuing)   # RFC 5246 wants issuing first


def _san_only(cas: SharedCAs, host: str) -> Served:
    return _sent(leaf(host, cas.ec_issuing, subject=dn(None)), cas.ec_issuing)


def _empty_subject(cas: SharedCAs, host: str) -> Served:
    return _sent(leaf(host, cas.ec_issuing, subject=x509.Name([])), cas.ec_issuing)


def _many_sans(count: int) -> Builder:
    def build(cas: SharedCAs, host: str) -> Served:
        names = [f"name-{i:05d}.{DOMAIN}" for i in range(count - 1)] + [host]   # the host last: every name read
        return _sent(leaf(host, cas.ec_issuing, names=names), cas.ec_issuing)
    return build


def _key(spec: str) -> Builder:
    def build(cas: SharedCAs, host: str) -> Served:
        issuing = cas.rsa_issuing if spec.startswith("rsa") else cas.ec_issuing
        return _sent(leaf(host, issuing, spec), issuing)
    return build


def _server_auth_intermediate(cas: SharedCAs, host: str) -> Served:
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    issuing = ca("Taxonomy serverAuth Issuing CA", "eku-issuing", cas.ec_root, extra=[(eku, False)])
    return _sent(leaf(host, issuing), issuing)


def _name_constrained(cas: SharedCAs, host: str) -> Served:
    """An issuing CA that may only certify names under DOMAIN (critical NameConstraints)."""
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName(DOMAIN)], excluded_subtrees=None)
    issuing = ca("Taxonomy Constrained Issuing CA", "nc-issuing", cas.ec_root, extra=[(constraints, True)])
    return _sent(leaf(host, issuing), issuing)


def _cross_signed(cas: SharedCAs, host: str) -> Served:
    """A root rollover: the issuing CA's new root also has a certificate from the old root (same name,
    same key), which the server sends; both roots are in the bundle, so two paths are valid:
    leaf, issuing, new root; and leaf, issuing, new root cross-signed, old root."""
    old_root = ca("Taxonomy Old Root", "old-root", None, "p384")
    new_root = ca("Taxonomy New Root", "new-root", None, "p384")
    cross = ca("Taxonomy New Root", "new-root", old_root, "p384")
    issuing = ca("Taxonomy Cross Issuing CA", "cross-issuing", new_root)
    return _sent(leaf(host, issuing), issuing, cross, bundle=(new_root.cert, old_root.cert))


def _weak_intermediate(cas: SharedCAs, host: str) -> Served:
    issuing = ca("Taxonomy RSA 1024 Issuing CA", "weak-issuing", cas.rsa_root, "rsa1024")
    return _sent(leaf(host, issuing, "rsa2048"), issuing)


def _intermediate_expiring(cas: SharedCAs, host: str) -> Served:
    issuing = ca("Taxonomy Expiring Issuing CA", "expiring-issuing", cas.ec_root, valid_days=(-1000, 5))
    return _sent(leaf(host, issuing, valid_days=(-1, 365)), issuing)


def _internal_ca(cas: SharedCAs, host: str) -> Served:
    """An internal CA as many are: basicConstraints not marked critical on its root and intermediate
    (RFC 5280 4.2.1.9 and the CA/Browser profile want it critical; OpenSSL, Java and browsers accept it)."""
    root = ca("Taxonomy Internal Root", "internal-root", None, constraints_critical=False)
    issuing = ca("Taxonomy Internal Issuing CA", "internal-issuing", root, constraints_critical=False)
    return _sent(leaf(host, issuing), issuing, bundle=(root.cert,))


def _expired_intermediate(cas: SharedCAs, host: str) -> Served:
    issuing = ca("Taxonomy Expired Issuing CA", "expired-issuing", cas.ec_root, valid_days=(-1000, -5))
    return _sent(leaf(host, issuing, valid_days=(-30, 365)), issuing)


def _namesake_issuer(cas: SharedCAs, host: str) -> Served:
    """The server sends a CA certificate with its issuer's name but another key (an old or impostor CA):
    the leaf's signature does not verify with it."""
    real = ca("Taxonomy Namesake Issuing CA", "namesake-real", cas.ec_root)
    namesake = ca("Taxonomy Namesake Issuing CA", "namesake-other", cas.ec_root)
    return _sent(leaf(host, real), namesake)


def _constraint_bomb(cas: SharedCAs, host: str) -> Served:
    """600 permitted DNS subtrees against 500 SANs: 300,000 name comparisons, past the validators' bound."""
    subtrees = [x509.DNSName(f"zone{i}.{DOMAIN}") for i in range(599)] + [x509.DNSName(host)]
    constraints = x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None)
    issuing = ca("Taxonomy Many-Constraints CA", "bomb-issuing", cas.ec_root, extra=[(constraints, True)])
    names = [f"host{i}.zone{i}.{DOMAIN}" for i in range(499)] + [host]
    return _sent(leaf(host, issuing, names=names), issuing)


def _ec_under_rsa(sent: bool) -> Builder:
    """An EC issuing CA whose own certificate the RSA root signed (CSCvb58580, the note's S2)."""
    def build(cas: SharedCAs, host: str) -> Served:
        issuing = ca(f"Taxonomy EC-under-RSA CA ({'sent' if sent else 'bundled'})", f"ecr-{sent}", cas.rsa_root)
        ec_leaf = leaf(host, issuing)
        return _sent(ec_leaf, issuing) if sent else _sent(ec_leaf, bundle=(issuing.cert,))
    return build



_SECLEVEL_0 = "ssl_ciphers DEFAULT:@SECLEVEL=0;"   # OpenSSL's default level refuses to load SHA-1 and 1024-bit CAs
_UNSEEN = "nothing above the leaf can be seen"
_CANNOT_TELL = not_applicable("no validated path", "cannot be told")   # chain_complete judges a validated path

CASES: dict[str, TaxonomyCase] = {c.id: c for c in [
    TaxonomyCase("good-ec", "EC leaf and EC issuing CA sent; EC root in the bundle", "ECDSA", _good_ec),
    TaxonomyCase("good-rsa", "RSA leaf and RSA issuing CA sent; RSA root in the bundle", "RSA", _good_rsa),
    TaxonomyCase("expired", "EC leaf that expired 10 days ago", "ECDSA", _valid((-400, -10)),
                 {"trust": fails("expired"), "expiry": fails("leaf has expired"), "chain_complete": _CANNOT_TELL}),
    TaxonomyCase("not-yet-valid", "EC leaf valid from 30 days from now", "ECDSA", _valid((30, 400)),
                 {"trust": fails("not valid before"), "expiry": fails("not valid until"),
                  "chain_complete": _CANNOT_TELL}),
    TaxonomyCase("wrong-host", "EC leaf for another host name", "ECDSA", _wrong_host,
                 {"hostname": fails("wrong-host.taxo.test is not in the certificate's names", "elsewhere.taxo.test")}),
    TaxonomyCase("self-signed", "self-signed EC leaf, not in the bundle", "ECDSA", _self_signed,
                 {"issuer": fails("expected a CA-signed certificate", "self-signed"),
                  "trust": fails("self-signed"), "chain_algorithm": passes("ECDSA signatures throughout"),
                  "chain_complete": not_applicable("self-signed leaf")}),
    TaxonomyCase("self-signed-bundled", "self-signed EC leaf, itself in the bundle (the note's S1, trusted by hand)",
                 "ECDSA", _self_signed_bundled,
                 {"issuer": fails("expected a CA-signed certificate", "self-signed"),
                  "trust": passes("the leaf itself is in the trust bundle"),
                  "chain_algorithm": passes("ECDSA signatures throughout"),
                  "chain_complete": not_applicable("self-signed leaf")}),
    TaxonomyCase("untrusted-root", "EC leaf and issuing CA under a root the bundle lacks", "ECDSA", _untrusted_root,
                 {"trust": fails("Taxonomy Unknown Root"), "chain_complete": _CANNOT_TELL}),
    TaxonomyCase("incomplete-bundled", "EC leaf alone; its issuing CA is in the bundle", "ECDSA", _leaf_only(True),
                 {"chain_complete": fails("does not send the intermediate", "Taxonomy Unsent Issuing CA (bundled)")}),
    TaxonomyCase("incomplete-unbundled", "EC leaf alone; its issuing CA is nowhere", "ECDSA", _leaf_only(False),
                 {"trust": fails("Taxonomy Unsent Issuing CA (nowhere)"), "chain_algorithm": warns(_UNSEEN),
                  "ecdsa_chain": warns("nothing above the ECDSA leaf can be seen"),
                  "chain_complete": warns("sends its leaf alone", "Taxonomy Unsent Issuing CA (nowhere)")}),
    TaxonomyCase("one-tier", "EC leaf alone, signed by the EC root itself (a one-tier CA)", "ECDSA", _one_tier),
    TaxonomyCase("sha1-intermediate", "RSA leaf under an issuing CA the root signed with SHA-1", "RSA",
                 _sha1_intermediate, {"signature_hash": fails("Taxonomy Legacy Issuing CA", "sha1WithRSAEncryption")},
                 nginx=_SECLEVEL_0),
    # The path validates (its signatures verify) and the signature_hash rule refuses the digest: a signature
    # cryptography gives no parameters for was once "cannot be verified", a wrong trust reason.
    TaxonomyCase("ecdsa-sha1-intermediate", "EC leaf under an issuing CA the EC root signed with ECDSA-SHA-1",
                 "ECDSA", _ecdsa_sha1_intermediate,
                 {"signature_hash": fails("Taxonomy Legacy EC Issuing CA", "ecdsa-with-SHA1")}, nginx=_SECLEVEL_0),
    TaxonomyCase("md5-intermediate", "RSA leaf under an issuing CA the root signed with MD5", "RSA",
                 _md5_intermediate, {"signature_hash": fails("Taxonomy MD5 Issuing CA", "md5WithRSAEncryption")},
                 nginx=_SECLEVEL_0),
    TaxonomyCase("reversed-order", "EC leaf, then its policy CA before its issuing CA", "ECDSA", _reversed,
                 {"chain_lint": warns("sends its chain out of order")}),
    TaxonomyCase("san-only", "EC leaf with a SAN and no CN", "ECDSA", _san_only),
    TaxonomyCase("empty-subject", "EC leaf with an empty subject and a critical SAN", "ECDSA", _empty_subject),
    TaxonomyCase("san-1000", "EC leaf with 1,000 DNS SANs, the host last", "ECDSA", _many_sans(1000)),
    TaxonomyCase("san-10000", "EC leaf with 10,000 DNS SANs, the host last (over 200 KiB: above OpenSSL's "
                 "100 KiB certificate-list limit, which the Python bindings cannot raise)", "ECDSA", _many_sans(10000),
                 {"presented_key": fails("KiB, measured from the bytes it sent", "limit of 102,400 bytes"),
                  **dict.fromkeys(PROBE_RULES[1:], not_applicable("no certificate to check (chain-too-large)")),
                  "ecdsa_chain": not_applicable()}, outcome="chain-too-large"),
    TaxonomyCase("rsa-4096", "RSA 4096 leaf", "RSA", _key("rsa4096"), {"key_strength": passes("RSA 4096 bits")}),
    TaxonomyCase("rsa-8192", "RSA 8192 leaf", "RSA", _key("rsa8192"), {"key_strength": passes("RSA 8192 bits")}),
    TaxonomyCase("p384", "EC P-384 leaf", "ECDSA", _key("p384"), {"key_strength": passes("secp384r1")}),
    TaxonomyCase("p521", "EC P-521 leaf (Chrome's TLS 1.3 signature schemes, which the browser-like offer copies, have "
                 "none for P-521)", "ECDSA",
                 _key("p521"), {"key_strength": passes("secp521r1")},
                 at={"default:tls1.3": {"presented_key": fails("refused the offer",
                                                                "its ECDSA leaf is on secp521r1")}}),
    TaxonomyCase("rsa-1024", "RSA 1024 leaf", "RSA", _key("rsa1024"),
                 {"key_strength": fails("RSA of at least 2048 bits", "RSA 1024 bits")}, nginx=_SECLEVEL_0),
    TaxonomyCase("expired-intermediate", "EC leaf under an issuing CA that expired 5 days ago", "ECDSA",
                 _expired_intermediate,
                 {"trust": fails("Taxonomy Expired Issuing CA"), "chain_complete": _CANNOT_TELL,
                  "expiry": fails("Taxonomy Expired Issuing CA", "has expired")}),
    TaxonomyCase("namesake-issuer", "EC leaf; the server sends a CA of its issuer's name but another key", "ECDSA",
                 _namesake_issuer,
                 {"trust": fails("does not verify"), "chain_complete": _CANNOT_TELL}),
    TaxonomyCase("constraint-bomb", "EC leaf with 500 SANs under a CA with 600 permitted DNS subtrees", "ECDSA",
                 _constraint_bomb,
                 {"trust": fails("250,000 comparisons"), "chain_complete": _CANNOT_TELL}),
    TaxonomyCase("weak-intermediate", "RSA leaf under a 1024-bit RSA issuing CA", "RSA", _weak_intermediate,
                 {"key_strength": fails("Taxonomy RSA 1024 Issuing CA", "1024-bit")}, nginx=_SECLEVEL_0),
    TaxonomyCase("intermediate-expiring", "EC issuing CA that expires in 5 days", "ECDSA", _intermediate_expiring,
                 {"expiry": fails("Taxonomy Expiring Issuing CA", "expires in")}),
    TaxonomyCase("serverauth-intermediate", "EC issuing CA whose EKU is serverAuth only", "ECDSA",
                 _server_auth_intermediate),
    TaxonomyCase("internal-ca", "internal root and issuing CA with non-critical basicConstraints", "ECDSA",
                 _internal_ca,
                 {"chain_lint": warns("Taxonomy Internal Issuing CA", "basicConstraints not marked critical")}),
    TaxonomyCase("name-constrained", f"issuing CA constrained to {DOMAIN}, leaf inside it", "ECDSA",
                 _name_constrained),
    TaxonomyCase("name-constraint-violated", f"issuing CA constrained to {DOMAIN}, leaf outside it", "ECDSA",
                 _name_constrained, {"trust": fails("name constraints"), "chain_complete": _CANNOT_TELL},
                 domain="other.test"),
    TaxonomyCase("cross-signed", "EC leaf, issuing CA and its new root cross-signed by the old root; both roots "
                 "in the bundle (two valid paths)", "ECDSA", _cross_signed),
    TaxonomyCase("ec-under-rsa-sent", "EC leaf; its EC issuing CA, signed by the RSA root, sent", "ECDSA",
                 _ec_under_rsa(True),
                 {"chain_algorithm": fails("Taxonomy EC-under-RSA CA (sent)", "sha256WithRSAEncryption"),
                  "ecdsa_chain": fails("RSA signature")}),
    TaxonomyCase("ec-under-rsa-omitted", "EC leaf alone; its EC issuing CA, signed by the RSA root, in the bundle",
                 "ECDSA", _ec_under_rsa(False),
                 {"chain_algorithm": fails("Taxonomy EC-under-RSA CA (bundled)", "sha256WithRSAEncryption"),
                  "ecdsa_chain": fails("RSA signature"),
                  "chain_complete": fails("does not send the intermediate", "Taxonomy EC-under-RSA CA (bundled)")}),
]}


# --- docs/checks.md's "Certificate taxonomy" table, rendered from CASES ----------------------------

CHECKS_DOC = DOCS / "checks.md"
TABLE = "taxonomy-table"


def render() -> str:
    rules = [*PROBE_RULES, *NODE_RULES]
    lines = ["| case | what nginx serves (and the bundle adds) | " + " | ".join(f"`{r}`" for r in rules) + " |",
             "|---|---|" + "---|" * len(rules)]
    for case in CASES.values():
        cells = []
        for rule in rules:
            cell = case.verdicts[rule].cell()
            for probe, verdicts in case.at.items():
                if rule in verdicts:
                    offer, version = probe.split(":")
                    cell += f"; {offer} offer over {version.replace('tls', 'TLS ')}: {verdicts[rule].cell()}"
            cells.append(cell)
        lines.append(f"| `{case.id}` | {case.what} | " + " | ".join(cells) + " |")
    return framed(TABLE, lines)


if __name__ == "__main__":
    rewrite(CHECKS_DOC, TABLE, render())
