"""Which deployment state of the UCCX 11.5 ECDSA note each cluster is in, from what its probes saw.

Pure: observations + inventory in, typed diagnoses out (rendered by dualcert.render).

The classification rests on two readings per service, whatever its port:
  the ECDSA-only offer got: a self-signed ECDSA leaf, one signed by an EC CA, one whose chain
  carries an RSA signature (signed by an RSA CA, CSCvb58580), or no certificate (refused);
  the RSA-only offer got: a self-signed or a CA-signed RSA leaf.
The digest's states follow from the pair (see STATE_OF). Services that have no ECDSA
certificate in the catalog (`ecdsa_unit: null`, e.g. CAPF, TVS) do not vote.

A node whose release presents RSA only by design (`version:`, e.g. UCCX 12.5: estate/releases.py)
is read from those services: RSA to the RSA-only offer, and the ECDSA-only offer refused or
answered with RSA, is its state `rsa-only`, described by the release ("RSA only by design
(11.6+)"), not by the COP. Where some services of a node present both and others RSA only by
design (CUCM 15SU2's HTTPS), only the dual ones vote.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dualcert.estate.model import Inventory, Node
from dualcert.estate.vocabulary import VOS, Unit, Vocabulary
from dualcert.offers import Offer
from dualcert.policy.states import meets
from dualcert.probe.observation import Observation, ProbeKey
from dualcert.rules.presented import RSA_WORDS, PathOf, ecdsa_words, reading
from dualcert.rules.remedies import accept_self_signed_step, state_steps, unreachable_node_step

MIXED, UNKNOWN = "mixed", "unknown"
# (what the RSA-only offer got, what the ECDSA-only offer got) -> the digest's state.
STATE_OF = {
    ("self", "self"): "S1",
    ("ca", "rsa-ca"): "S2",
    ("ca", "ec-ca"): "S3",
    ("ca", "self"): "S4",
    ("ca", "refused"): "rsa-only",
    ("self", "refused"): "rsa-only",   # the COP on a self-signed deployment (the FAQ allows it)
}
# The digest's "agent experience" column, and its FAQ for the COP: UCCX and SocialMiner (vocabulary `digest`).
AGENT_EXPERIENCE = {
    "S1": "agents are asked to accept certificates in the Live Data and chat/email gadgets (tomcat and "
          "tomcat-ECDSA are self-signed), unless the self-signed certificates are installed on their PCs",
    "S2": "Finesse and Live Data work, but the chat/email gadget and the SocialMiner page do not load: "
          "tomcat-ECDSA is signed by an RSA CA (CSCvb58580); the COP is required",
    "S3": "Finesse with Live Data and chat/email all work (best practice: tomcat-ECDSA signed by an EC CA)",
    "S4": "agents are asked to accept the extra (self-signed tomcat-ECDSA) certificate; it cannot be accepted in "
          "the Live Data gadget (browser enforcement); it can in chat/email",
    "rsa-only": "the ECDSA certificate stays in the keystore, unpresented (COP installed): clients get RSA "
                "certificates only, so no extra certificate prompt",
}
# What the same states mean for any other server: what its clients see, by TLS rules alone.
CLIENT_EXPERIENCE = {
    "S1": "{users} are asked to accept both self-signed certificates, unless those are installed in their trust "
          "stores",
    "S2": "{users} that offer ECDSA get an ECDSA certificate signed by an RSA CA: TLS allows it, but clients that "
          "require ECDSA signatures throughout reject it",
    "S3": "{users} get a CA-signed certificate of the family they offer (best practice)",
    "S4": "{users} that offer ECDSA (browsers do) get the self-signed ECDSA certificate and are asked to accept it; "
          "RSA-only clients get the CA-signed RSA one",
    "rsa-only": "{users} get RSA certificates only, so there is no certificate prompt",
}


def experience_of(state: str, words: Vocabulary) -> str | None:
    """What the users of a node in `state` see, in its role's words (the digest's for UCCX and SocialMiner)."""
    if words.digest:
        return AGENT_EXPERIENCE.get(state)
    text = CLIENT_EXPERIENCE.get(state)
    return text.format(users=words.users) if text else None


@dataclass(frozen=True)
class ServiceReading:
    """What one service's ECDSA-only and RSA-only offers saw, and the state that pair means."""

    node: str
    service: str
    port: int
    rsa_unit: Unit
    ecdsa_unit: Unit
    rsa: str | None      # self | ca | refused | wrong-family | unknown | None (unreachable / not probed)
    ecdsa: str | None    # self | ec-ca | rsa-ca | refused | wrong-family | unknown | None
    state: str | None    # None when the service could not be read

    def describe(self) -> str:
        rsa = RSA_WORDS.get(self.rsa or "", "not measured")
        ecdsa = ecdsa_words(self.ecdsa or "", self.ecdsa_unit.words.vos)
        return f"{self.rsa_unit} {rsa}, {self.ecdsa_unit} {ecdsa}"


