"""Client simulation's outputs: the report's "who gets what" section (per service: rows clients,
columns nodes) and the terminal's list of clients that would break. No decisions: a cell's
colour and its accepted/breaks word are the worst status of that probe's client tests."""

from __future__ import annotations

from collections.abc import Iterable

from dualcert.facts.chain import chain_facts
from dualcert.offers import ClientOffer, ClientRange
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.render.html import css_class, esc
from dualcert.render.tally import OutcomeTally
from dualcert.run import DualcertRun
from dualcert.safetext import safe
from dualcert.verdict import Status, Verdict

CLIENT_RULES = ("client_key", "client_accepts", "client_protocol")
_WORDS = {Status.PASS: "accepted", Status.WARN: "accepted, with a warning", Status.FAIL: "breaks",
          Status.NA: "not judged"}


def cell_text(observation: Observation | None) -> str:
    """Key family, issuer and negotiated version: what the client got."""
    if observation is None:
        return "not probed"
    if observation.outcome is not Outcome.OK:
        return f"cannot connect: {observation.outcome.value}"
    facts = chain_facts(observation.chain_der)
    if not facts.certs:
        return "unparseable certificate"
    leaf = facts.leaf
    issuer = "self-signed" if leaf.self_signed else (leaf.issuer_common_name or leaf.issuer)
    return f"{leaf.key_type} · {issuer} · {observation.negotiated_version}"


def clients_html(run: DualcertRun, tally: OutcomeTally) -> str:
    """Per service, which certificate each simulated client gets from each node and whether it accepts it."""
    if not run.clients:
        return ""
    services: dict[str, list[str]] = {}
    for node, service in run.endpoints:
        if run.in_shard(node):
            services.setdefault(service, []).append(node)
    parts = ['<section id="dc-clients" class="dc-section"><h2>Who gets what</h2>',
             '<p class="dc-legend">Per service: what each simulated client (<code>--clients</code>) gets from each '
             'node (key family · issuer · negotiated TLS version) and whether it accepts it: '
             '<span class="dc-fail">breaks</span> (refused, prompts its user, or the policy wants otherwise), '
             '<span class="dc-warn">warning</span>, <span class="dc-pass">accepted</span>. '
             'Each cell is the worst of that probe\'s tests <code>client_key</code>, <code>client_accepts</code>, '
             '<code>client_protocol</code>; docs/clients.md says what is emulated.</p>']
    for service, nodes in services.items():
        parts.append(f'<h3>{esc(service)}</h3><table class="dc-matrix dc-clients"><thead><tr><th>client</th>')
        parts += [f"<th>{esc(node)}</th>" for node in nodes]
        parts.append("</tr></thead><tbody>")
        for profile in run.clients.values():
            parts.append(f'<tr><th title="{esc(profile.source)}">{esc(profile.name)}'
                         f'<div class="dc-host">{esc(profile.title)}</div></th>')
            for node in nodes:
                parts.append(_cell(run, tally, ProbeKey(node, service, ClientOffer(profile.name), ClientRange.AUTO)))
            parts.append("</tr>")
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "".join(parts)


def _cell(run: DualcertRun, tally: OutcomeTally, key: ProbeKey) -> str:
    status = tally.worst([key.test_id])
    word = _WORDS.get(status, "not judged") if status else "not judged"
    href = f"?dcnode={esc(key.node)}&amp;dcservice={esc(key.service)}#results-table"
    return (f'<td class="dc-cell dc-{css_class(status)}"><a class="dc-link" href="{href}">'
            f'{esc(cell_text(run.observations.get(key)))}<div><b>{esc(word)}</b></div></a></td>')


def breaking_lines(verdicts: Iterable[Verdict], limit: int = 40) -> list[str]:
    """The terminal's list of clients that would break: each failing client test, the clients counted first."""
    failing = [v for v in verdicts if v.rule in CLIENT_RULES and v.status is Status.FAIL]
    if not failing:
        return []
    by_client: dict[str, set[str]] = {}
    for verdict in failing:
        node, service, offer, _ = [*verdict.subject.split(":"), "", "", "", ""][:4]
        by_client.setdefault(offer.removeprefix("client-"), set()).add(f"{node} {service}")
    counted = ", ".join(f"{name} ({len(where)} endpoint{'s' if len(where) != 1 else ''})"
                        for name, where in by_client.items())
    lines = [f"Clients that would break: {counted}"]
    lines += [f"  BREAKS {v.subject} {v.rule}: {v.message}" for v in failing[:limit]]
    if len(failing) > limit:
        lines.append(f"  ... and {len(failing) - limit} more (see 'Who gets what' in the report)")
    return [safe(line) for line in lines]
