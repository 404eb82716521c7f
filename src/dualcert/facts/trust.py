"""Path validation of a presented chain to the site's trust bundle (cryptography's x509.verification).

The end-entity extension policy is relaxed so that trust and hostname stay separate rules.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification

from dualcert.estate.trustbundle import load_pem_bundle
from dualcert.facts.chain import CertFacts, ChainFacts, der_facts, rfc4514

BUNDLED_STORES = {"mozilla": "mozilla_nss.pem", "java": "openjdk.pem", "windows": "microsoft_windows.pem",
                  "apple": "apple.pem"}


@dataclass(frozen=True)
class Validation:
    trusted: bool | None   # None: no trust bundle to validate against
    detail: str
    path: tuple[CertFacts, ...] = ()  # leaf ... anchor, when trusted


@dataclass(frozen=True)
class TrustStore:
    """The site's roots (and intermediates) that validation may anchor to."""

    certs: tuple[x509.Certificate, ...]
    source: str
    # Validations already made, by (chain, time): the probes of one endpoint usually share a chain.
    _memo: dict[tuple[tuple[bytes, ...], dt.datetime], Validation] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @classmethod
    def from_pem_file(cls, path: Path) -> TrustStore:
        return cls(tuple(load_pem_bundle(path.read_bytes())), str(path))

    @classmethod
    def mozilla(cls) -> TrustStore:
        """Mozilla's root program, as shipped and kept current by sslyze."""
        return cls.bundled("mozilla")

    @classmethod
    def bundled(cls, name: str) -> TrustStore:
        """A platform's root store as sslyze ships it: mozilla, java (OpenJDK's cacerts), windows, apple."""
        import sslyze.plugins.certificate_info.trust_stores as stores

        path = Path(stores.__file__).parent / "pem_files" / BUNDLED_STORES[name]
        with warnings.catch_warnings():  # a platform's own old roots (negative serials): not the site's problem
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return cls(tuple(load_pem_bundle(path.read_bytes())), f"{name} (sslyze)")

    def __add__(self, other: TrustStore) -> TrustStore:
        return TrustStore(self.certs + other.certs, f"{self.source} + {other.source}")

    @cached_property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(c.fingerprint(hashes.SHA256()).hex() for c in self.certs)

    def validate(self, chain_der: tuple[bytes, ...], now: dt.datetime) -> Validation:
        key = (tuple(chain_der), now)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._validate(key[0], now)
        return found

    def _validate(self, chain_der: tuple[bytes, ...], now: dt.datetime) -> Validation:
        try:
            leaf, *intermediates = [x509.load_der_x509_certificate(d) for d in chain_der]
        except ValueError as exc:
            return Validation(False, f"chain cannot be parsed: {exc}")
        if leaf.fingerprint(hashes.SHA256()).hex() in self.fingerprints:
            return Validation(True, "the leaf itself is in the trust bundle (pinned)", (der_facts(chain_der[0]),))
        builder = (
            verification.PolicyBuilder().store(verification.Store(list(self.certs))).time(now)
            # Name and EKU are judged by their own rules; keep validation about the path.
            .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                                ee_policy=verification.ExtensionPolicy.permit_all())
        )
        try:
            # The client verifier needs no subject; with a permissive EE policy it checks the path only.
            path = builder.build_client_verifier().verify(leaf, intermediates).chain
        except verification.VerificationError as exc:
            reason = str(exc)
            if "candidates exhausted" in reason:
                reason = "no issuer in the presented chain or the bundle signs it"
            return Validation(False, f"no trusted path: {reason}")
        except (ValueError, TypeError) as exc:
            return Validation(False, f"path validation failed: {exc}")
        # The path's certificates are the presented ones and the bundle's: their facts are cached by DER.
        return Validation(True, f"chains to {rfc4514(path[-1].subject)}",
                          tuple(der_facts(c.public_bytes(serialization.Encoding.DER)) for c in path))


def issuer_sha256_candidates(chain: ChainFacts, validation: Validation | None) -> list[CertFacts]:
    """Certificates that may have issued the leaf: the presented second certificate and the
    validated path's second element (they differ when the server omits the intermediate)."""
    found = list(chain.certs[1:2])
    if validation and len(validation.path) > 1:
        found.append(validation.path[1])
    return found
