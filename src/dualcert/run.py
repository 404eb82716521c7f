"""One compliance run: inventory + policy + the probes' observations, turned into Cases and estate views.

The pytest plugin owns one DualcertRun per session; suites see it only through their handles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from dualcert.estate.inventory import load_inventory
from dualcert.estate.model import MOZILLA, Endpoint, Inventory
from dualcert.estate.selection import Selection, Split
from dualcert.facts.prevalidation import Ahead
from dualcert.facts.trust import TrustStore
from dualcert.offers import ALL_OFFERS, ALL_VERSIONS, ClientOffer, ClientRange, Offer, TLSVersion
from dualcert.policy.clients import ClientProfile, builtin_clients, load_client_file, select
from dualcert.policy.load import load_policy
from dualcert.policy.model import Policy
from dualcert.probe.clients import client_spec
from dualcert.probe.connection import Timeouts, plaintext_listening
from dualcert.probe.engine import DEFAULT_THREADS, ProbeRunner, ProbeTask
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.rules.client_rules import ClientCase
from dualcert.rules.diagnosis import ClusterDiagnosis
from dualcert.rules.estate_rules import EstateView, PlainCheck
from dualcert.rules.probe_rules import Case


@dataclass
class RunOptions:
    offers: tuple[Offer, ...] = ALL_OFFERS
    versions: tuple[TLSVersion, ...] = ALL_VERSIONS
    workers: int = 256          # probes in flight (connections open) at once
    per_node: int = 4
    threads: int = DEFAULT_THREADS  # threads doing handshake steps
    shard: tuple[int, int] | None = None  # (i, n): only the i-th of n node shards, 1-based
    timeouts: Timeouts = field(default_factory=Timeouts)
    inventory_format: str = "auto"   # dualcert | ansible-ini | ansible-yaml | auto
    clients: str = ""                # --clients chrome,java8|all: simulated clients, one probe per endpoint each
    client_profiles: Path | None = None  # --client-profiles FILE: more profiles, or overrides of built-in ones
    select: Selection | None = None  # --select KEY=VALUE: only the nodes with these labels (estate/selection.py)


class DualcertRun:
    def __init__(self, inventory: Inventory, policy: Policy, options: RunOptions | None = None) -> None:
        self.options = options or RunOptions()
        # `estate` is the whole inventory, `inventory` the part this run checks (--select): everything
        # downstream sees the part alone, its split clusters (--split-clusters) as clusters of their own.
        self.estate, self.policy = inventory, policy
        select = self.options.select
        self.splits: tuple[Split, ...] = ()
        self.inventory = inventory
        if select is not None:
            self.inventory, self.splits = select.apply(inventory)
        self.started = dt.datetime.now(dt.UTC)
        self.now = self.started  # one clock for every expiry decision of the run
        self.endpoints = {(e.node, e.service.name): e for e in self.inventory.endpoints()}
        # --shard deals whole clusters (of the selection): cluster tests (diagnosis, pair rules) need all their nodes.
        nodes = self.inventory.nodes
        clusters = {cluster: index for index, cluster in enumerate(dict.fromkeys(n.cluster for n in nodes))}
        self._shard_of = {n.name: clusters[n.cluster] for n in nodes}
        self.observations: dict[ProbeKey, Observation] = {}
        self.measured = False  # the probe phase ran: the diagnosis is worth reporting
        self._trust: TrustStore | bool | None = False  # False: not loaded yet
        # Plain-text twin ports measured for the plaintext_listener rule: (node, service) -> check.
        self.plaintext: dict[tuple[str, str], PlainCheck] = {}
        self._view: tuple[int, EstateView] | None = None  # (measurements it was built from, view)
        # One Case per probe, shared by its rules' tests: chain facts and path validation
        # (cached on the Case) are then computed once per probe, not once per rule.
        self._cases: dict[ProbeKey, Case] = {}
        self.clients = self._select_clients()
        self._client_trust: dict[tuple[str, ...], TrustStore | None] = {}
        # One copy of each distinct presented chain: an endpoint's six probes mostly see two chains, and
        # at 10,000 endpoints the copies were ~60 MB.
        self._chains: dict[tuple[bytes, ...], tuple[bytes, ...]] = {}
        self._ders: dict[bytes, bytes] = {}
        self._keys: tuple[ProbeKey, ...] | None = None

    @classmethod
    def from_files(cls, inventory: Path, policy: str | Path | None, options: RunOptions | None = None,
                   read: Inventory | None = None) -> DualcertRun:
        """The run of an inventory file (`read`: that file already read) and a policy file or profile."""
        inv = read or load_inventory(inventory, (options or RunOptions()).inventory_format)
        pol = load_policy(policy)
        pol.check_against(inv)
        return cls(inv, pol, options)

    def keys(self) -> tuple[ProbeKey, ...]:
        """Every (node, service, offer, version) of the run (of its shard), in inventory order. Built
        once: collection asks several times, and at 10,000 endpoints each time made 60,000 keys."""
        if self._keys is None:
            self._keys = tuple(ProbeKey(node, service, offer, version)
                               for (node, service) in self.endpoints if self.in_shard(node)
                               for offer in self.options.offers for version in self.options.versions)
        return self._keys

    def _select_clients(self) -> dict[str, ClientProfile]:
        if not self.options.clients:
            return {}
        profiles = self.policy.clients or builtin_clients()
        if self.options.client_profiles is not None:
            profiles = load_client_file(self.options.client_profiles, profiles)
        return {p.name: p for p in select(self.options.clients, profiles)}

    def client_keys(self) -> list[ProbeKey]:
        """One probe per (endpoint, simulated client): offer `client-<profile>`, version `auto`."""
        return [ProbeKey(node, service, ClientOffer(name), ClientRange.AUTO)
                for (node, service) in self.endpoints if self.in_shard(node) for name in self.clients]

    def in_shard(self, node: str) -> bool:
        """--shard i/n deals clusters round-robin in inventory order: a cluster, its nodes and
        all their services land in one shard (so cluster rules see every node and the per-node
        limit holds), and the n shards partition the estate."""
        if self.options.shard is None:
            return True
        index, count = self.options.shard
        return self._shard_of[node] % count == index - 1

    def covered(self) -> list[str]:
        """The nodes this run checks: selected (--select) and in its shard, in inventory order."""
        return [n.name for n in self.inventory.nodes if self.in_shard(n.name)]

    def elsewhere(self, node: str) -> bool:
        """A node of the inventory that another part of a split run checks (--select, --shard), not this one."""
        return self.estate.has(node) and not (self.inventory.has(node) and self.in_shard(node))

    def coverage(self) -> dict[str, object]:
        """The results JSON's `run.coverage`: what `dualcert merge` checks selected runs and shards against
        (compare/coverage.py). `estate` is every node of the inventory, so that the merge can name those no
        run covered without the inventory file."""
        select = self.options.select
        return {"selection": select.to_json() if select is not None else None,
                "split": [s.to_json() for s in self.splits], "nodes": self.covered(),
                "estate": {n.name: {"cluster": n.cluster, "labels": n.labels} for n in self.estate.nodes}}

    def endpoint(self, key: ProbeKey) -> Endpoint:
        return self.endpoints[(key.node, key.service)]

    @property
    def trust(self) -> TrustStore | None:
        if self._trust is False:
            source = self.inventory.trust
            if source is None:
                self._trust = None
            elif source == MOZILLA:
                self._trust = TrustStore.mozilla()
            else:
                self._trust = TrustStore.from_pem_file(Path(source))
        return self._trust  # type: ignore[return-value]

    def probe(self, keys: Sequence[ProbeKey], on_result: object = None) -> None:
        """Probe what is not probed yet; observations land in `self.observations` as they finish."""
        todo = [ProbeTask(self.endpoint(k), k.offer, k.version,
                          spec=client_spec(self.clients[k.offer.profile]) if isinstance(k.offer, ClientOffer) else None)
                for k in dict.fromkeys(keys) if k not in self.observations]

        def land(observation: Observation) -> None:
            chain = self._chains.get(observation.chain_der)
            if chain is None:   # each certificate's bytes once: an estate's intermediates are in every chain
                chain = tuple(self._ders.setdefault(der, der) for der in observation.chain_der)
                self._chains[chain] = chain
            if chain is not observation.chain_der:
                observation = replace(observation, chain_der=chain)
            self.observations[observation.key] = observation
            if callable(on_result):
                on_result(observation)

        runner = ProbeRunner(workers=self.options.workers, per_node=self.options.per_node,
                             timeouts=self.options.timeouts, threads=self.options.threads)
        runner.run(todo, on_result=land)

    def validate_ahead(self, keys: Sequence[ProbeKey]) -> Ahead | None:
        """Start validating the chains `keys` saw (in their order: the tests' order) in a second process,
        when there are enough of them (facts/prevalidation.py); None when not started."""
        if self.trust is None:
            return None
        seen = (self.observations.get(k) for k in keys)
        chains = dict.fromkeys(o.chain_der for o in seen if o is not None and o.outcome is Outcome.OK and o.chain_der)
        return self.trust.validate_ahead(list(chains), self.now)

    def case(self, key: ProbeKey, *, keep: bool = True) -> Case:
        """The probe's Case. Kept for the next caller (a test per rule: the probe's rules share its chain
        facts and validation) unless `keep` is False (a test judging every rule at once: nobody asks
        again, and at 10,000 endpoints the 60,000 kept Cases were ~50 MB)."""
        cached = self._cases.get(key)
        if cached is not None and cached.observation is self.observations.get(key):
            return cached
        endpoint = self.endpoint(key)
        if key not in self.observations:
            self.probe([key])
        assert isinstance(key.offer, Offer) and isinstance(key.version, TLSVersion), "client probes: client_case()"

        def sibling(offer: Offer) -> Observation | None:
            return self.observations.get(ProbeKey(key.node, key.service, offer, key.version))

        case = Case(endpoint, key.offer, key.version, self.policy.expectation(endpoint, key.offer, key.version),
                    self.observations[key], self.trust, self.now, sibling)
        if keep:
            self._cases[key] = case
        return case

    def client_case(self, key: ProbeKey) -> ClientCase:
        """A simulated client's probe, judged against the trust stores that client uses."""
        if key not in self.observations:
            self.probe([key])
        assert isinstance(key.offer, ClientOffer)
        profile = self.clients[key.offer.profile]
        slot = next((o for v in (TLSVersion.TLS1_3, TLSVersion.TLS1_2) if (o := self.observations.get(
            ProbeKey(key.node, key.service, Offer.ECDSA, v))) is not None and o.outcome is Outcome.OK), None)
        return ClientCase(self.endpoint(key), profile, self.observations[key], self.client_trust(profile), self.now,
                          slot)

    def client_trust(self, profile: ClientProfile) -> TrustStore | None:
        """The union of a profile's stores: `site` is the inventory's bundle, the others sslyze's."""
        if profile.trust not in self._client_trust:
            stores: list[TrustStore] = []
            for name in profile.trust:
                if name == "site":
                    stores += [self.trust] if self.trust is not None else []
                elif name.endswith(".pem"):
                    stores.append(TrustStore.from_pem_file(Path(name)))
                else:
                    stores.append(TrustStore.bundled(name))
            combined = stores[0] if stores else None
            for store in stores[1:]:
                combined = combined + store if combined else store
            self._client_trust[profile.trust] = combined
        return self._client_trust[profile.trust]

    # --- the estate: diagnosis per cluster and the node/cluster rules (rules/diagnosis.py, rules/estate_rules.py) ---

    def node_keys(self, nodes: set[str]) -> list[ProbeKey]:
        """Every probe of these nodes: what a node or cluster test needs measured."""
        return [k for k in self.keys() if k.node in nodes]

    def diagnosis(self) -> list[ClusterDiagnosis]:
        """Every cluster's deployment state, in inventory order; under --shard, only the shard's clusters
        (the others were not probed here: their "unknown" would contradict the shard that probed them)."""
        shard_nodes = {n.cluster: n.name for n in self.inventory.nodes}
        return [d for d in self.estate_view().diagnoses.values() if self.in_shard(shard_nodes[d.cluster])]

    def estate_view(self) -> EstateView:
        """One indexed view for every node and cluster rule, rebuilt only when measurements change."""
        stamp = len(self.observations) + len(self.plaintext)
        if self._view is None or self._view[0] != stamp:
            by_node = {n.name: self.policy.intended_for(n) for n in self.inventory.nodes if n.release is not None}
            # The estate rules and the diagnosis read the three offers; client probes are judged on their own.
            offered = {k: o for k, o in self.observations.items() if isinstance(k.offer, Offer)}
            self._view = (stamp, EstateView(self.inventory, offered, self.plaintext, self.options.offers,
                                            self.policy.intended_state, by_node, self.trust, self.now))
        return self._view[1]

    def probe_plaintext(self, nodes: set[str]) -> None:
        """TCP-connect to each service's plain-text twin port (report-only rule), a few at a time."""
        twins = {(n.name, service) for n in self.inventory.nodes if n.name in nodes for service in n.plaintext_twins()}
        todo = [e for key, e in self.endpoints.items() if key in twins and key not in self.plaintext]
        timeout = self.options.timeouts.connect

        def check(endpoint: Endpoint) -> None:
            port = endpoint.service.plaintext_port or 0
            listening, detail = plaintext_listening(endpoint, port, timeout)
            self.plaintext[(endpoint.node, endpoint.service.name)] = PlainCheck(port, listening, detail)

        with ThreadPoolExecutor(max_workers=min(self.options.workers, 8)) as pool:
            list(pool.map(check, todo))
