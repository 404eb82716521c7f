"""The report's estate view, built from one run: the summary matrix, the diagnosis and
baseline changes, the expiry timeline, the run metadata and the per-probe detail data.

Pure functions returning HTML strings (no pytest here). Every string that came from a
certificate, a server, the inventory or another helper's section goes through `esc` before
it reaches HTML; the per-probe detail travels as JSON inside a <script type=application/json>
with `<`, `>` and `&` escaped, and is turned into DOM by the report's script with
textContent only (see report_assets.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from dualcert.facts.chain import CertFacts, chain_facts
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.run import DualcertRun
from dualcert.safetext import safe

# Worst first: the colour of a cell is that of its worst test.
STATUS_ORDER = ("fail", "warn", "pass", "na", "none")
TIMELINE_MAX_CERTS = 150  # the soonest to expire; the rest are counted, not drawn


def esc(value: object) -> str:
    """Text for HTML (element content and quoted attributes), control characters made visible."""
    return escape(safe("" if value is None else str(value)), quote=True)


def json_for_script(data: object) -> str:
    """JSON that cannot end its <script> element or open a comment, whatever strings it holds."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


@dataclass
class OutcomeTally:
    """What the tests said, per case id (node:service:offer:version)."""

    by_case: dict[str, list[str]] = field(default_factory=dict)   # case id -> statuses
    outcomes: dict[str, int] = field(default_factory=dict)        # passed/failed/skipped/error -> count

    def add(self, case_id: str | None, outcome: str, status: str | None, *, count: bool = True) -> None:
        """`count=False`: a finding inside a test already counted (--dualcert-items endpoint)."""
        if count:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if case_id is None:
            return
        if outcome in ("failed", "error"):
            status = "fail"
        elif outcome == "skipped":
            status = "na"
        self.by_case.setdefault(case_id, []).append(status or "pass")

    def worst(self, case_ids: Iterable[str]) -> str:
        found = [s for c in case_ids for s in self.by_case.get(c, [])]
        for status in STATUS_ORDER:
            if status in found:
                return status
        return "none"


def worst_of(statuses: Iterable[str]) -> str:
    found = set(statuses)
    return next((s for s in STATUS_ORDER if s in found), "none")


# ---------------------------------------------------------------- matrix

def short_label(role: str, service: str, label: str) -> str:
    """"UCCX Tomcat (web, ...)" -> "UCCX Tomcat"; the digest's column names."""
    text = label.split(" (")[0].strip() if label else ""
    text = text.replace("SocialMiner ", "SM ")
    return text or f"{role} {service}"


def probe_summary(observation: Observation | None, now: dt.datetime) -> str:
    """One offer's result in a few words: key, CA-signed or self-signed, issuer, days left."""
    if observation is None:
        return "not probed"
    if observation.outcome is not Outcome.OK:
        return observation.outcome.value if observation.probed else f"{observation.outcome.value} (not retried)"
    facts = chain_facts(observation.chain_der)
    if not facts.certs:
        return "unparseable certificate"
    leaf = facts.leaf
    days = int(min(c.days_left(now) for c in facts.certs))
    if leaf.self_signed:
        return f"{leaf.key_type} self-signed · {days}d"
    issuer = leaf.issuer_common_name or leaf.issuer
    return f"{leaf.key_type} CA-signed · {issuer} · {days}d"


@dataclass(frozen=True)
class Column:
    role: str
    service: str
    title: str
    label: str


def cluster_columns(run: DualcertRun, nodes: list[Any]) -> list[Column]:
    columns: dict[tuple[str, str], Column] = {}
    for node in nodes:
        for spec in node.services:
            key = (node.role, spec.name)
            if key not in columns:
                columns[key] = Column(node.role, spec.name, short_label(node.role, spec.name, spec.label),
                                      spec.label or spec.name)
    titles = [c.title for c in columns.values()]
    # Two services with one vendor name (Openfire over BOSH and over XMPP) keep their own titles.
    return [Column(c.role, c.service, f"{c.title} ({c.service})" if titles.count(c.title) > 1 else c.title, c.label)
            for c in columns.values()]


