"""One compliance run: inventory + policy + the probes' observations, turned into Cases.

The pytest plugin owns one DualcertRun per session; suites only see Cases through it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chain import TrustStore
from .checks import Case
from .inventory import MOZILLA, Endpoint, Inventory, load_inventory
from .observation import Observation, ProbeKey
from .offers import ALL_OFFERS, ALL_VERSIONS, Offer, TLSVersion
from .policy import Policy, load_policy
from .probe import DEFAULT_THREADS, ProbeRunner, ProbeTask, Timeouts


@dataclass
class RunOptions:
    offers: tuple[Offer, ...] = ALL_OFFERS
    versions: tuple[TLSVersion, ...] = ALL_VERSIONS
    workers: int = 256          # probes in flight (connections open) at once
    per_node: int = 4
    threads: int = DEFAULT_THREADS  # threads doing handshake steps
    shard: tuple[int, int] | None = None  # (i, n): only the i-th of n node shards, 1-based
    timeouts: Timeouts = field(default_factory=Timeouts)


class DualcertRun:
    def __init__(self, inventory: Inventory, policy: Policy, options: RunOptions | None = None) -> None:
        self.inventory, self.policy = inventory, policy
        self.options = options or RunOptions()
        self.started = dt.datetime.now(dt.UTC)
        self.now = self.started  # one clock for every expiry decision of the run
        self.endpoints = {(e.node, e.service.name): e for e in inventory.endpoints()}
        self._node_index = {node: i for i, node in enumerate(dict.fromkeys(n for n, _ in self.endpoints))}
        self.observations: dict[ProbeKey, Observation] = {}
        # Extra top-level sections of the results JSON (e.g. "diagnosis", "changes"), JSON-ready;
        # the HTML report reads them from here too.
        self.sections: dict[str, Any] = {}
        self._trust: TrustStore | bool | None = False  # False: not loaded yet
        # One Case per probe, shared by its rules' tests: chain facts and path validation
        # (cached on the Case) are then computed once per probe, not once per rule.
        self._cases: dict[ProbeKey, Case] = {}

    @classmethod
    def from_files(cls, inventory: Path, policy: str | Path | None, options: RunOptions | None = None) -> DualcertRun:
        inv = load_inventory(inventory)
        pol = load_policy(policy)
        pol.check_against(inv)
        return cls(inv, pol, options)

    def keys(self) -> list[ProbeKey]:
        """Every (node, service, offer, version) of the run (of its shard), in inventory order."""
        return [ProbeKey(node, service, offer, version)
                for (node, service) in self.endpoints if self.in_shard(node)
                for offer in self.options.offers for version in self.options.versions]

    def in_shard(self, node: str) -> bool:
        """--shard i/n deals nodes round-robin in inventory order: a node and all its services
        land in one shard (so the per-node limit holds), and the n shards partition the estate."""
        if self.options.shard is None:
            return True
        index, count = self.options.shard
        return self._node_index[node] % count == index - 1


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

    def probe(self, keys: list[ProbeKey], on_result: object = None) -> None:
        """Probe what is not probed yet; observations land in `self.observations` as they finish."""
        todo = [ProbeTask(self.endpoint(k), k.offer, k.version) for k in dict.fromkeys(keys)
                if k not in self.observations]

        def land(observation: Observation) -> None:
            self.observations[observation.key] = observation
            if callable(on_result):
                on_result(observation)

        runner = ProbeRunner(workers=self.options.workers, per_node=self.options.per_node,
                             timeouts=self.options.timeouts, threads=self.options.threads)
        runner.run(todo, on_result=land)

    def case(self, key: ProbeKey) -> Case:
        cached = self._cases.get(key)
        if cached is not None and cached.observation is self.observations.get(key):
            return cached
        endpoint = self.endpoint(key)
        if key not in self.observations:
            self.probe([key])

        def sibling(offer: Offer) -> Observation | None:
            return self.observations.get(ProbeKey(key.node, key.service, offer, key.version))

        case = Case(endpoint, key.offer, key.version, self.policy.expectation(endpoint, key.offer, key.version),
                    self.observations[key], self.trust, self.now, sibling)
        self._cases[key] = case
        return case
