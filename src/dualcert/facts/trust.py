"""Path validation of a presented chain to the site's trust bundle, as a server's path (facts/path.py).

Hostname is its own rule; so are the deviations from the Web PKI profile a client still accepts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.utils import CryptographyDeprecationWarning

from dualcert.estate.trustbundle import load_pem_bundle
from dualcert.facts import prevalidation
from dualcert.facts.chain import CertFacts, ChainFacts, der_facts
from dualcert.facts.names import same_name
from dualcert.facts.path import Anchors, Cause, find_path, signature_error
from dualcert.facts.prevalidation import Ahead, answer_in_batches, worth_it

BUNDLED_STORES = {"mozilla": "mozilla_nss.pem", "java": "openjdk.pem", "windows": "microsoft_windows.pem",
                  "apple": "apple.pem"}


@dataclass(frozen=True)
class Validation:
    trusted: bool | None   # None: no trust bundle to validate against
    detail: str
    path: tuple[CertFacts, ...] = ()  # leaf ... anchor, when trusted
    cause: Cause = Cause.NONE         # why not trusted, for the fix
    certificate: str = ""             # the SHA-256 (hex) of the certificate the detail is about, when not trusted
    check: str = ""                   # what of it failed: basicConstraints, nameConstraints, validity, ... (facts.path)


@dataclass(frozen=True)
class TrustStore:
    """The site's roots (and intermediates) that validation may anchor to."""

    certs: tuple[x509.Certificate, ...]
    source: str
    # Validations already made, by (chain, time): the probes of one endpoint usually share a chain.
    _memo: dict[tuple[tuple[bytes, ...], dt.datetime], Validation] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)
    # The second process validating this run's chains ahead of the tests, once started (validate_ahead).
    _ahead: list[tuple[Ahead, dt.datetime]] = field(default_factory=list, init=False, repr=False, compare=False,
                                                     hash=False)

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
    def anchors(self) -> Anchors:
        return Anchors(self.certs)

    @cached_property
    def anchor_ders(self) -> tuple[bytes, ...]:
        """The bundle's certificates as DER, in order: what the second process is given, and what its
        answers name by index."""
        return tuple(c.public_bytes(serialization.Encoding.DER) for c in self.certs)

    @cached_property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(c.fingerprint(hashes.SHA256()).hex() for c in self.certs)

    def validate(self, chain_der: tuple[bytes, ...], now: dt.datetime) -> Validation:
        key = (tuple(chain_der), now)
        found = self._memo.get(key)
        if found is None:
            ahead = self._ahead[0][0] if self._ahead and self._ahead[0][1] == now else None
            answer = ahead.take(key[0]) if ahead is not None else None
            found = self._memo[key] = self._validate(key[0], now) if answer is None else self._adopt(key[0], answer)
        return found

    def validate_ahead(self, chains: list[tuple[bytes, ...]], now: dt.datetime, *,
                       at_least: int | None = None) -> Ahead | None:
        """Validate `chains` (in the order they will be asked for) in a second process, when there are at
        least `at_least` of them (default: prevalidation.MIN_CHAINS, or EARLY_MIN_CHAINS for a child started
        early, which this claims). The caller closes what is returned."""
        early = prevalidation.claim_early()
        least = at_least if at_least is not None else \
            prevalidation.EARLY_MIN_CHAINS if early is not None else prevalidation.MIN_CHAINS
        if not worth_it(len(chains), least):
            if early is not None:
                early.close()
            return None
        try:
            ahead = early or Ahead(validate_in_child)
        except OSError:   # no second process to be had: validated in place, as below the threshold
            return None
        ahead.give((self.anchor_ders, self.source, now, chains), chains)
        self._ahead[:] = [(ahead, now)]
        return ahead

    def _adopt(self, chain_der: tuple[bytes, ...], answer: Compact) -> Validation:
        """A validation the second process made: the same Validation _validate() makes here."""
        trusted, detail, cause, path, certificate, check = answer
        ders = tuple(chain_der[i] if i >= 0 else self.anchor_ders[-1 - i] for i in path)
        return _validation(Judgement(trusted, detail, Cause(cause), ders, certificate, check))

    def _validate(self, chain_der: tuple[bytes, ...], now: dt.datetime) -> Validation:
        return _validation(self._judge(chain_der, now))

    def _judge(self, chain_der: tuple[bytes, ...], now: dt.datetime) -> Judgement:
        """The validation with its path as DER: what the second process computes (it needs no facts)."""
        try:
            leaf, *presented = [x509.load_der_x509_certificate(d) for d in chain_der]
        except ValueError as exc:
            return Judgement(False, f"chain cannot be parsed: {exc}", Cause.PROFILE)
        if leaf.fingerprint(hashes.SHA256()).hex() in self.fingerprints:
            return Judgement(True, "the leaf itself is in the trust bundle (pinned)", Cause.NONE, chain_der[:1])
        try:
            found = find_path(leaf, presented, self.anchors, now)
        except (ValueError, TypeError) as exc:   # a certificate field the parser rejects only when read
            return Judgement(False, f"path validation failed: {exc}", Cause.PROFILE)
        if not found.path:
            return Judgement(False, f"no trusted path: {found.reason}", found.cause, (), found.certificate,
                             found.check)
        return Judgement(True, found.reason, Cause.NONE,
                         tuple(c.public_bytes(serialization.Encoding.DER) for c in found.path))