@dataclass(frozen=True)
class NodeDiagnosis:
    """One node's state: the state its services agree on, mixed, or unknown (with why)."""

    node: str
    role: str
    state: str
    why: str   # one line: what the node presents (or why it cannot be classified)
    readings: tuple[ServiceReading, ...]
    vocabulary: Vocabulary = VOS   # the role's words (catalog), for the fix
    intended: str | None = None    # the node's own intended state (its release's, with release: auto)
    design: str | None = None      # the release's behaviour in words, when the node was read by it


@dataclass(frozen=True)
class ClusterDiagnosis:
    """A cluster's measured state against the intended one, what agents will see, and the steps to fix it."""

    cluster: str
    state: str
    intended: str
    nodes: tuple[NodeDiagnosis, ...]
    differs: tuple[str, ...]
    agent_experience: str
    remediation: tuple[str, ...] = field(default=())
    design: str | None = None   # the release behaviour every node shares, e.g. "RSA only by design (11.6+)"

    @property
    def as_intended(self) -> bool:
        """Every node is in its intended state (nodes of different releases may intend different ones)."""
        if all(n.intended is None for n in self.nodes):
            return meets(self.state, self.intended)
        return all(meets(n.state, n.intended or self.intended) for n in self.nodes)

    @property
    def node_states(self) -> dict[str, str]:
        return {n.node: n.state for n in self.nodes}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cluster": self.cluster, "state": self.state, "intended": self.intended, "nodes": self.node_states,
            "differs": list(self.differs), "agent_experience": self.agent_experience,
            "remediation": list(self.remediation)}
        if self.design:
            data["design"] = self.design
        if any(n.intended is not None for n in self.nodes):  # nodes with a release may intend different states
            data["as_intended"] = self.as_intended
        return data

    def message(self) -> str:
        """The test's failure text: measured state, what agents see, what differs (the fix is apart)."""
        lines = [f"cluster {self.cluster}: measured state {self.state}, the policy intends {self.intended}"
                 + (f" ({self.design})" if self.design else ""),
                 f"  agent experience: {self.agent_experience}"]
        lines += [f"  differs: {d}" for d in self.differs]
        return "\n".join(lines)

    def fix(self) -> str:
        """The remediation steps, one per line under the test's `fix:`."""
        return "\n       ".join(self.remediation)


def _offer_kind(observations: Iterable[Observation], family: str, path_of: PathOf | None) -> str | None:
    """Over every TLS version probed: a presented certificate wins over a refusal; the first
    version's certificate wins over the next (versions normally agree; the pair rules flag it if not)."""
    kinds = [k for k in (reading(o, family, path_of) for o in observations) if k is not None]
    presented = [k for k in kinds if k != "refused"]
    if presented:
        return presented[0]
    return kinds[0] if kinds else None


Observed = Mapping[tuple[str, str], list[Observation]]  # (node, service) -> its observations


def by_endpoint(observations: Mapping[ProbeKey, Observation]) -> dict[tuple[str, str], list[Observation]]:
    """Index once, so a diagnosis costs one pass over the observations, not one per service."""
    index: dict[tuple[str, str], list[Observation]] = {}
    for key, observation in observations.items():
        index.setdefault((key.node, key.service), []).append(observation)
    for group in index.values():
        group.sort(key=lambda o: (o.key.offer.value, o.key.version.value))
    return index


