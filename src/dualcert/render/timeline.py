"""The report's expiry timeline: every distinct certificate presented, as a bar on one time axis (inline SVG)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dualcert.facts.chain import CertFacts, chain_facts
from dualcert.probe.observation import Observation
from dualcert.render.html import esc
from dualcert.run import DualcertRun

TIMELINE_MAX_CERTS = 150  # the soonest to expire; the rest are counted, not drawn


@dataclass(frozen=True)
class SeenCert:
    facts: CertFacts
    role: str          # "leaf" | "CA"
    where: tuple[str, ...]  # node:service that presented it
    # (warn_days, fail_days): the strictest of the policy's thresholds where it is presented
    thresholds: tuple[int, int] | None = None


def distinct_certs(observations: Iterable[Observation],
                   expiry_days: Callable[[str, str], tuple[int, int]] | None = None) -> list[SeenCert]:
    """Every distinct certificate presented (by SHA-256), with where it was seen and, given the
    policy's `expiry_days(node, service)`, the thresholds that apply to it."""
    # Places as dict keys (an ordered set): an estate's intermediate is seen at every endpoint, and a
    # list's `in` made that quadratic (4.8 s at 10,000 endpoints).
    seen: dict[str, tuple[CertFacts, str, dict[str, None], list[tuple[int, int]]]] = {}
    for observation in observations:
        node, service = observation.key.node, observation.key.service
        place = f"{node}:{service}"
        for index, cert in enumerate(chain_facts(observation.chain_der).certs):
            role = "leaf" if index == 0 and not cert.is_ca else "CA"
            entry = seen.setdefault(cert.sha256, (cert, role, {}, []))
            if place not in entry[2]:
                entry[2][place] = None
                if expiry_days is not None:
                    entry[3].append(expiry_days(node, service))
    return [SeenCert(f, r, tuple(w), (max(t[0] for t in ts), max(t[1] for t in ts)) if ts else None)
            for f, r, w, ts in seen.values()]


def timeline_svg(certs: list[SeenCert], now: dt.datetime, warn_days: int, fail_days: int) -> str:
    """Each certificate a bar from not_before to not_after on one time axis; lines at now and at
    the fail/warn thresholds. Inline SVG: no script, no fetch."""
    if not certs:
        return '<p class="dc-legend">No certificate was presented.</p>'
    ordered = sorted(certs, key=lambda c: c.facts.not_after)
    shown = ordered[:TIMELINE_MAX_CERTS]
    start = min(min(c.facts.not_before for c in shown), now - dt.timedelta(days=30))
    end = max(max(c.facts.not_after for c in shown), now + dt.timedelta(days=warn_days + 30))
    label_w, plot_w, row_h, top = 330, 640, 16, 30
    width, height = label_w + plot_w + 20, top + row_h * len(shown) + 24
    span = (end - start).total_seconds() or 1.0

    def x(when: dt.datetime) -> float:
        return round(label_w + plot_w * (when - start).total_seconds() / span, 1)

    parts = [f'<svg class="dc-timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="certificate expiry timeline">']
    warn_x, fail_x, now_x = x(now + dt.timedelta(days=warn_days)), x(now + dt.timedelta(days=fail_days)), x(now)
    parts.append(f'<rect x="{now_x}" y="{top - 6}" width="{max(warn_x - now_x, 1)}" height="{height - top}" '
                 'fill="#fff3cd"/>')
    parts.append(f'<rect x="{now_x}" y="{top - 6}" width="{max(fail_x - now_x, 1)}" height="{height - top}" '
                 'fill="#f8d7da"/>')
    for label, pos, colour, dy in (("now", now_x, "#333", 10), (f"fail {fail_days}d", fail_x, "#b02a37", 20),
                                   (f"warn {warn_days}d", warn_x, "#997404", 10)):
        parts.append(f'<line x1="{pos}" y1="{top - 6}" x2="{pos}" y2="{height - 18}" stroke="{colour}" '
                     f'stroke-dasharray="3,2"/><text x="{pos + 2}" y="{dy}" font-size="10" fill="{colour}">'
                     f'{esc(label)}</text>')
    for year in range(start.year + 1, end.year + 1):
        pos = x(dt.datetime(year, 1, 1, tzinfo=dt.UTC))
        parts.append(f'<line x1="{pos}" y1="{height - 20}" x2="{pos}" y2="{height - 14}" stroke="#666"/>'
                     f'<text x="{pos}" y="{height - 3}" font-size="10" text-anchor="middle">{year}</text>')
    for row, cert in enumerate(shown):
        facts = cert.facts
        y = top + row * row_h
        days = facts.days_left(now)
        warn, fail = cert.thresholds or (warn_days, fail_days)
        colour = "#dc3545" if days < fail else "#ffc107" if days < warn else (
            "#6f42c1" if cert.role == "CA" else "#198754")
        name = facts.common_name or facts.subject
        label = f"{'CA ' if cert.role == 'CA' else ''}{name[:42]} · {int(days)}d"
        tip = (f"{facts.subject} (issuer {facts.issuer}) sha256 {facts.sha256} until {facts.not_after:%Y-%m-%d}; "
               f"seen on {', '.join(cert.where[:5])}{' …' if len(cert.where) > 5 else ''}")
        x0, x1 = x(facts.not_before), x(facts.not_after)
        parts.append(f'<g><title>{esc(tip)}</title><text x="{label_w - 6}" y="{y + 11}" font-size="11" '
                     f'text-anchor="end">{esc(label)}</text><rect x="{x0}" y="{y + 2}" width="{max(x1 - x0, 1)}" '
                     f'height="{row_h - 5}" rx="2" fill="{colour}"/></g>')
    parts.append("</svg>")
    if len(ordered) > len(shown):
        parts.append(f'<p class="dc-legend">{len(ordered) - len(shown)} more certificates expire later '
                     f'(all are in the results JSON).</p>')
    return "".join(parts)


def timeline_html(run: DualcertRun, certs: list[SeenCert]) -> str:
    # The shaded bands show the policy's own thresholds; a certificate's colour follows those
    # where it is presented (nodes and services may have their own).
    warn_days, fail_days = run.policy.expiry_days("", "")
    leafs = sum(1 for c in certs if c.role == "leaf")
    return (f'<section id="dc-timeline" class="dc-section"><h2>Expiry timeline</h2><p class="dc-legend">'
            f'{len(certs)} distinct certificates ({leafs} leaf, {len(certs) - leafs} CA), soonest first; '
            f'shaded: within {fail_days} days (fail) and {warn_days} days (warn) of {run.now:%Y-%m-%d}.</p>'
            f'{timeline_svg(certs, run.now, warn_days, fail_days)}</section>')
