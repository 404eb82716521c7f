"""The estate rules: what one probe cannot judge alone (pure: observations in, Verdicts out).

- deployment_state:   each cluster's measured state of the UCCX note (S1-S4, rsa-only) is the intended one

- twin_signing:       a unit's RSA certificate is CA-signed -> its ECDSA twin is CA-signed or not presented
- unit_consistency:   services that share a unit present the same certificate on every port of a node
- cluster_roots:      nodes of one role in a cluster chain to the same roots; a multi-server SAN
                      certificate names every one of them
- ecdsa_chain:        no ECDSA leaf whose chain carries an RSA signature, on any offer (CSCvb58580)
- plaintext_listener: no plain-text twin listening where the catalog makes the secure port the only
                      one (report only: a warning)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from dualcert.estate.model import Endpoint, Inventory, Node
from dualcert.estate.releases import Basis, soften
from dualcert.estate.vocabulary import Unit
from dualcert.facts.chain import ChainFacts
from dualcert.facts.trust import TrustStore, Validation, chain_above
from dualcert.offers import ALL_OFFERS, Offer
from dualcert.policy.states import NO_STATE, meets
from dualcert.probe.observation import Observation, ProbeKey
from dualcert.rules import remedies
from dualcert.rules.causes import Cause, combined, failed, finding, fix_for
from dualcert.rules.diagnosis import ClusterDiagnosis, by_endpoint, diagnose
from dualcert.rules.presented import presented_chain, reading, rsa_signed
from dualcert.verdict import Status, Verdict


@dataclass(frozen=True)
class PlainCheck:
    """A TCP connect to a service's plain-text twin port (probe.connection.plaintext_listening)."""

    port: int
    listening: bool | None   # None: could not tell (timeout, unreachable)
    detail: str


@dataclass
class EstateView:
    """Everything the estate rules read: the inventory, every observation, the plain-text checks,
    which offers were probed and the intended deployment state."""

    inventory: Inventory
    observations: Mapping[ProbeKey, Observation]
    plaintext: Mapping[tuple[str, str], PlainCheck] = field(default_factory=dict)
    offers: tuple[Offer, ...] = ALL_OFFERS
    intended: str = "S3"
    intended_by_node: Mapping[str, str] = field(default_factory=dict)   # a node's release's intended state
    trust: TrustStore | None = None     # the site's bundle: chains are read through their validated path
    now: dt.datetime | None = None      # the run's one clock, for that validation

    def __post_init__(self) -> None:
        self.observed = by_endpoint(self.observations)
        self.endpoints = {(e.node, e.service.name): e for e in self.inventory.endpoints()}

    def path_of(self, observation: Observation) -> Validation | None:
        """The probe's chain validated to the bundle (memoised by the TrustStore), None without one."""
        if self.trust is None or self.now is None or not observation.chain_der:
            return None
        return self.trust.validate(observation.chain_der, self.now)

    def node(self, name: str) -> Node:
        return self.inventory.node(name)

    def cluster(self, name: str) -> list[Node]:
        return self.inventory.cluster_nodes(name)

    def chains(self, node: Node) -> list[tuple[Endpoint, Observation, ChainFacts]]:
        """Every presented chain of a node, with its endpoint, in inventory order."""
        found = []
        for spec in node.services:
            for observation in self.observed.get((node.name, spec.name), []):
                facts = presented_chain(observation)
                if facts is not None:
                    found.append((self.endpoints[(node.name, spec.name)], observation, facts))
        return found

    @cached_property
    def diagnoses(self) -> dict[str, ClusterDiagnosis]:
        """Each cluster's deployment state, in inventory order."""
        return {d.cluster: d for d in diagnose(self.inventory, self.observations, self.intended,
                                               self.intended_by_node, self.path_of)}


def _port(endpoint: Endpoint) -> str:
    return f"{endpoint.service.name} ({endpoint.port})"


