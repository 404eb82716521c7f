"""`--select KEY=VALUE[,...]`: the part of an estate one runner can reach, chosen by the nodes' labels, whole
clusters kept together (docs/inventory.md, "Labels and --select"; docs/scale.md, "By count or by site").

Keys are ANDed, the values of a repeated key ORed: `site=dc1,site=dc2,zone=dmz` is the nodes in dc1 or dc2
and in the dmz zone. A cluster the selection takes only part of is a usage error: its cluster rules and its
deployment-state diagnosis compare all its nodes. `--split-clusters` accepts it; the part is then a cluster
of its own, named `<cluster>@<selection>`, so that its rules and diagnosis say they saw only those nodes and
the other part, selected by another runner, has other test ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from dualcert.errors import UsageError
from dualcert.estate.labels import named, pairs
from dualcert.estate.model import Inventory, Node

HOW = "docs/inventory.md, 'Labels and --select'"


@dataclass(frozen=True)
class Split:
    """A cluster the selection took part of (with --split-clusters)."""

    cluster: str
    part: str                       # the part's cluster name in this run: <cluster>@<selection>
    nodes: tuple[str, ...]          # its selected nodes
    elsewhere: tuple[str, ...]      # its other nodes, left to other runs

    def to_json(self) -> dict[str, object]:
        return {"cluster": self.cluster, "part": self.part, "nodes": list(self.nodes),
                "elsewhere": list(self.elsewhere)}


@dataclass(frozen=True)
class Selection:
    terms: tuple[tuple[str, tuple[str, ...]], ...]   # (key, its values), keys sorted
    split_clusters: bool = False

    @classmethod
    def parse(cls, texts: Sequence[str], split_clusters: bool = False) -> Selection:
        """One or more `--select` values; repeated options add up like their comma-separated terms."""
        chosen: dict[str, list[str]] = {}
        for text in texts:
            try:
                found = pairs(text)
            except ValueError as exc:
                raise UsageError(f"--select {text!r}: {exc}",
                                 fix="write --select KEY=VALUE[,KEY=VALUE...], e.g. --select site=dc1 "
                                     "(keys are ANDed; a key given twice, site=dc1,site=dc2, takes either)") from None
            for key, value in found:
                chosen.setdefault(key, [])
                if value not in chosen[key]:
                    chosen[key].append(value)
        return cls(tuple((k, tuple(sorted(chosen[k]))) for k in sorted(chosen)), split_clusters)

    def text(self) -> str:
        """As --select takes it, in a canonical order: `site=dc1,site=dc2,zone=dmz`."""
        return ",".join(f"{key}={value}" for key, values in self.terms for value in values)

    def stem(self) -> str:
        """For report file names: `site=dc1+dc2.zone=dmz` (no comma for the shell's sake)."""
        return ".".join(f"{key}={'+'.join(values)}" for key, values in self.terms)

    def to_json(self) -> dict[str, list[str]]:
        return {key: list(values) for key, values in self.terms}

    @classmethod
    def from_json(cls, recorded: dict[str, list[str]] | None) -> Selection:
        """A results JSON's `run.coverage.selection` (None: no selection, which every node matches)."""
        return cls(tuple((key, tuple(values)) for key, values in (recorded or {}).items()))

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(key) in values for key, values in self.terms)

    def apply(self, inventory: Inventory) -> tuple[Inventory, tuple[Split, ...]]:
        """The selected nodes as an inventory of their own, and the clusters split (--split-clusters)."""
        self._check_terms(inventory)
        chosen = {n.name for n in inventory.nodes if self.matches(n.labels)}
        if not chosen:
            together = " and ".join(f"{key}={'|'.join(values)}" for key, values in self.terms)
            raise UsageError(f"--select {self.text()} matches no node: none has {together}", file=inventory.path,
                             fix=f"select a combination the nodes have: {self._combinations(inventory)}")
        clusters = dict.fromkeys(n.cluster for n in inventory.nodes)
        splits = [self._split(c, inventory.cluster_nodes(c), chosen) for c in clusters]
        split = {s.cluster: s for s in splits if s is not None}
        if split and not self.split_clusters:
            raise self._split_error(inventory, list(split.values()))
        nodes = tuple(replace(n, cluster=split[n.cluster].part) if n.cluster in split else n
                      for n in inventory.nodes if n.name in chosen)
        return Inventory(inventory.site, inventory.path, inventory.trust, nodes), tuple(split.values())

    def _check_terms(self, inventory: Inventory) -> None:
        known: dict[str, Counter[str]] = {}
        for node in inventory.nodes:
            for key, value in node.labels.items():
                known.setdefault(key, Counter())[value] += 1
        for key, values in self.terms:
            if key not in known:
                raise UsageError(
                    f"--select {self.text()}: no node has a {key!r} label" if known else
                    f"--select {self.text()}: the inventory's nodes have no labels", file=inventory.path,
                    fix=(f"select by a label the nodes have: {_keys(known)}" if known else
                         "label the nodes or their clusters, e.g. 'clusters: {uccx: {labels: {site: dc1}}}' "
                         "(Ansible: dualcert_labels=site=dc1)") + f" ({HOW})")
            for value in values:
                if value not in known[key]:
                    raise UsageError(f"--select {self.text()}: no node has the label {key}={value}",
                                     file=inventory.path,
                                     fix=f"use a value the nodes have: {_counted(known[key], f'{key}=')}")

    def _combinations(self, inventory: Inventory) -> str:
        combos = Counter(",".join(f"{k}={n.labels.get(k, '(none)')}" for k, _ in self.terms) for n in inventory.nodes)
        return _counted(combos, "")

    def _split(self, cluster: str, members: list[Node], chosen: set[str]) -> Split | None:
        picked = tuple(n.name for n in members if n.name in chosen)
        if not picked or len(picked) == len(members):
            return None
        elsewhere = tuple(n.name for n in members if n.name not in chosen)
        return Split(cluster, f"{cluster}@{self.text()}", picked, elsewhere)

    def _split_error(self, inventory: Inventory, splits: list[Split]) -> UsageError:
        first = splits[0]

        def values(name: str) -> str:
            labels = inventory.node(name).labels
            return f"{name} (" + ", ".join(f"{k}={labels.get(k, '(none)')}" for k, _ in self.terms) + ")"

        others = f" (it takes part of cluster(s) {named([s.cluster for s in splits[1:]])} too)" if splits[1:] else ""
        return UsageError(
            f"--select {self.text()} takes part of cluster {first.cluster!r}: {named(list(map(values, first.nodes)))} "
            f"but not {named(list(map(values, first.elsewhere)))}; a cluster's rules and its deployment-state "
            f"diagnosis compare all its nodes{others}", file=inventory.path,
            line=inventory.cluster_nodes(first.cluster)[0].line,
            fix=f"give the cluster's nodes one value (labels under 'clusters: {first.cluster}:'), or select all of "
                f"them in one run; or add --split-clusters to judge each part on its own: its cluster rules and "
                f"diagnosis then see only the selected nodes (as cluster {first.part!r})")


def report_stem(site: str, shard: tuple[int, int] | None, selection: Selection | None) -> str:
    """The default report name of a run: `<site>`, `<site>.site=dc1`, `<site>.site=dc1.shard-1-of-2`. Runs of
    one estate on several runners, gathered for `dualcert merge`, keep their own files."""
    parts = [site, *([selection.stem()] if selection is not None else [])]
    parts += [f"shard-{shard[0]}-of-{shard[1]}"] if shard is not None else []
    return ".".join(parts)


def _keys(known: dict[str, Counter[str]]) -> str:
    return "; ".join(f"{key} ({named(sorted(values))})" for key, values in sorted(known.items()))


def _counted(counts: Counter[str], prefix: str) -> str:
    shown = [f"{prefix}{value} ({count} node{'s' * (count != 1)})" for value, count in sorted(counts.items())]
    return named(shown)