class Judgement(NamedTuple):
    trusted: bool | None
    detail: str
    cause: Cause
    path: tuple[bytes, ...] = ()   # leaf ... anchor as DER, when trusted
    certificate: str = ""
    check: str = ""


def _validation(found: Judgement) -> Validation:
    # The path's certificates are the presented ones and the bundle's: their facts are cached by DER.
    return Validation(found.trusted, found.detail, tuple(der_facts(d) for d in found.path), found.cause,
                      found.certificate, found.check)


# What the second process sends back for a chain: (trusted, detail, cause, path, certificate, check), each
# path entry the index of a chain certificate, or -1 - i for the bundle's i-th certificate (DER stays here).
Compact = tuple[bool | None, str, str, tuple[int, ...], str, str]


def validate_in_child(jobs: Connection, answers: Connection) -> None:
    """The second process (facts/prevalidation.py): validates each chain of its job, in order."""
    with contextlib.suppress(EOFError, OSError):    # the run ended first (SIGINT and SIGTERM are blocked here)
        anchors, source, now, chains = jobs.recv()
        store = TrustStore(tuple(x509.load_der_x509_certificate(d) for d in anchors), source)
        index = {der: i for i, der in enumerate(anchors)}

        def compact(chain: tuple[bytes, ...]) -> Compact:
            found = store._judge(chain, now)
            in_chain = {der: i for i, der in enumerate(chain)}
            path = tuple(in_chain[der] if der in in_chain else -1 - index[der] for der in found.path)
            return found.trusted, found.detail, found.cause.value, path, found.certificate, found.check

        answer_in_batches(answers, (compact(chain) for chain in chains))


@dataclass(frozen=True)
class ChainAbove:
    """The chain above the leaf, one reading for every rule: the validated path (leaf, intermediates
    from the chain or the bundle, anchor) when there is one, else what was presented, marked incomplete."""

    certs: tuple[CertFacts, ...]   # leaf first
    validated: bool

    @property
    def leaf(self) -> CertFacts:
        return self.certs[0]

    @property
    def unseen(self) -> bool:
        """Nothing above a CA-signed leaf can be seen: no intermediate sent and no path found."""
        return not self.validated and len(self.certs) == 1 and not self.leaf.self_signed

    def signed_with(self) -> list[str | None]:
        return [c.signed_with for c in self.certs]


def chain_above(chain: ChainFacts, validation: Validation | None) -> ChainAbove:
    if validation is not None and validation.trusted and validation.path:
        return ChainAbove(validation.path, True)
    return ChainAbove(chain.certs, False)


def anchors_of(above: ChainAbove, trust: TrustStore | None) -> frozenset[str]:
    """SHA-256 of the path's certificates that the trust bundle holds (exempt from weak-key and
    weak-hash checks unless the policy says otherwise)."""
    if trust is None or not above.validated:
        return frozenset()
    return frozenset(c.sha256 for c in above.certs[1:] if c.sha256 in trust.fingerprints)


def _parsed(chain_der: tuple[bytes, ...]) -> list[x509.Certificate]:
    found = []
    for der in chain_der:
        try:
            found.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue   # an unreadable chain certificate signs nothing
    return found


def signed_by_pin(chain_der: tuple[bytes, ...], pin: str, trust: TrustStore | None) -> bool:
    """The pinned CA (SHA-256 of its certificate, in the presented chain or the trust bundle) signed
    the leaf: its name is the leaf's issuer and its key verifies the leaf's signature. Being merely
    present in the chain is not enough: a leaf from another CA with the same name would pass."""
    leaf = _parsed(chain_der[:1])
    if not leaf:
        return False
    for candidate in [*_parsed(chain_der[1:]), *(trust.certs if trust else ())]:
        if candidate.fingerprint(hashes.SHA256()).hex() == pin and same_name(leaf[0].issuer, candidate.subject):
            return signature_error(leaf[0], candidate) is None
    return False


def issuer_named(chain_der: tuple[bytes, ...], wanted: x509.Name | None) -> bool:
    """The leaf's issuer is `wanted`, compared as parsed, normalised RDN sequences."""
    leaf = _parsed(chain_der[:1])
    return wanted is not None and bool(leaf) and same_name(wanted, leaf[0].issuer)