def matrix_html(run: DualcertRun, tally: OutcomeTally) -> str:
    clusters: dict[str, list[Any]] = {}
    for node in run.inventory.nodes:
        clusters.setdefault(node.cluster, []).append(node)
    diagnoses = {d.get("cluster"): d for d in _diagnosis_list(run)}
    parts = ['<section id="dc-matrix" class="dc-section"><h2>Estate</h2>',
             '<p class="dc-legend">Each cell: what each offer got (ECDSA only, RSA only, both like a browser), '
             'over each TLS version when they differ. Colour: the worst test of the cell '
             '(<span class="dc-fail">fail</span>, <span class="dc-warn">warn</span>, '
             '<span class="dc-pass">pass</span>). A cell links to its tests.</p>']
    for cluster, nodes in clusters.items():
        columns = cluster_columns(run, nodes)
        parts.append(f'<div class="dc-cluster"><div class="dc-cluster-table"><h3>Cluster {esc(cluster)}</h3>')
        parts.append('<table class="dc-matrix"><thead><tr><th>node</th>')
        parts += [f'<th title="{esc(c.label)}">{esc(c.title)}</th>' for c in columns]
        parts.append("</tr></thead><tbody>")
        diagnosis = diagnoses.get(cluster)
        node_states = diagnosis.get("nodes", {}) if isinstance(diagnosis, dict) else {}
        for node in nodes:
            state = node_states.get(node.name) if isinstance(node_states, dict) else None
            state_html = f' <span class="dc-state">{esc(state)}</span>' if state else ""
            parts.append(f'<tr><th class="dc-node">{esc(node.name)}{state_html}'
                         f'<div class="dc-host">{esc(node.host)}</div></th>')
            services = {s.name for s in node.services}
            for column in columns:
                if column.role != node.role or column.service not in services:
                    parts.append('<td class="dc-empty"></td>')
                else:
                    parts.append(_cell(run, tally, node.name, column.service))
            parts.append("</tr>")
        parts.append("</tbody></table></div>")
        if diagnosis:
            parts.append(_diagnosis_html(diagnosis))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _cell(run: DualcertRun, tally: OutcomeTally, node: str, service: str) -> str:
    lines, statuses = [], []
    for offer in run.options.offers:
        texts = {}
        for version in run.options.versions:
            key = ProbeKey(node, service, offer, version)
            texts[version.value] = probe_summary(run.observations.get(key), run.now)
        case_ids = [ProbeKey(node, service, offer, v).test_id for v in run.options.versions]
        status = tally.worst(case_ids)
        statuses.append(status)
        if len(set(texts.values())) == 1:
            shown = esc(next(iter(texts.values())))
        else:
            shown = " / ".join(f"{esc(v.replace('tls', ''))}: {esc(t)}" for v, t in texts.items())
        lines.append(f'<div class="dc-offer dc-{status}"><b>{esc(offer.value)}</b> {shown}</div>')
    href = f"?dcnode={esc(node)}&amp;dcservice={esc(service)}#results-table"
    return (f'<td class="dc-cell dc-{worst_of(statuses)}"><a class="dc-link" href="{href}" '
            f'title="show the tests of {esc(node)} {esc(service)}">{"".join(lines)}</a></td>')


def _diagnosis_list(run: DualcertRun) -> list[dict[str, Any]]:
    found = run.sections.get("diagnosis")
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def _diagnosis_html(diagnosis: dict[str, Any]) -> str:
    state, intended = diagnosis.get("state"), diagnosis.get("intended")
    ok = state is not None and state == intended
    parts = [f'<aside class="dc-diagnosis {"dc-pass" if ok else "dc-fail"}"><h4>Diagnosed state '
             f'<span class="dc-state">{esc(state)}</span> (intended {esc(intended)})</h4>']
    if diagnosis.get("agent_experience"):
        parts.append(f'<p><b>Agents:</b> {esc(diagnosis["agent_experience"])}</p>')
    differs = diagnosis.get("differs") or []
    if differs:
        parts.append("<p><b>Differs from the intended state:</b></p><ul>")
        parts += [f"<li>{esc(d)}</li>" for d in differs]
        parts.append("</ul>")
    remediation = diagnosis.get("remediation") or []
    if remediation:
        # Folded: a cluster's steps (one per node and unit) would push the other clusters off the first screen.
        parts.append(f"<details><summary><b>Remediation</b> ({len(remediation)} step"
                     f"{'s' if len(remediation) != 1 else ''})</summary><ol>")
        parts += [f"<li>{esc(r)}</li>" for r in remediation]
        parts.append("</ol></details>")
    parts.append("</aside>")
    return "".join(parts)