def twin_signing(view: EstateView, name: str) -> Verdict:
    rule, node = "twin_signing", view.node(name)
    pairs: dict[tuple[str, str], tuple[list[str], list[str]]] = {}  # units -> (CA-signed RSA, self-signed ECDSA)
    for spec in node.services:
        if spec.ecdsa_unit is None:
            continue
        seen = view.observed.get((name, spec.name), [])
        ca_rsa, self_ec = pairs.setdefault((spec.rsa_unit or "RSA", spec.ecdsa_unit), ([], []))
        label = _port(view.endpoints[(name, spec.name)])
        if any(reading(o, "RSA", view.path_of) == "ca" for o in seen if o.key.offer is Offer.RSA):
            ca_rsa.append(label)
        if any(reading(o, "ECDSA", view.path_of) == "self" for o in seen if o.key.offer is not Offer.RSA):
            self_ec.append(label)
    bad = [(units, self_ec) for units, (ca_rsa, self_ec) in pairs.items() if ca_rsa and self_ec]
    if bad:
        words = node.vocabulary
        text = "; ".join(f"{words.unit(rsa)} is CA-signed but its twin {words.unit(ecdsa)} is self-signed on "
                         f"{', '.join(ports)}" for (rsa, ecdsa), ports in bad)
        fixes = [fix_for(Cause.SELF_SIGNED_TWIN, name, words.unit(ecdsa), "self-signed") for (_, ecdsa), _ in bad]
        return Verdict(rule, Status.FAIL, f"{name}: {text} ({words.self_signed_prompt})",
                       "; ".join(dict.fromkeys(fixes)), causes=(Cause.SELF_SIGNED_TWIN,))
    if not any(ca for ca, _ in pairs.values()):
        return Verdict(rule, Status.NA, f"{name}: no CA-signed RSA certificate seen; the rule concerns CA-signed units")
    return Verdict(rule, Status.PASS, f"{name}: every CA-signed RSA unit's ECDSA twin is CA-signed or not presented")


def unit_consistency(view: EstateView, name: str) -> Verdict:
    rule, node = "unit_consistency", view.node(name)
    units: dict[str, dict[str, list[str]]] = {}  # unit -> leaf sha256 -> services presenting it
    for endpoint, _, facts in view.chains(node):
        family = facts.leaf.key_type
        unit = endpoint.service.ecdsa_unit if family == "ECDSA" else endpoint.service.rsa_unit
        if unit is None:
            continue
        services = units.setdefault(unit, {}).setdefault(facts.leaf.sha256, [])
        if _port(endpoint) not in services:
            services.append(_port(endpoint))
    if not units:
        return Verdict(rule, Status.NA, f"{name}: no certificate was presented")
    split = {unit: prints for unit, prints in units.items() if len(prints) > 1}
    if split:
        text = "; ".join(f"{unit} differs across ports: " + ", ".join(
            f"{sha[:16]}… on {', '.join(services)}" for sha, services in prints.items())
            for unit, prints in split.items())
        fixes = [fix_for(Cause.UNIT_SPLIT, name, node.vocabulary.unit(unit)) for unit in split]
        return Verdict(rule, Status.FAIL, f"{name}: {text}", "; ".join(fixes), causes=(Cause.UNIT_SPLIT,))
    return Verdict(rule, Status.PASS, f"{name}: " + "; ".join(
        f"{unit} is the same certificate on {len(next(iter(p.values())))} port(s)" for unit, p in units.items()))


def ecdsa_chain(view: EstateView, name: str) -> Verdict:
    rule, node = "ecdsa_chain", view.node(name)
    ecdsa = [(e, o, f) for e, o, f in view.chains(node) if f.leaf.key_type == "ECDSA"]
    if not ecdsa:
        return Verdict(rule, Status.NA, f"{name}: no ECDSA certificate was presented")
    bad: dict[str, Endpoint] = {}
    unseen: dict[str, None] = {}   # by where, once: TLS 1.2 and 1.3 probes of an offer say the same
    for endpoint, observation, facts in ecdsa:
        # The validated path, so that an RSA-signed intermediate the server omits is still seen.
        above = chain_above(facts, view.path_of(observation))
        where = f"{_port(endpoint)} to the {observation.key.offer.value} offer"
        if rsa_signed(above.signed_with()):
            bad.setdefault(where, endpoint)
        elif above.unseen:
            unseen[where] = None
    if bad:
        first = next(iter(bad.values()))
        return failed(rule, f"{name}: an ECDSA leaf with an RSA signature in its chain is presented by "
                      f"{'; '.join(bad)}", Cause.ECDSA_UNDER_RSA_CA, first)
    if unseen:
        return finding(rule, Status.WARN, f"{name}: nothing above the ECDSA leaf can be seen on {'; '.join(unseen)} "
                      "(no intermediate sent, no path to the trust bundle): whether an RSA CA signed the chain cannot "
                      "be told", Cause.ISSUER_UNSEEN)
    return Verdict(rule, Status.PASS, f"{name}: every ECDSA chain is ECDSA-signed throughout ({len(ecdsa)} probes)")


