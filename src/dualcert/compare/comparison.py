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

Simulated clients' probes (--clients, `client-<profile>:auto`) are compared like the offers' when
both runs probed that profile: a client that now gets another leaf, or no longer connects, is news.
A profile only one run probed is left out and named in the summary: the other run never sent its
hello, so its probes say nothing about the servers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from dualcert.compare.releases import release_changes
from dualcert.compare.snapshot import Key, Presentation, Snapshot, client_of, key_id, short_value
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
    clients: tuple[str, ...] = ()          # simulated client profiles both runs probed (--clients): compared too

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
        if self.clients:
            probes = sum(1 for change in self.changes if client_of(change.key) is not None)
            line += f" ({probes} of them simulated clients' probes: {', '.join(self.clients)})"
        line += "".join(f" ({note})" for note in self.left_out_notes())
        if base.status != "complete":
            line += f" (the baseline run was {base.status}: what it did not probe shows as new)"
        return line

    def left_out_notes(self) -> list[str]:
        """What was not compared, in words: for the summary line and the report."""
        left_out, notes = self.not_compared, []
        one_run = left_out["offers"] + left_out["tls_versions"]
        if one_run:
            notes.append(f"not compared, probed by one run only: {', '.join(one_run)}")
        if left_out["clients"]:
            notes.append("not compared, client profiles probed by one run only (--clients differed): " + ", ".join(
                f"{c['profile']} ({c['probes']} probe(s), {self._side_name(c['only_in'])} only)"
                for c in left_out["clients"]))
        return notes

    @cached_property
    def not_compared(self) -> dict[str, Any]:
        """What one run probed and the other did not, left out of the comparison: offers, TLS versions, and
        client profiles (--clients differed) with their probe counts; `only_in` is "old" (the baseline) or "new"."""
        base, cur = self.baseline, self.current
        clients = []
        for side, snapshot in (("old", base), ("new", cur)):
            alone = [c for c in snapshot.clients if c not in self.clients]
            if alone:
                counts = Counter(map(client_of, snapshot.presentations))
                clients += [{"profile": c, "only_in": side, "probes": counts[c]} for c in alone]
        return {"offers": sorted(set(base.offers) ^ set(cur.offers)),
                "tls_versions": sorted(set(base.versions) ^ set(cur.versions)), "clients": clients}

    def _side_name(self, side: str) -> str:
        path = (self.baseline if side == "old" else self.current).path
        return "this run" if path == "(this run)" else path

    def section(self) -> dict[str, Any]:
        """The results JSON's `changes` section (the HTML report renders the Comparison itself)."""
        return {"baseline": {"path": self.baseline.path, "written": self.baseline.written, "site": self.baseline.site},
                "not_compared": self.not_compared,
                "entries": [c.to_json() for c in self.entries]}


def compare(baseline: Snapshot, current: Snapshot, policy: Policy | None = None, *,
            ids: Iterable[str] | None = None, upgrade: tuple[str, str] | None = None) -> Comparison:
    """Every key either run probed, over the offers, TLS versions and client profiles both probed.

    `ids` restricts the comparison (the tests pytest selected); `policy` gives the expiry
    thresholds and `expected_changes` (None: every change is unexpected, default thresholds).
    Nodes whose release differs between the two runs (or `upgrade` FROM, TO for unversioned ones)
    add the changes their catalog releases explain (compare/releases.py), before the policy's."""
    offers = tuple(o for o in current.offers if o in baseline.offers)
    versions = tuple(v for v in current.versions if v in baseline.versions)
    clients = tuple(c for c in current.clients if c in baseline.clients)
    both = set(clients)
    keys = [k for k in set(current.presentations) | set(baseline.presentations)
            if (k[2] in offers and k[3] in versions) or client_of(k) in both]
    if ids is not None:  # in the order pytest runs them
        order = {test_id: index for index, test_id in enumerate(ids)}
        keys = sorted((k for k in keys if key_id(k) in order), key=lambda k: order[key_id(k)])
    else:
        keys.sort()
    thresholds: Thresholds = (policy or builtin_profile(DEFAULT_PROFILE)).expiry_days
    roles = {**baseline.roles, **current.roles}
    derived = release_changes(baseline.releases, current.releases, roles, upgrade)
    rules = derived + (policy.expected_changes if policy is not None else ())
    known: dict[Key, Change | None] = {}

    def one(key: Key) -> Change | None:
        """A key's change, computed once; None when neither run probed it."""
        if key not in known:
            probed = key in baseline.presentations or key in current.presentations
            known[key] = _compare_one(key, baseline, current, thresholds, rules, roles.get(key[0])) if probed else None
        return known[key]

    changes = [one(k) for k in keys]
    if clients and rules:
        changes = [_as_an_offer(c, offers, versions, one) if c is not None else c for c in changes]
    return Comparison(baseline, current, tuple(c for c in changes if c is not None), offers, versions, clients)


def _same(one: Presentation | None, other: Presentation | None) -> bool:
    if one is None or other is None:
        return one is other
    return (one.outcome, one.leaf_sha256) == (other.outcome, other.leaf_sha256)


def _as_an_offer(change: Change, offers: tuple[str, ...], versions: tuple[str, ...],
                 sibling: Callable[[Key], Change | None]) -> Change:
    """A client's change is expected when an offer's probe of the same endpoint made the very same change (same
    outcome and leaf before and after) and that was expected: expected_changes name offers, and a browser that
    gets the re-issued ECDSA leaf the `ecdsa` offer gets is that declared change, not another one. A client left
    refused where no offer is breaks on its own, so only a change to a leaf, to unreachable or to absent follows."""
    after = change.after
    if change.expected or client_of(change.key) is None or (
            after is not None and after.outcome != "ok" and "unreachable" not in after.classes()):
        return change
    node, service = change.key[0], change.key[1]
    for offer in offers:
        for version in versions:
            other = sibling((node, service, offer, version))
            if (other is not None and other.kind != "unchanged" and other.expected
                    and _same(other.before, change.before) and _same(other.after, change.after)):
                return replace(change, expected=True, reason=f"the same change as {other.id}, {other.reason}")
    return change


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
