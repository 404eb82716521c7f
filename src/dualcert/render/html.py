"""The report's estate view, as HTML strings (no pytest here): matrix, diagnosis, changes since the
baseline, expiry timeline, run metadata and per-probe detail data.

Every string that came from a certificate, a server, the inventory or a helper goes through `esc`
before it reaches HTML; the per-probe detail travels as JSON inside a <script type=application/json>
with `<`, `>` and `&` escaped, and is turned into DOM by assets/report.js with textContent only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from dualcert.compare.comparison import Comparison
from dualcert.facts.chain import chain_facts
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.render.results import file_digest
from dualcert.render.summary import certificate_text
from dualcert.render.tally import OutcomeTally
from dualcert.render.text import as_intended
from dualcert.rules.diagnosis import ClusterDiagnosis
from dualcert.run import DualcertRun
from dualcert.safetext import safe
from dualcert.verdict import Status, worst


@cache
def asset(name: str) -> str:
    """The report's style or script (assets/report.css, assets/report.js), inlined: the report is
    opened offline and attached to change tickets, so it fetches nothing."""
    return (resources.files("dualcert.render") / "assets" / name).read_text(encoding="utf-8")


def css_class(status: Status | None) -> str:
    """A status as the report's CSS class: fail, warn, pass, na; none where no test said anything."""
    return "none" if status is None else "na" if status is Status.NA else status.value


def esc(value: object) -> str:
    """Text for HTML (element content and quoted attributes), control characters made visible."""
    return escape(safe("" if value is None else str(value)), quote=True)


def json_for_script(data: object) -> str:
    """JSON that cannot end its <script> element or open a comment, whatever strings it holds."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


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


def matrix_html(run: DualcertRun, tally: OutcomeTally, diagnoses: Iterable[ClusterDiagnosis] = ()) -> str:
    """Per cluster, a table of node x service cells (what each offer got) and the cluster's diagnosis."""
    clusters: dict[str, list[Any]] = {}
    for node in run.inventory.nodes:
        if run.in_shard(node.name):  # a --shard run's report holds its own clusters, not the others' "not probed"
            clusters.setdefault(node.cluster, []).append(node)
    diagnosed = {d.cluster: d for d in diagnoses}
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
        diagnosis = diagnosed.get(cluster)
        node_states = diagnosis.node_states if diagnosis is not None else {}
        for node in nodes:
            state = node_states.get(node.name)
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
        if diagnosis is not None:
            parts.append(diagnosis_html(diagnosis.to_json(), clients=bool(run.clients)))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _cell(run: DualcertRun, tally: OutcomeTally, node: str, service: str) -> str:
    lines: list[str] = []
    statuses: list[Status | None] = []
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
        lines.append(f'<div class="dc-offer dc-{css_class(status)}"><b>{esc(offer.value)}</b> {shown}</div>')
    href = f"?dcnode={esc(node)}&amp;dcservice={esc(service)}#results-table"
    return (f'<td class="dc-cell dc-{css_class(worst(s for s in statuses if s))}"><a class="dc-link" href="{href}" '
            f'title="show the tests of {esc(node)} {esc(service)}">{"".join(lines)}</a></td>')


def diagnosis_html(diagnosis: dict[str, Any], *, clients: bool = False) -> str:
    """One cluster's diagnosis, from its results JSON entry (ClusterDiagnosis.to_json). `clients`: the
    report has a "Who gets what" section (--clients) to point the agents' experience at."""
    state, intended = diagnosis["state"], diagnosis["intended"]
    design = f", {diagnosis['design']}" if diagnosis.get("design") else ""  # the release's behaviour
    parts = [f'<aside class="dc-diagnosis {"dc-pass" if as_intended(diagnosis) else "dc-fail"}"><h4>Diagnosed state '
             f'<span class="dc-state">{esc(state)}</span> (intended {esc(intended)}{esc(design)})</h4>']
    if diagnosis.get("agent_experience"):
        # With --clients, the simulated clients' cells show which desktops and appliances this means.
        see = ' (<a href="#dc-clients">which clients: Who gets what</a>)' if clients else ""
        parts.append(f'<p><b>Agents:</b> {esc(diagnosis["agent_experience"])}{see}</p>')
    if diagnosis.get("differs"):
        parts.append("<p><b>Differs from the intended state:</b></p><ul>")
        parts += [f"<li>{esc(d)}</li>" for d in diagnosis["differs"]]
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

