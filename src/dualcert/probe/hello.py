"""The exact ClientHello of each offer: TLS 1.2 cipher suites and signature_algorithms.

TLS 1.2 steers the server's certificate through the cipher suites' *authentication*
algorithm (`aECDSA` / `aRSA`; OpenSSL's bare `RSA` means RSA key exchange, not
authentication). TLS 1.3 cipher suites say nothing about the certificate: only the
signature_algorithms extension does, so both are restricted for every offer.
"""

from __future__ import annotations

from dataclasses import dataclass

from dualcert.offers import Offer, ProbeOffer, ProbeVersion, TLSVersion

# IANA names, understood by OpenSSL's SSL_CTX_set1_sigalgs_list. SHA-1 schemes are
# offered for TLS 1.2 only so that old appliances still answer (OpenSSL drops them in 1.3).
ECDSA_SIGALGS = ("ecdsa_secp256r1_sha256", "ecdsa_secp384r1_sha384", "ecdsa_secp521r1_sha512")
# TLS 1.3 binds each ECDSA scheme to one curve (RFC 8446, 4.2.3); TLS 1.2's schemes name only the hash.
TLS13_ECDSA_SCHEME = dict(zip(("secp256r1", "secp384r1", "secp521r1"), ECDSA_SIGALGS, strict=True))
RSA_SIGALGS = (
    "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha384", "rsa_pss_rsae_sha512",
    "rsa_pss_pss_sha256", "rsa_pss_pss_sha384", "rsa_pss_pss_sha512",
    "rsa_pkcs1_sha256", "rsa_pkcs1_sha384", "rsa_pkcs1_sha512",
)
# Chrome's order: ECDSA first, then RSA-PSS, then PKCS#1.
_BROWSER_SIGALGS = (
    "ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256", "rsa_pkcs1_sha256",
    "ecdsa_secp384r1_sha384", "rsa_pss_rsae_sha384", "rsa_pkcs1_sha384",
    "rsa_pss_rsae_sha512", "rsa_pkcs1_sha512",
)
SHA1_SIGALGS = {Offer.ECDSA: ("ecdsa_sha1",), Offer.RSA: ("rsa_pkcs1_sha1",), Offer.DEFAULT: ("rsa_pkcs1_sha1",)}

# @SECLEVEL=0: an auditor must *see* a 1024-bit key or a SHA-1 chain, not fail to connect.
_TLS12_CIPHERS = {
    Offer.ECDSA: "aECDSA:!aNULL:!eNULL:@SECLEVEL=0",
    Offer.RSA: "aRSA:!aNULL:!eNULL:@SECLEVEL=0",
    # Browser-like: forward-secret suites of both families, ECDSA listed first.
    Offer.DEFAULT: "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-GCM-SHA256:AES256-GCM-SHA384:"
    "AES128-SHA:AES256-SHA:@SECLEVEL=0",
}


@dataclass(frozen=True)
class OfferSpec:
    """The exact ClientHello restrictions for one (offer, version). A client profile's spec
    (probe/clients.py) also carries its version range, TLS 1.3 suites and groups."""

    offer: ProbeOffer
    version: ProbeVersion
    cipher_list: str
    sigalgs: str
    tls13_suites: str | None = None   # None: OpenSSL's default TLS 1.3 cipher suites
    control: bool = False             # the widest hello of its version (see `control_spec`)
    versions: tuple[str, ...] = ()    # a client's range (tls1.0 ... tls1.3); empty: exactly `version`
    groups: str = ""                  # recorded for `reproduce`; see probe/clients.py for why not set

    @property
    def label(self) -> str:
        return f"control:{self.version.value}" if self.control else f"{self.offer.value}:{self.version.value}"


def browsers_lack(curve: str | None) -> bool:
    """An ECDSA leaf on `curve` cannot answer the browser-like offer over TLS 1.3: its scheme is not offered
    (P-521: browsers send ecdsa_secp256r1_sha256 and ecdsa_secp384r1_sha384 only)."""
    return TLS13_ECDSA_SCHEME.get(curve or "") not in _BROWSER_SIGALGS


def offer_spec(offer: Offer, version: TLSVersion) -> OfferSpec:
    base = {Offer.ECDSA: ECDSA_SIGALGS, Offer.RSA: RSA_SIGALGS, Offer.DEFAULT: _BROWSER_SIGALGS}[offer]
    sigalgs = base + SHA1_SIGALGS[offer] if version is TLSVersion.TLS1_2 else base
    return OfferSpec(offer, version, _TLS12_CIPHERS[offer], ":".join(sigalgs))


# The control hello: the widest offer of a version (every signature scheme and cipher suite
# OpenSSL knows for it, OpenSSL's default groups, since the bindings cannot set groups). A server
# that refuses it too does not speak that version; one that accepts it refused only the offer.
_WIDEST_SIGALGS = ECDSA_SIGALGS + RSA_SIGALGS + (
    "ed25519", "ed448", "ecdsa_brainpoolP256r1tls13_sha256", "ecdsa_brainpoolP384r1tls13_sha384",
    "ecdsa_brainpoolP512r1tls13_sha512")
_WIDEST_TLS12_EXTRA = ("ecdsa_sha224", "rsa_pkcs1_sha224", "dsa_sha256", "dsa_sha224", "ecdsa_sha1", "rsa_pkcs1_sha1",
                       "dsa_sha1")
_ALL_TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:" \
                    "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"


def control_spec(version: TLSVersion) -> OfferSpec:
    """The widest ClientHello of `version`, sent once per endpoint when an offer is refused."""
    sigalgs = _WIDEST_SIGALGS + _WIDEST_TLS12_EXTRA if version is TLSVersion.TLS1_2 else _WIDEST_SIGALGS
    return OfferSpec(Offer.DEFAULT, version, "ALL:COMPLEMENTOFALL:@SECLEVEL=0", ":".join(sigalgs),
                     tls13_suites=_ALL_TLS13_SUITES, control=True)


def describe(spec: OfferSpec) -> str:
    """What a control hello offered, in a phrase for the evidence in a probe's detail."""
    if spec.version is TLSVersion.TLS1_3:
        suites = "every TLS 1.3 cipher suite" if spec.tls13_suites else "OpenSSL's default TLS 1.3 cipher suites"
    else:
        suites = f"every TLS 1.2 cipher suite ({spec.cipher_list})"
    return f"{suites}, {spec.sigalgs.count(':') + 1} signature schemes (ECDSA, RSA-PSS, RSA PKCS#1, EdDSA" \
           f"{', SHA-1' if 'sha1' in spec.sigalgs else ''}) and OpenSSL's default groups"
