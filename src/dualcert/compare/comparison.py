"""Compare a run with a baseline (an earlier results JSON): what each (node, service,
offer, TLS version) presented before and after, and whether the policy expected it.

Pure: it reads results documents (`results.load_results`) and the policy's
`expected_changes`; no network. The pytest plugin (`baseline_pytest.py`) and
`dualcert diff` are its two users.

What counts as a change, per probe: the outcome (ok, refused, timeout, ...), the presented
leaf's SHA-256, key family, issuer DN, self-signed or not, and the port. Days left always
move between two runs, so they are a change only when they cross one of the policy's
expiry thresholds (ok / warn / fail / expired, the `expiry` rule's bands): a certificate
that went from 90 to 60 days left is not news, one that went from 40 to 20 with a 30-day
warn window is. When another field changed, days left are listed too, for context.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from dualcert.errors import UsageError
from dualcert.policy.model import ExpectedChange, Policy
from dualcert.probe.observation import ENDPOINT_WIDE
from dualcert.render.results import load_results

Key = tuple[str, str, str, str]          # (node, service, offer, tls_version)
Thresholds = Callable[[str, str], tuple[int, int]]   # (node, service) -> (warn_days, fail_days)
COMPARED = ("outcome", "port", "leaf_sha256", "key", "issuer", "self_signed")
KINDS = ("changed", "new", "gone")


def key_id(key: Key) -> str:
    return ":".join(key)


@dataclass(frozen=True)
class Presentation:
    """What one probe saw, reduced to the facts a comparison looks at."""

    outcome: str
    port: int | None
    leaf_sha256: str | None = None
    key: str | None = None               # "ecdsa" | "rsa" | ... (lower case), None without a certificate
    issuer: str | None = None
    self_signed: bool | None = None
    chain_signed_with: tuple[str, ...] = ()   # signature families above the leaf's key, leaf first
    not_after: dt.datetime | None = None      # the soonest expiry of the presented chain

    @classmethod
    def from_record(cls, probe: dict[str, Any]) -> Presentation:
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
            self_signed=leaf.get("self_signed"),
            chain_signed_with=tuple(str(c.get("signed_with") or "?") for c in chain if not c.get("self_signed")),
            not_after=min(expiries) if expiries else None)

    def days_left(self, now: dt.datetime) -> int | None:
        if self.not_after is None:
            return None
        return int((self.not_after - now).total_seconds() // 86400)

    def classes(self) -> frozenset[str]:
        """The `expected_changes` from:/to: words this presentation satisfies (policy.PRESENTATION_CLASSES)."""
        names = {"any"}
        if self.outcome != "ok":
            names.add(self.outcome)
            if self.outcome in ENDPOINT_WIDE:
                names.add("unreachable")
            return frozenset(names)
        if self.key:
            names.add(self.key)
        names.add("self-signed" if self.self_signed else "ca-signed")
        if not self.self_signed:
            if self.key == "ecdsa":
                ecdsa_throughout = bool(self.chain_signed_with) and all(s == "ECDSA" for s in self.chain_signed_with)
                names.add("ec-ca-signed" if ecdsa_throughout else "ecdsa-by-rsa-ca")
            elif self.key == "rsa":
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
    status: str = "complete"               # "interrupted": probes may be missing (they then show as new)

    @classmethod
    def from_results(cls, data: dict[str, Any], path: str | Path) -> Snapshot:
        run = data.get("run") or {}
        probes = data.get("probes") or []
        presentations: dict[Key, Presentation] = {}
        for probe in probes:
            key = (str(probe["node"]), str(probe["service"]), str(probe["offer"]), str(probe["tls_version"]))
            presentations[key] = Presentation.from_record(probe)
        offers = tuple(run.get("offers") or dict.fromkeys(k[2] for k in presentations))
        versions = tuple(run.get("tls_versions") or dict.fromkeys(k[3] for k in presentations))
        stamp = run.get("started") or run.get("written")
        now = dt.datetime.fromisoformat(stamp) if stamp else dt.datetime.now(dt.UTC)
        roles = {str(k): str(v) for k, v in (run.get("roles") or {}).items()}
        return cls(str(path), run.get("site"), run.get("written"), now, offers, versions, presentations, roles,
                   str(run.get("status") or "complete"))

    @property
    def endpoints(self) -> set[tuple[str, str]]:
        return {(k[0], k[1]) for k in self.presentations}


def load_snapshot(path: Path) -> Snapshot:
    """A baseline file, or a clear UsageError: missing, not JSON, not a dualcert results file."""
    try:
        data = load_results(path)
    except FileNotFoundError:
        raise UsageError("baseline file not found", file=path,
                         fix="give the results JSON of an earlier run (e.g. reports/<site>.json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the baseline: {exc}", file=path, fix="make the file readable") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"the baseline is not JSON: {exc.msg}", file=path, line=exc.lineno,
                         fix="give a results JSON written by dualcert (reports/<site>.json)") from None
    except ValueError as exc:
        raise UsageError(str(exc), file=path, fix="give a results JSON written by dualcert (reports/<site>.json)"
                         ) from None
    try:
        return Snapshot.from_results(data, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"the baseline's probes are incomplete ({type(exc).__name__}: {exc})", file=path,
                         fix="give an unedited results JSON written by dualcert") from None


def expiry_band(days: int | None, warn_days: int, fail_days: int) -> str | None:
    """The `expiry` rule's verdict for `days` left: ok, warn, fail or expired."""
    if days is None:
        return None
    if days < 0:
        return "expired"
    if days < fail_days:
        return "fail"
    return "warn" if days < warn_days else "ok"


