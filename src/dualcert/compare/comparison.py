"""Compare a run with a baseline: what each (node, service, offer, TLS version) presented before
and after, and whether the policy's expected_changes allow it.

Pure: snapshots in (dualcert.compare.snapshot), a Comparison out; no network. The pytest plugin
(`--baseline`) and `dualcert diff` are its two users.

What counts as a change, per probe: the outcome (ok, refused, timeout, ...), the presented
leaf's SHA-256, key family, issuer DN, self-signed or not, and the port. Days left always
move between two runs, so they are a change only when they cross one of the policy's
expiry thresholds (ok / warn / fail / expired, the `expiry` rule's bands): a certificate
that went from 90 to 60 days left is not news, one that went from 40 to 20 with a 30-day
warn window is. When another field changed, days left are listed too, for context.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from dualcert.compare.releases import release_changes
from dualcert.compare.snapshot import Key, Presentation, Snapshot, key_id, short_value
from dualcert.policy.load import DEFAULT_PROFILE, builtin_profile
from dualcert.policy.model import ExpectedChange, Policy

Thresholds = Callable[[str, str], tuple[int, int]]   # (node, service) -> (warn_days, fail_days)
COMPARED = ("outcome", "port", "leaf_sha256", "key", "issuer", "self_signed")
KINDS = ("changed", "new", "gone")


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
            what = "; ".join(f"{name}: {short_value(b)} -> {short_value(a)}" for name, (b, a) in self.fields.items())
        return f"{self.id}: {what}"


def _describe(presentation: Presentation | None) -> str:
    return "absent" if presentation is None else presentation.describe()


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
        """The results JSON's `changes` section (the HTML report renders the Comparison itself)."""
        return {"baseline": {"path": self.baseline.path, "written": self.baseline.written, "site": self.baseline.site},
                "entries": [c.to_json() for c in self.entries]}


def compare(baseline: Snapshot, current: Snapshot, policy: Policy | None = None, *,
            ids: Iterable[str] | None = None, upgrade: tuple[str, str] | None = None) -> Comparison:
    """Every key either run probed, over the offers and TLS versions both probed.

    `ids` restricts the comparison (the tests pytest selected); `policy` gives the expiry
    thresholds and `expected_changes` (None: every change is unexpected, default thresholds).
    Nodes whose release differs between the two runs (or `upgrade` FROM, TO for unversioned ones)
    add the changes their catalog releases explain (compare/releases.py), before the policy's."""
    offers = tuple(o for o in current.offers if o in baseline.offers)
    versions = tuple(v for v in current.versions if v in baseline.versions)
    keys = [k for k in set(current.presentations) | set(baseline.presentations)
            if k[2] in offers and k[3] in versions]
    if ids is not None:  # in the order pytest runs them
        order = {test_id: index for index, test_id in enumerate(ids)}
        keys = sorted((k for k in keys if key_id(k) in order), key=lambda k: order[key_id(k)])
    else:
        keys.sort()
    thresholds: Thresholds = (policy or builtin_profile(DEFAULT_PROFILE)).expiry_days
    roles = {**baseline.roles, **current.roles}
    derived = release_changes(baseline.releases, current.releases, roles, upgrade)
    rules = derived + (policy.expected_changes if policy is not None else ())
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
    upgrade = any(rule.origin for rule in rules)
    if not any(not rule.origin for rule in rules):
        return False, f"{transition}; " + ("the release upgrade does not explain it and " if upgrade else "") + \
            "the policy declares no expected_changes"
    return False, f"{transition}; " + ("neither the release upgrade nor any " if upgrade else "no ") + \
        "expected_changes entry of the policy allows it"


def _selects(rule: ExpectedChange, key: Key, role: str | None) -> bool:
    node, service, offer, version = key
    return ((rule.nodes is None or node in rule.nodes)
            and (rule.roles is None or role in rule.roles)
            and (rule.services is None or service in rule.services)
            and (rule.offers is None or offer in rule.offers)
            and (rule.tls_versions is None or version in rule.tls_versions))