def plaintext_listener(view: EstateView, name: str) -> Verdict:
    rule, node = "plaintext_listener", view.node(name)
    checks = [(view.endpoints[(name, service)], view.plaintext.get((name, service)))
              for service in node.plaintext_twins()]
    if not checks:
        return Verdict(rule, Status.NA, f"{name}: no service has a plain-text twin port (catalog or inventory "
                       "'plaintext_port')")
    open_ = [(e, c) for e, c in checks if c is not None and c.listening]
    if open_:
        text = "; ".join(f"{e.service.name}'s plain-text twin {c.port} accepts connections beside {e.port}"
                         for e, c in open_)
        return finding(rule, Status.WARN, f"{name}: {text} (report only)", Cause.PLAINTEXT_TWIN, name,
                      [c.port for _, c in open_])
    unknown = [f"{e.service.name} ({c.detail if c else 'not measured'})" for e, c in checks
               if c is None or c.listening is None]
    if len(unknown) == len(checks):
        return Verdict(rule, Status.NA, f"{name}: could not tell: {'; '.join(unknown)}")
    return Verdict(rule, Status.PASS, f"{name}: no plain-text twin listens "
                   f"({', '.join(str(c.port) for _, c in checks if c is not None and c.listening is False)})")


def _top(facts: ChainFacts) -> str:
    """The root a chain leads to, by name: the last certificate's subject if it is self-signed
    (a root was sent), else its issuer."""
    last = facts.certs[-1]
    return last.subject if last.self_signed else last.issuer


def cluster_roots(view: EstateView, cluster: str) -> Verdict:
    rule, nodes = "cluster_roots", view.cluster(cluster)
    by_role: dict[str, list[Node]] = {}
    for node in nodes:
        by_role.setdefault(node.role, []).append(node)
    groups = [g for g in by_role.values() if len(g) > 1]
    if not groups:
        return Verdict(rule, Status.NA, f"cluster {cluster}: no role has two nodes (publisher and subscriber)")
    problems: list[tuple[str, Cause, str]] = []
    for group in groups:
        problems += _root_mismatch(view, group)
        problems += _san_gaps(view, group)
    if problems:
        return combined(rule, Status.FAIL, f"cluster {cluster}: ", problems)
    names = ", ".join("/".join(n.name for n in g) for g in groups)
    return Verdict(rule, Status.PASS, f"cluster {cluster}: {names} chain to the same roots")


def _root_mismatch(view: EstateView, group: list[Node]) -> list[tuple[str, Cause, str]]:
    problems: list[tuple[str, Cause, str]] = []
    for family in ("RSA", "ECDSA"):
        roots: dict[str, frozenset[str]] = {}
        units: dict[str, Unit] = {}
        for node in group:
            tops = set()
            for endpoint, _, facts in view.chains(node):
                if facts.leaf.key_type == family:
                    tops.add("self-signed" if facts.leaf.self_signed else _top(facts))
                    units[node.name] = remedies.unit_for(endpoint, family)
            if tops:
                roots[node.name] = frozenset(tops)
        distinct = set(roots.values())
        if len(distinct) <= 1 or all(r == {"self-signed"} for r in distinct):
            continue
        text = "; ".join(f"{n} to {', '.join(sorted(r))}" for n, r in roots.items())
        # The roots most nodes share are the reference; a CA beats self-signed on a tie.
        reference = max(distinct, key=lambda r: (sum(1 for v in roots.values() if v == r), "self-signed" not in r))
        fixes = [fix_for(Cause.ROOTS_DIFFER, node_name, units[node_name], sorted(reference))
                 for node_name, node_roots in roots.items() if node_roots != reference]
        problems.append((f"{family} chains lead to different roots: {text}", Cause.ROOTS_DIFFER, "; ".join(fixes)))
    return problems