# ---------------------------------------------------------------- changes since baseline

def changes_html(run: DualcertRun) -> str:
    changes = run.sections.get("changes")
    if not isinstance(changes, dict):
        return ""
    entries = [e for e in changes.get("entries") or [] if isinstance(e, dict)]
    baseline: dict[str, Any] = changes["baseline"] if isinstance(changes.get("baseline"), dict) else {}
    described = ", ".join(f"{esc(k)} {esc(v)}" for k, v in baseline.items() if not isinstance(v, (dict, list)))
    parts = ['<section id="dc-changes" class="dc-section"><h2>Changes since baseline</h2>',
             f'<p class="dc-legend">Baseline: {described or "unnamed"}. {len(entries)} change(s), '
             f'{sum(1 for e in entries if not e.get("expected"))} unexpected.</p>']
    if entries:
        parts.append('<table class="dc-changes"><thead><tr><th>what</th><th>kind</th><th>field</th><th>before</th>'
                     '<th>after</th><th>expected</th><th>reason</th></tr></thead><tbody>')
        for entry in entries:
            fields: dict[str, Any] = entry["fields"] if isinstance(entry.get("fields"), dict) else {}
            rows = list(fields.items()) or [("", ["", ""])]
            cls = "dc-pass" if entry.get("expected") else "dc-fail"
            for index, (name, pair) in enumerate(rows):
                before, after = [*pair, "", ""][:2] if isinstance(pair, (list, tuple)) else (pair, "")
                head = (f'<td rowspan="{len(rows)}">{esc(entry.get("id"))}</td><td rowspan="{len(rows)}">'
                        f'{esc(entry.get("kind"))}</td>') if index == 0 else ""
                tail = (f'<td rowspan="{len(rows)}">{"yes" if entry.get("expected") else "no"}</td>'
                        f'<td rowspan="{len(rows)}">{esc(entry.get("reason"))}</td>') if index == 0 else ""
                parts.append(f'<tr class="{cls}">{head}<td>{esc(name)}</td><td>{esc(before)}</td>'
                             f'<td>{esc(after)}</td>{tail}</tr>')
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "".join(parts)


# ---------------------------------------------------------------- certificates and timeline

@dataclass(frozen=True)
class SeenCert:
    facts: CertFacts
    role: str          # "leaf" | "CA"
    where: tuple[str, ...]  # node:service that presented it


def distinct_certs(observations: Iterable[Observation]) -> list[SeenCert]:
    """Every distinct certificate presented (by SHA-256), with where it was seen."""
    seen: dict[str, tuple[CertFacts, str, list[str]]] = {}
    for observation in observations:
        place = f"{observation.key.node}:{observation.key.service}"
        for index, cert in enumerate(chain_facts(observation.chain_der).certs):
            role = "leaf" if index == 0 and not cert.is_ca else "CA"
            entry = seen.setdefault(cert.sha256, (cert, role, []))
            if place not in entry[2]:
                entry[2].append(place)
    return [SeenCert(f, r, tuple(w)) for f, r, w in seen.values()]