@dataclass(frozen=True)
class Change:
    key: Key
    kind: str                                  # changed | new | gone | unchanged
    fields: dict[str, tuple[Any, Any]]
    before: Presentation | None
    after: Presentation | None
    expected: bool
    reason: str

    @property
    def id(self) -> str:
        return key_id(self.key)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "fields": {k: list(v) for k, v in self.fields.items()},
                "expected": self.expected, "reason": self.reason}

    def text(self) -> str:
        """One line for a test failure or a terminal."""
        if self.kind == "new":
            what = f"new since the baseline: {_describe(self.after)}"
        elif self.kind == "gone":
            what = f"gone since the baseline (was {_describe(self.before)})"
        else:
            what = "; ".join(f"{name}: {_short(b)} -> {_short(a)}" for name, (b, a) in self.fields.items())
        return f"{self.id}: {what}"


def _describe(presentation: Presentation | None) -> str:
    return "absent" if presentation is None else presentation.describe()


def _short(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text[:16] + "…" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


@dataclass(frozen=True)
class Comparison:
    baseline: Snapshot
    current: Snapshot
    changes: tuple[Change, ...]            # every compared key, unchanged ones too
    offers: tuple[str, ...]                # compared: both runs probed these
    versions: tuple[str, ...]

    @property
    def entries(self) -> list[Change]:
        return [c for c in self.changes if c.kind != "unchanged"]

    @property
    def unexpected(self) -> list[Change]:
        return [c for c in self.entries if not c.expected]

    @cached_property
    def by_id(self) -> dict[str, Change]:
        return {c.id: c for c in self.changes}

    def counts(self) -> dict[str, int]:
        counts = {kind: 0 for kind in (*KINDS, "unchanged")}
        for change in self.changes:
            counts[change.kind] += 1
        return counts

    def summary(self) -> str:
        c = self.counts()
        base = self.baseline
        line = (f"compared {len(self.changes)} probes with baseline {base.path} "
                f"(site {base.site or '?'}, written {base.written or '?'}): "
                f"{c['changed']} changed, {c['new']} new, {c['gone']} gone, {c['unchanged']} unchanged; "
                f"{len(self.entries) - len(self.unexpected)} expected, {len(self.unexpected)} unexpected")
        cur = self.current
        left_out = sorted((set(base.offers) ^ set(cur.offers)) | (set(base.versions) ^ set(cur.versions)))
        if left_out:
            line += f" (not compared, probed by one run only: {', '.join(left_out)})"
        if base.status != "complete":
            line += f" (the baseline run was {base.status}: what it did not probe shows as new)"
        return line

    def section(self) -> dict[str, Any]:
        """`run.sections["changes"]` of the results JSON (the HTML report renders it)."""
        return {"baseline": {"path": self.baseline.path, "written": self.baseline.written, "site": self.baseline.site},
                "entries": [c.to_json() for c in self.entries]}


def compare(baseline: Snapshot, current: Snapshot, policy: Policy | None = None, *,
            ids: Iterable[str] | None = None) -> Comparison:
    """Every key either run probed, over the offers and TLS versions both probed.

    `ids` restricts the comparison (the tests pytest selected); `policy` gives the expiry
    thresholds and `expected_changes` (None: every change is unexpected, default thresholds)."""
    offers = tuple(o for o in current.offers if o in baseline.offers)
    versions = tuple(v for v in current.versions if v in baseline.versions)
    keys = [k for k in set(current.presentations) | set(baseline.presentations)
            if k[2] in offers and k[3] in versions]
    if ids is not None:  # in the order pytest runs them
        order = {test_id: index for index, test_id in enumerate(ids)}
        keys = sorted((k for k in keys if key_id(k) in order), key=lambda k: order[key_id(k)])
    else:
        keys.sort()
    thresholds: Thresholds = policy.expiry_days if policy is not None else (lambda node, service: (30, 7))
    rules = policy.expected_changes if policy is not None else ()
    roles = {**baseline.roles, **current.roles}
    changes = tuple(_compare_one(k, baseline, current, thresholds, rules, roles.get(k[0])) for k in keys)
    return Comparison(baseline, current, changes, offers, versions)


def _compare_one(key: Key, baseline: Snapshot, current: Snapshot, thresholds: Thresholds,
                 rules: tuple[ExpectedChange, ...], role: str | None) -> Change:
    before, after = baseline.presentations.get(key), current.presentations.get(key)
    if before is None or after is None:
        kind = "new" if before is None else "gone"
        present = after if after is not None else before
        assert present is not None
        fields = {"outcome": (before.outcome if before else None, after.outcome if after else None)}
        if present.leaf_sha256:
            fields["leaf_sha256"] = (before.leaf_sha256 if before else None, after.leaf_sha256 if after else None)
    else:
        kind, fields = "changed", _field_changes(key, before, after, baseline.now, current.now, thresholds)
        if not fields:
            return Change(key, "unchanged", {}, before, after, True, "")
    expected, reason = _judge(key, before, after, rules, role)
    return Change(key, kind, fields, before, after, expected, reason)


def _field_changes(key: Key, before: Presentation, after: Presentation, then: dt.datetime, now: dt.datetime,
                   thresholds: Thresholds) -> dict[str, tuple[Any, Any]]:
    fields: dict[str, tuple[Any, Any]] = {}
    for name in COMPARED:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            fields[name] = (old, new)
    days = (before.days_left(then), after.days_left(now))
    warn, fail = thresholds(key[0], key[1])
    bands = (expiry_band(days[0], warn, fail), expiry_band(days[1], warn, fail))
    if bands[0] != bands[1] and None not in bands:
        fields["expiry"] = bands
    if fields and days != (None, None):
        fields["days_left"] = days
    return fields


def _judge(key: Key, before: Presentation | None, after: Presentation | None,
           rules: tuple[ExpectedChange, ...], role: str | None) -> tuple[bool, str]:
    old = before.classes() if before else frozenset({"absent", "any"})
    new = after.classes() if after else frozenset({"absent", "any"})
    for rule in rules:
        if not _selects(rule, key, role):
            continue
        if rule.any_change or ((rule.before is None or old & set(rule.before))
                               and (rule.after is None or new & set(rule.after))):
            return True, f"expected by {rule.label}" + (f": {rule.reason}" if rule.reason else "")
    transition = f"{_describe(before)} -> {_describe(after)}"
    if not rules:
        return False, f"{transition}; the policy declares no expected_changes"
    return False, f"{transition}; no expected_changes entry of the policy allows it"


def _selects(rule: ExpectedChange, key: Key, role: str | None) -> bool:
    node, service, offer, version = key
    return ((rule.nodes is None or node in rule.nodes)
            and (rule.roles is None or role in rule.roles)
            and (rule.services is None or service in rule.services)
            and (rule.offers is None or offer in rule.offers)
            and (rule.tls_versions is None or version in rule.tls_versions))
