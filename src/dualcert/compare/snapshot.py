"""What each probe of a run presented, reduced to what a comparison looks at: from this run's
observations, or from an earlier run's results JSON (the baseline)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dualcert.compare.results_file import SCHEMA as SCHEMA  # the format written (re-exported for readers)
from dualcert.compare.results_file import ResultsFile
from dualcert.errors import UsageError
from dualcert.facts.chain import chain_facts
from dualcert.offers import CLIENT_PREFIX, ClientRange
from dualcert.probe.observation import NO_CONVERSATION, Observation, Outcome
from dualcert.rules.presented import rsa_signed, signing

Key = tuple[str, str, str, str]          # (node, service, offer, tls_version)


def key_id(key: Key) -> str:
    return ":".join(key)


def client_of(key: Key) -> str | None:
    """The simulated client's profile of a `client-<profile>` probe (version `auto`, --clients); None for an offer's."""
    offer = key[2]
    return offer[len(CLIENT_PREFIX):] if offer.startswith(CLIENT_PREFIX) and key[3] == ClientRange.AUTO.value else None


@dataclass(frozen=True)
class Presentation:
    """What one probe saw, reduced to the facts a comparison looks at."""

    outcome: str
    port: int | None
    leaf_sha256: str | None = None
    key: str | None = None               # "ecdsa" | "rsa" | ... (lower case), None without a certificate
    issuer: str | None = None
    self_signed: bool | None = None
    rsa_signed: bool = False                  # some certificate of the chain carries an RSA signature
    not_after: dt.datetime | None = None      # the soonest expiry of the presented chain

    @classmethod
    def from_record(cls, probe: Mapping[str, Any]) -> Presentation:
        """From a results-JSON probe record (`results.probe_record`)."""
        chain = probe.get("chain") or []
        port = probe.get("port")
        if probe.get("outcome") != "ok" or not chain:
            return cls(str(probe.get("outcome")), port)
        leaf = chain[0]
        expiries = [dt.datetime.fromisoformat(c["not_after"]) for c in chain if c.get("not_after")]
        return cls(
            outcome="ok", port=port, leaf_sha256=leaf.get("sha256"),
            key=str(leaf.get("key_type") or "").lower() or None, issuer=leaf.get("issuer"),
            self_signed=leaf.get("self_signed"), rsa_signed=rsa_signed(c.get("signed_with") for c in chain),
            not_after=min(expiries) if expiries else None)

    @classmethod
    def from_observation(cls, observation: Observation) -> Presentation:
        """From this run's own observation (the same facts as from_record, without a JSON round trip)."""
        facts = chain_facts(observation.chain_der)
        if observation.outcome is not Outcome.OK or not facts.certs:
            return cls(observation.outcome.value, observation.port)
        leaf = facts.leaf
        return cls(
            outcome="ok", port=observation.port, leaf_sha256=leaf.sha256, key=leaf.key_type.lower() or None,
            issuer=leaf.issuer, self_signed=leaf.self_signed, rsa_signed=rsa_signed(c.signed_with for c in facts.certs),
            not_after=min(c.not_after for c in facts.certs))

    def days_left(self, now: dt.datetime) -> int | None:
        if self.not_after is None:
            return None
        return int((self.not_after - now).total_seconds() // 86400)

    def classes(self) -> frozenset[str]:
        """The `expected_changes` from:/to: words this presentation satisfies (policy.PRESENTATION_CLASSES)."""
        names = {"any"}
        if self.outcome != "ok":
            names.add(self.outcome)
            if self.outcome in NO_CONVERSATION:
                names.add("unreachable")
            return frozenset(names)
        if self.key:
            names.add(self.key)
        names.add("self-signed" if self.self_signed else "ca-signed")
        kind = signing((self.key or "").upper(), bool(self.self_signed), ["RSA"] if self.rsa_signed else [])
        names |= {"ec-ca": {"ec-ca-signed"}, "rsa-ca": {"ecdsa-by-rsa-ca"}}.get(kind, set())
        if kind == "ca" and self.key == "rsa":
            names.add("rsa-ca-signed")
        return frozenset(names)

    def describe(self) -> str:
        if self.outcome != "ok":
            return self.outcome
        signing = "self-signed" if self.self_signed else "CA-signed"
        return f"{(self.key or '?').upper()} {signing}"


@dataclass(frozen=True)
class Snapshot:
    """One run's presentations, keyed by (node, service, offer, tls_version)."""

    path: str
    site: str | None
    written: str | None
    now: dt.datetime                       # the run's clock, for days left
    offers: tuple[str, ...]
    versions: tuple[str, ...]
    presentations: dict[Key, Presentation]
    roles: dict[str, str] = field(default_factory=dict)   # node -> role, when known
    releases: dict[str, str] = field(default_factory=dict)  # node -> its inventory `version:`, when given
    status: str = "complete"               # "interrupted": probes may be missing (they then show as new)
    clients: tuple[str, ...] = ()          # --clients: the simulated client profiles it probed, by name

    @classmethod
    def from_results(cls, data: Mapping[str, Any], path: str | Path) -> Snapshot:
        """From a results document in memory (its `run` and version-1 `probes`)."""
        return cls.from_probes(data.get("run") or {}, data.get("probes") or [], path)

    @classmethod
    def from_probes(cls, run: Mapping[str, Any], probes: Iterable[Mapping[str, Any]], path: str | Path) -> Snapshot:
        presentations: dict[Key, Presentation] = {}
        for probe in probes:
            key = (str(probe["node"]), str(probe["service"]), str(probe["offer"]), str(probe["tls_version"]))
            presentations[key] = Presentation.from_record(probe)
        offers = tuple(run.get("offers") or dict.fromkeys(k[2] for k in presentations if client_of(k) is None))
        versions = tuple(run.get("tls_versions") or dict.fromkeys(k[3] for k in presentations if client_of(k) is None))
        # A results file without `run.clients` (cut short, or hand-made) still names its clients in its probes.
        clients = run.get("clients")
        if not isinstance(clients, list):
            clients = [c for c in dict.fromkeys(map(client_of, presentations)) if c is not None]
        stamp = run.get("started") or run.get("written")
        now = dt.datetime.fromisoformat(stamp) if stamp else dt.datetime.now(dt.UTC)
        roles = {str(k): str(v) for k, v in (run.get("roles") or {}).items()}
        releases = {str(k): str(v) for k, v in (run.get("releases") or {}).items()}
        return cls(str(path), run.get("site"), run.get("written"), now, offers, versions, presentations, roles,
                   releases, str(run.get("status") or "complete"), tuple(str(c) for c in clients))

    @classmethod
    def from_observations(cls, observations: Iterable[Observation], *, site: str, now: dt.datetime,
                          offers: tuple[str, ...], versions: tuple[str, ...], roles: dict[str, str],
                          releases: dict[str, str] | None = None, clients: tuple[str, ...] = ()) -> Snapshot:
        """This run, as it stands, to compare with a baseline."""
        presentations = {(o.key.node, o.key.service, o.key.offer.value, o.key.version.value):
                         Presentation.from_observation(o) for o in observations}
        return cls("(this run)", site, None, now, offers, versions, presentations, roles, releases or {},
                   clients=clients)


def load_snapshot(path: Path) -> Snapshot:
    """A baseline file, read as a stream (its probes; the tests after them are only scanned), or a clear
    UsageError: missing, not JSON, not a dualcert results file."""
    fix = "give a results JSON written by dualcert (reports/<site>.json)"
    try:
        results = ResultsFile(path)
        return Snapshot.from_probes(results.head.get("run") or {}, results.probes(), path)
    except FileNotFoundError:
        raise UsageError("baseline file not found", file=path,
                         fix="give the results JSON of an earlier run (e.g. reports/<site>.json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the baseline: {exc}", file=path, fix="make the file readable") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"the baseline is not JSON: {exc.msg}", file=path, fix=fix) from None
    except (KeyError, TypeError, IndexError) as exc:
        raise UsageError(f"the baseline's probes are incomplete ({type(exc).__name__}: {exc})", file=path,
                         fix="give an unedited results JSON written by dualcert") from None
    except ValueError as exc:
        raise UsageError(str(exc), file=path, fix=fix) from None


def short_value(value: Any) -> str:
    """A value for a one-line text: a SHA-256 fingerprint shows its first 16 hex digits."""
    if value is None:
        return "-"
    text = str(value)
    return text[:16] + "…" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text