def _thresholds(run: DualcertRun) -> tuple[int, int]:
    expiry = run.policy.rules.get("expiry") or {}
    return int(expiry.get("warn_days", 30)), int(expiry.get("fail_days", 7))


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
        colour = "#dc3545" if days < fail_days else "#ffc107" if days < warn_days else (
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
    warn_days, fail_days = _thresholds(run)
    leafs = sum(1 for c in certs if c.role == "leaf")
    return (f'<section id="dc-timeline" class="dc-section"><h2>Expiry timeline</h2><p class="dc-legend">'
            f'{len(certs)} distinct certificates ({leafs} leaf, {len(certs) - leafs} CA), soonest first; '
            f'shaded: within {fail_days} days (fail) and {warn_days} days (warn) of {run.now:%Y-%m-%d}.</p>'
            f'{timeline_svg(certs, run.now, warn_days, fail_days)}</section>')


# ---------------------------------------------------------------- metadata

def _digest(path: Path | None) -> tuple[str, str]:
    if path is None:
        return "(built-in)", ""
    try:
        return str(path), hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return str(path), "(unreadable)"


def metadata_html(run: DualcertRun, tally: OutcomeTally, *, version: str, command: list[str], status: str,
                  finished: dt.datetime) -> str:
    inventory, inventory_sha = _digest(run.inventory.path)
    policy_path, policy_sha = _digest(run.policy.path)
    probe_counts: dict[str, int] = {}
    for observation in run.observations.values():
        probe_counts[observation.outcome.value] = probe_counts.get(observation.outcome.value, 0) + 1
    expected = len(run.endpoints) * len(run.options.offers) * len(run.options.versions)
    rows = [
        ("status", status), ("dualcert", version), ("site", run.inventory.site),
        ("started", run.started.isoformat(timespec="seconds")), ("finished", finished.isoformat(timespec="seconds")),
        ("inventory", f"{inventory}  sha256 {inventory_sha}"),
        ("policy", f"{run.policy.name} {policy_path}  sha256 {policy_sha}".rstrip()),
        ("intended state", run.policy.intended_state), ("command", " ".join(command)),
        ("tests", ", ".join(f"{v} {k}" for k, v in sorted(tally.outcomes.items())) or "none"),
        ("probes", f"{len(run.observations)} of {expected}: "
                   + (", ".join(f"{v} {k}" for k, v in sorted(probe_counts.items())) or "none")),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<details id="dc-meta" class="dc-section"><summary>Run metadata</summary><table>{body}</table></details>'


def banner_html(status: str, run: DualcertRun) -> str:
    if status != "interrupted":
        return ""
    return (f'<div id="dc-interrupted" class="dc-banner">Run interrupted: this report holds the '
            f'{len(run.observations)} probes that finished; the others were not measured.</div>')


# ---------------------------------------------------------------- per-probe detail data

def detail_data(run: DualcertRun) -> dict[str, Any]:
    """Compact JSON for the lazy per-test detail: each certificate once, each probe once."""
    certs: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    probes: dict[str, list[Any]] = {}
    for key, observation in run.observations.items():
        refs = []
        for cert in chain_facts(observation.chain_der).certs:
            if cert.sha256 not in index:
                index[cert.sha256] = len(certs)
                key_text = f"{cert.key_type} {cert.curve or cert.key_size or ''}".strip()
                certs.append({"s": safe(cert.subject), "i": safe(cert.issuer), "k": key_text,
                              "a": cert.signature_algorithm, "f": cert.not_before.strftime("%Y-%m-%d"),
                              "t": cert.not_after.strftime("%Y-%m-%d"), "h": cert.sha256, "p": cert.pem,
                              "ss": cert.self_signed})
            refs.append(index[cert.sha256])
        probes[key.test_id] = [observation.outcome.value, observation.negotiated_version, observation.cipher,
                               safe(observation.detail or ""), safe(observation.alert or ""), refs]
    nodes = list(dict.fromkeys(e.node for e in run.endpoints.values()))
    services = list(dict.fromkeys(e.service.name for e in run.endpoints.values()))
    return {"certs": certs, "probes": probes, "nodes": nodes, "services": services,
            "offers": [o.value for o in run.options.offers], "versions": [v.value for v in run.options.versions]}


def esc_text(value: object) -> str:
    """Text for element content: quotes need no escape there (shorter in pytest-html's JSON blob)."""
    return escape(safe("" if value is None else str(value)), quote=False)


_BARE_VALUE = re.compile(r"[A-Za-z0-9._:/-]+")


def finding_extra_html(case_id: str, status: str, message: str, fix: str) -> str:
    """The per-test detail kept in the test's row: the finding, and a placeholder the script
    fills from the shared per-probe data when opened (the chain is not repeated per rule).

    Failed and skipped tests already show message and fix in pytest-html's log, so only
    passes and warnings carry them here. 84,000 of these travel inside one HTML attribute,
    where every quote costs six bytes: attribute values are left unquoted when they can be."""
    case = case_id if _BARE_VALUE.fullmatch(case_id) else f'"{esc(case_id)}"'
    text = ""
    if status in ("pass", "warn"):
        text = f"<div><b>{esc_text(status)}:</b> {esc_text(message)}</div>"
        text += f"<div><b>fix:</b> {esc_text(fix)}</div>" if fix else ""
    cls = {"n/a": "na"}.get(status, status) if _BARE_VALUE.fullmatch(status) else "other"
    return (f"<div class=dc-{cls}>{text}<details class=dc-probe data-case={case}>"
            "<summary>chain, negotiated TLS, PEM</summary></details></div>")
