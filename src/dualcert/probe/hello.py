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
    versions: tuple[str, ...] = ()   # a client's range (tls1.0 ... tls1.3); empty: exactly `version`
    tls13_ciphers: str = ""           # empty: OpenSSL's default TLS 1.3 suites
    groups: str = ""                  # recorded for `reproduce`; see probe/clients.py for why not set

    @property
    def label(self) -> str:
        return f"{self.offer.value}:{self.version.value}"


def offer_spec(offer: Offer, version: TLSVersion) -> OfferSpec:
    base = {Offer.ECDSA: ECDSA_SIGALGS, Offer.RSA: RSA_SIGALGS, Offer.DEFAULT: _BROWSER_SIGALGS}[offer]
    sigalgs = base + SHA1_SIGALGS[offer] if version is TLSVersion.TLS1_2 else base
    return OfferSpec(offer, version, _TLS12_CIPHERS[offer], ":".join(sigalgs))