def _host_key(name: str) -> str:
    return name.lower().rstrip(".")


def _san_gaps(view: EstateView, group: list[Node]) -> list[tuple[str, Cause, str]]:
    """A leaf naming two or more of the group's nodes is a multi-server certificate: it must name them all."""
    problems: list[tuple[str, Cause, str]] = []
    seen: set[str] = set()
    # Look each SAN entry up by host: a cluster of thousands of nodes stays linear, not quadratic.
    by_host: dict[str, list[Node]] = {}
    for member in group:
        by_host.setdefault(_host_key(member.host), []).append(member)
    for node in group:
        for endpoint, _, facts in view.chains(node):
            if facts.leaf.sha256 in seen:
                continue
            seen.add(facts.leaf.sha256)
            names = {_host_key(d) for d in facts.leaf.san_dns} | set(facts.leaf.san_ip)
            named_set = {id(n) for name in names for n in by_host.get(name, [])}
            if len(named_set) <= 1:
                continue
            named = [n for n in group if id(n) in named_set]
            missing = [n for n in group if id(n) not in named_set]
            if len(named) > 1 and missing:
                unit = remedies.unit_for(endpoint, facts.leaf.key_type)
                problems.append((f"the multi-server {unit} certificate {facts.leaf.common_name or ''!s} presented "
                                 f"by {node.name} names {', '.join(n.host for n in named)} but not "
                                 f"{', '.join(n.host for n in missing)}", Cause.SAN_GAP,
                                 fix_for(Cause.SAN_GAP, unit, [n.host for n in group])))
    return problems



def deployment_state(view: EstateView, cluster: str) -> Verdict:
    rule = "deployment_state"
    missing = {Offer.ECDSA, Offer.RSA} - set(view.offers)
    if missing:
        return Verdict(rule, Status.NA, f"cluster {cluster}: the diagnosis needs the ecdsa and rsa offers "
                       f"(--offers lacks {', '.join(sorted(o.value for o in missing))})")
    diagnosis = view.diagnoses[cluster]
    if all(not node.readings for node in diagnosis.nodes):
        return Verdict(rule, Status.NA, f"cluster {cluster}: no service has an ECDSA certificate in the catalog "
                       "(ecdsa_unit: null), so the deployment states S1-S4 do not apply")
    if diagnosis.intended == NO_STATE and all(node.intended in (None, NO_STATE) for node in diagnosis.nodes):
        return Verdict(rule, Status.NA, f"cluster {cluster}: measured state {diagnosis.state}; the policy intends no "
                       f"deployment state of the digest (intended_state: {NO_STATE})")
    if diagnosis.as_intended:
        design = f" ({diagnosis.design})" if diagnosis.design else ""
        return Verdict(rule, Status.PASS, f"cluster {cluster}: measured state {diagnosis.state}{design}, as intended "
                       f"({', '.join(f'{n} {s}' for n, s in diagnosis.node_states.items())}); agent experience: "
                       f"{diagnosis.agent_experience}")
    return soften(failed(rule, diagnosis.message(), Cause.STATE, diagnosis), _weak_intents(view, diagnosis))


def _weak_intents(view: EstateView, diagnosis: ClusterDiagnosis) -> tuple[Basis, ...]:
    """What the failure rests on when only release rules no document states cause it: every node off its
    intended state intends its release's state by such a rule, and the policy's own state would pass it."""
    bases: list[Basis] = []
    for measured in diagnosis.nodes:
        if meets(measured.state, measured.intended or diagnosis.intended):
            continue
        release = view.node(measured.node).release
        basis = release.intended_basis if release is not None else None
        if (release is None or basis is None or basis.documented or release.intended != measured.intended
                or not meets(measured.state, view.intended)):
            return ()
        bases.append(basis)
    return tuple(bases)