# The design of a node none of whose services has an ECDSA certificate, without a release to say why.
DECLARED_RSA_ONLY = "RSA only by design (no service has an ECDSA certificate: ecdsa_unit: null)"


def by_design(node: Node, service: str) -> bool:
    """The service presents RSA only by design: its node's release says so (estate/releases.py), or the
    inventory or catalog gives it no ECDSA certificate (`ecdsa_unit: null`)."""
    release = node.release.services.get(service) if node.release else None
    spec = next(s for s in node.services if s.name == service)
    return spec.ecdsa_unit is None or (release is not None and release.rsa_only_by_design)


def read_service(node: Node, service: str, observed: Observed, path_of: PathOf | None = None, *,
                 design: bool = False) -> ServiceReading | None:
    """One service's readings; `design` reads the services the release makes RSA-only (None otherwise)."""
    spec = next(s for s in node.services if s.name == service)
    if by_design(node, service) != design:
        return None

    def seen(offer: Offer) -> list[Observation]:
        return [o for o in observed.get((node.name, service), []) if o.key.offer is offer]

    rsa, ecdsa = _offer_kind(seen(Offer.RSA), "RSA", path_of), _offer_kind(seen(Offer.ECDSA), "ECDSA", path_of)
    if design and ecdsa == "wrong-family":
        ecdsa = "refused"  # answered with the RSA certificate: no ECDSA certificate, as the release has it
    state = STATE_OF.get((rsa, ecdsa)) if rsa and ecdsa else None
    if state is None and rsa and ecdsa:
        state = UNKNOWN
    words = node.vocabulary
    return ServiceReading(node.name, service, spec.port, words.unit(spec.rsa_unit or "RSA certificate"),
                          words.unit(spec.ecdsa_unit or "ECDSA certificate"), rsa, ecdsa, state)


def diagnose_node(node: Node, observed: Observed, intended: str | None = None,
                  path_of: PathOf | None = None) -> NodeDiagnosis:
    readings = tuple(r for r in (read_service(node, s.name, observed, path_of) for s in node.services)
                     if r is not None)
    design = None
    if not readings:  # RSA only by design: read what the release (or the declaration) has
        readings = tuple(r for r in (read_service(node, s.name, observed, path_of, design=True)
                                     for s in node.services) if r is not None)
        if readings:
            design = node.release.design if node.release is not None and node.release.design else DECLARED_RSA_ONLY
            intended = intended or "rsa-only"   # what was declared is what is intended
    read = [r for r in readings if r.state is not None]

    def made(state: str, why: str) -> NodeDiagnosis:
        if design and state == "rsa-only":
            why = why.replace(f"{node.name}: ", f"{node.name}: {design}: ", 1)
        return NodeDiagnosis(node.name, node.role, state, why, readings, node.vocabulary, intended, design)

    if not readings:
        return made(UNKNOWN, f"{node.name} has no service with an ECDSA certificate in the catalog")
    if not read:
        return made(UNKNOWN, f"{node.name}: no service answered both the ECDSA-only and the RSA-only offer "
                             "(unreachable, or those offers were not probed)")
    states = Counter(r.state for r in read)
    if len(states) == 1:
        state = read[0].state or UNKNOWN
        # One line per distinct unit pair: on CUCM, tomcat and CallManager are separate certificates.
        units = dict.fromkeys(r.describe() for r in read)
        why = f"{node.name}: " + "; ".join(units)
        if state == UNKNOWN:
            why += " (not a state of the digest)"
        return made(state, why)
    parts = [f"{r.service} ({r.port}) is {r.state}: {r.describe()}" for r in read]
    return made(MIXED, f"{node.name}: its services differ: " + "; ".join(parts))


def diagnose(inventory: Inventory, observations: Mapping[ProbeKey, Observation], intended: str,
             by_node: Mapping[str, str] | None = None, path_of: PathOf | None = None) -> list[ClusterDiagnosis]:
    """One diagnosis per cluster, in inventory order; `by_node` gives nodes an intended state of their
    own (their release's), the others intend `intended`; `path_of` validates a probe's chain, so that an
    intermediate the server omits but the bundle holds is read (facts.trust.chain_above)."""
    clusters: dict[str, list[Node]] = {}
    for node in inventory.nodes:
        clusters.setdefault(node.cluster, []).append(node)
    observed = by_endpoint(observations)
    return [diagnose_cluster(name, nodes, observed, intended, by_node or {}, path_of)
            for name, nodes in clusters.items()]