def changes_html(comparison: Comparison | None) -> str:
    """The changes since the baseline (`--baseline`), each with its verdict; nothing without a baseline."""
    if comparison is None:
        return ""
    entries = comparison.entries
    base = comparison.baseline
    described = ", ".join(f"{name} {esc(value)}" for name, value in
                          (("path", base.path), ("written", base.written), ("site", base.site)))
    parts = ['<section id="dc-changes" class="dc-section"><h2>Changes since baseline</h2>',
             f'<p class="dc-legend">Baseline: {described}. {len(entries)} change(s), '
             f'{len(comparison.unexpected)} unexpected.</p>',
             *(f'<p class="dc-legend">{esc(note[0].upper() + note[1:])}.</p>' for note in comparison.left_out_notes())]
    if entries:
        parts.append('<table class="dc-changes"><thead><tr><th>what</th><th>kind</th><th>field</th><th>before</th>'
                     '<th>after</th><th>expected</th><th>reason</th></tr></thead><tbody>')
        for change in entries:
            rows = list(change.fields.items()) or [("", ("", ""))]
            cls = "dc-pass" if change.expected else "dc-fail"
            span = f' rowspan="{len(rows)}"'
            for index, (name, (before, after)) in enumerate(rows):
                head = f"<td{span}>{esc(change.id)}</td><td{span}>{esc(change.kind)}</td>" if index == 0 else ""
                tail = (f'<td{span}>{"yes" if change.expected else "no"}</td><td{span}>{esc(change.reason)}</td>'
                        if index == 0 else "")
                parts.append(f'<tr class="{cls}">{head}<td>{esc(name)}</td><td>{esc(before)}</td>'
                             f'<td>{esc(after)}</td>{tail}</tr>')
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "".join(parts)


# ---------------------------------------------------------------- the verdict, grouped

WHERE_LISTED = 500   # nodes listed under a finding; a shared certificate on 10,000 endpoints stays readable


def summary_html(summary: dict[str, Any], strict: bool) -> str:
    """The report's head: failures and warnings by cause and certificate (render.summary), one finding
    per certificate with the endpoints presenting it folded behind their count, the fix once."""
    failures, warnings = summary.get("failures", []), summary.get("warnings", [])
    parts = ['<section id="dc-summary" class="dc-section"><h2>Verdict</h2>']
    if failures:
        parts.append(f'<p class="dc-fail"><b>{summary["failed_tests"]} failed test(s)</b> in {len(failures)} '
                     "finding(s), by cause and certificate:</p>")
        parts.append(_findings_html(failures))
    if warnings:
        how = "made fatal by --strict" if strict else "passing; <code>--strict</code> makes them fail"
        parts.append(f'<div class="dualcert-warnings"><p><b>{summary["warned_tests"]} policy warning(s)</b>, {how}, '
                     f"in {len(warnings)} finding(s):</p>{_findings_html(warnings)}</div>")
    if not failures and not warnings:
        parts.append('<p class="dc-pass">No failures, no warnings.</p>')
    parts.append("</section>")
    return "".join(parts)


def _findings_html(findings: list[dict[str, Any]]) -> str:

    items = []
    for finding in findings:
        cls = "dc-fail" if finding["status"] == "fail" else "dc-warn"
        cert = finding.get("certificate")
        cert_html = f"<div>certificate: {esc(certificate_text(cert))}</div>" if cert else ""
        nodes = list(finding["where"].items())
        where = "".join(f"<li><code>{esc(node)}</code> {esc(', '.join(services))}</li>"
                        for node, services in nodes[:WHERE_LISTED])
        if len(nodes) > WHERE_LISTED:
            where += f"<li>... and {len(nodes) - WHERE_LISTED} more node(s): the results JSON's summary lists them</li>"
        fix = f"<div><b>fix:</b> {esc(finding['fix'])}</div>" if finding.get("fix") else ""
        items.append(f'<li class="{cls}"><b>{esc(finding["rule"])}</b>: {esc(finding["cause"])}{cert_html}'
                     f'<details><summary>on {finding["endpoints"]} endpoint(s) of {finding["nodes"]} node(s), '
                     f'{finding["tests"]} test(s)</summary><ul>{where}</ul></details>{fix}</li>')
    return f'<ul class="dc-findings">{"".join(items)}</ul>'


# ---------------------------------------------------------------- metadata

