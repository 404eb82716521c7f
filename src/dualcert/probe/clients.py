"""A client profile's ClientHello as pyOpenSSL can send it: versions, cipher order, TLS 1.3 suites
and signature_algorithms (docs/clients.md, "What is emulated").

Not emulated, and why the certificate does not depend on it: GREASE values and extension order
(servers ignore unknown values and do not choose a certificate by order); ALPN and session
tickets (no bearing on the certificate); supported_groups. cryptography's OpenSSL binding has no
SSL_CTX_set1_groups_list, so the probe offers OpenSSL's default groups (x25519, P-256, P-384,
P-521, ...). Groups steer the certificate only over TLS 1.2, where an ECDSA leaf's curve must be
one the client lists: the client rules check the leaf's curve against the profile's groups
instead, and `reproduce` passes `-groups` so the hand-run command sends the profile's list.
"""

from __future__ import annotations

from dualcert.offers import ClientOffer, ClientRange
from dualcert.policy.clients import ClientProfile
from dualcert.probe.hello import OfferSpec

# Hybrid post-quantum groups that OpenSSL before 3.5 does not know: `-groups` would make an older
# `openssl s_client` refuse to start. They change the key exchange only, never the certificate.
_NEWER_GROUPS = frozenset({"X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024"})


def client_spec(profile: ClientProfile) -> OfferSpec:
    # @SECLEVEL=0: the client, not OpenSSL's defaults, decides what is offered (e.g. 3DES, SHA-1).
    ciphers = ":".join(profile.ciphers or ("DEFAULT",)) + ":@SECLEVEL=0"
    groups = ":".join(g for g in profile.groups if g not in _NEWER_GROUPS)
    return OfferSpec(ClientOffer(profile.name), ClientRange.AUTO, ciphers, ":".join(profile.sigalgs),
                     versions=profile.versions, tls13_suites=":".join(profile.tls13_ciphers) or None, groups=groups)