def diagnose_cluster(name: str, nodes: list[Node], observed: Observed, intended: str,
                     by_node: Mapping[str, str] | None = None, path_of: PathOf | None = None) -> ClusterDiagnosis:
    own = {n.name: by_node[n.name] for n in nodes if by_node and n.name in by_node}
    intents = {own.get(n.name, intended) for n in nodes}
    if own and len(intents) == 1:
        intended = intents.pop()  # the cluster's release says what it intends
    diagnosed = tuple(diagnose_node(n, observed, own.get(n.name), path_of) for n in nodes)
    states = [d.state for d in diagnosed]
    known = Counter(s for s in states if s not in (UNKNOWN, MIXED))
    differs: list[str] = []
    if len(set(states)) == 1 and states[0] != MIXED:
        state = states[0]
        if state == UNKNOWN:
            differs = [d.why for d in diagnosed]
    elif MIXED not in states and len(known) <= 1:
        # Every node that could be read agrees, but some could not be read.
        state = UNKNOWN
        agreed = next(iter(known), None)
        differs = [f"{d.why} (the other nodes are {agreed})" for d in diagnosed if d.state == UNKNOWN]
    else:
        state = MIXED
        majority = _majority(known, intended) if known else None
        peers = [d.node for d in diagnosed if d.state == majority]
        for d in diagnosed:
            if majority is None:
                differs.append(d.why)
            elif d.state != majority:
                differs.append(f"{d.node} is {d.state} ({d.why.split(': ', 1)[-1]}) while "
                               f"{', '.join(peers)} {'is' if len(peers) == 1 else 'are'} {majority}")
    designs = {d.design for d in diagnosed}
    # The release's words describe the cluster only when it presents what the release has (RSA only).
    design = designs.pop() if len(designs) == 1 and state == "rsa-only" else None
    experience = agent_experience(state, diagnosed)
    if design:  # the release's words, not the COP's (products of one release may word it apart)
        agents = {n.release.agent for n in nodes if n.release is not None and n.release.agent}
        experience = f"{design}: " + (agents.pop() if len(agents) == 1 else
                                      "clients get RSA certificates only, so there is no extra certificate prompt")
    return ClusterDiagnosis(name, state, intended, diagnosed, tuple(differs), experience,
                            tuple(remediation(diagnosed, intended, state)), design)


def _majority(known: Counter[str], intended: str) -> str:
    top = max(known.values())
    leaders = [s for s, count in known.items() if count == top]
    return intended if intended in leaders else leaders[0]


def agent_experience(state: str, nodes: tuple[NodeDiagnosis, ...]) -> str:
    words = nodes[0].vocabulary if nodes else VOS
    known = experience_of(state, words)
    if known:
        return known
    if state == MIXED:
        by_state = {d.state: [x.node for x in nodes if x.state == d.state] for d in nodes}
        parts = [f"on {', '.join(names)} ({s}): {experience_of(s, words) or 'not known'}"
                 for s, names in by_state.items()]
        return f"different behaviour depending on the node {words.users} reach: " + "; ".join(parts)
    return "not known: the cluster's state could not be measured (see differs)"


def remediation(nodes: tuple[NodeDiagnosis, ...], intended: str, state: str) -> list[str]:
    steps: list[str] = []
    for node in nodes:
        if node.state == UNKNOWN and node.readings and not any(r.state for r in node.readings):
            steps.append(unreachable_node_step(node.node))
        target = node.intended or intended
        for service in node.readings:
            if service.state is None or service.state == target:
                continue
            steps += state_steps(node.node, service.rsa_unit, service.ecdsa_unit, service.rsa, service.ecdsa,
                                 target, node.design)
    steps = list(dict.fromkeys(steps))  # services sharing a unit need the step once
    if state == "S1" and intended == "S1" and nodes:
        steps.append(accept_self_signed_step(nodes[0].vocabulary))
    return steps