def _digest(path: Path | None) -> tuple[str, str]:
    """(path, SHA-256) for the metadata table, from the same digest the results JSON records."""
    found = file_digest(path)
    if found is None:
        return "(built-in)", ""
    return found["path"], found["sha256"] or "(unreadable)"


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
    select = run.options.select   # a part of the estate (docs/scale.md, "By count or by site")
    if select is not None:
        rows.append(("selection", f"--select {select.text()}: {len(run.inventory.nodes)} of the "
                                  f"{len(run.estate.nodes)} nodes"))
    rows += [("split cluster", f"{s.part}: {', '.join(s.nodes)} (not here: {', '.join(s.elsewhere)})")
             for s in run.splits]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<details id="dc-meta" class="dc-section"><summary>Run metadata</summary><table>{body}</table></details>'


def banner_html(status: str, run: DualcertRun) -> str:
    if status != "interrupted":
        return ""
    return (f'<div id="dc-interrupted" class="dc-banner">Run interrupted: this report holds the '
            f'{len(run.observations)} probes that finished; the others were not measured.</div>')


# ---------------------------------------------------------------- per-probe detail data

PEM_LIMIT = 1000   # distinct certificates whose PEMs a report carries, whatever their tests said


def detail_data(run: DualcertRun, tally: OutcomeTally | None = None) -> dict[str, Any]:
    """Compact JSON for the lazy per-test detail: each certificate once, each probe once, the texts they share
    (issuer, key, signature algorithm, outcome, TLS version, cipher) once in `strings`, named by their place.

    Above PEM_LIMIT distinct certificates (a large estate: each endpoint has its own leaves), only the
    certificates that a failing or warning probe presented keep their PEM: the PEMs were a third of a
    10,000-endpoint report. The others' detail points to the results JSON's `certificates` table."""
    certs: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    probes: dict[str, list[Any]] = {}
    flagged: set[int] = set()   # certificates a failing or warning probe presented
    strings: dict[str, int] = {}   # the texts many certificates and probes share (issuers, ciphers), once each

    def shared(text: str | None) -> int | None:
        return None if text is None else strings.setdefault(text, len(strings))

    for key, observation in run.observations.items():
        refs = []
        for cert in chain_facts(observation.chain_der).certs:
            if cert.sha256 not in index:
                index[cert.sha256] = len(certs)
                key_text = f"{cert.key_type} {cert.curve or cert.key_size or ''}".strip()
                certs.append({"s": safe(cert.subject), "i": shared(safe(cert.issuer)), "k": shared(key_text),
                              "a": shared(cert.signature_algorithm), "f": cert.not_before.strftime("%Y-%m-%d"),
                              "t": cert.not_after.strftime("%Y-%m-%d"), "h": cert.sha256, "p": cert.pem,
                              **({"ss": True} if cert.self_signed else {})})
            refs.append(index[cert.sha256])
        probes[key.test_id] = [shared(observation.outcome.value), shared(observation.negotiated_version),
                               shared(observation.cipher), safe(observation.detail or ""),
                               safe(observation.alert or ""), refs]
        if tally is None or tally.worst([key.test_id]) in (Status.FAIL, Status.WARN):
            flagged.update(refs)
    if len(certs) > PEM_LIMIT:
        for number, entry in enumerate(certs):
            if number not in flagged:
                del entry["p"]
    nodes = list(dict.fromkeys(e.node for e in run.endpoints.values()))
    services = list(dict.fromkeys(e.service.name for e in run.endpoints.values()))
    return {"certs": certs, "probes": probes, "strings": list(strings), "nodes": nodes, "services": services,
            "offers": [o.value for o in run.options.offers], "versions": [v.value for v in run.options.versions]}


def esc_text(value: object) -> str:
    """Text for element content: quotes need no escape there (shorter in pytest-html's JSON blob)."""
    return escape(safe("" if value is None else str(value)), quote=False)


_STATUSES = frozenset(s.value for s in Status)
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
    cls = css_class(Status(status)) if status in _STATUSES else "other"
    return (f"<div class=dc-{cls}>{text}<details class=dc-probe data-case={case}>"
            "<summary>chain, negotiated TLS, PEM</summary></details></div>")


def endpoint_extra_html(endpoint_id: str, probes: int) -> str:
    """The detail of an endpoint test whose every probe passed every rule: one placeholder (its id is
    node:service) that the script fills with each of the endpoint's probes from the shared data."""
    case = endpoint_id if _BARE_VALUE.fullmatch(endpoint_id) else f'"{esc(endpoint_id)}"'
    return (f"<div class=dc-pass><div><b>pass:</b> every rule passes on {probes} probe(s)</div>"
            f"<details class=dc-probe data-case={case}><summary>chains, negotiated TLS, PEM of each probe"
            "</summary></details></div>")
