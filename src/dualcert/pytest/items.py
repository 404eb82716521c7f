"""Collection: which tests exist for a run, one per rule or one per probe or endpoint (--dualcert-items).

The suites' fixtures say what a test judges: `dualcert_case` (one rule, one probe), `dualcert_probe`
(every rule, one probe), `dualcert_endpoint` (every rule, every probe of node:service), and
`dualcert_cluster` / `dualcert_node` / `dualcert_node_rules` for the estate rules. Tests of the other
modes get one placeholder each, dropped as it is made (collectable).
"""

from __future__ import annotations

import pytest

from dualcert.probe.observation import ProbeKey
from dualcert.pytest.state import BASELINE_KEY, run_of
from dualcert.run import DualcertRun

# pytest and pytest-html cost ~0.6 ms CPU per test item: above this many probes, one test per
# rule (7 items a probe) would dominate the run (docs/scale.md).
AUTO_PROBE_ITEMS_ABOVE = 1000
# Which fixture carries the probes in each mode, and which the node rules.
ITEM_FIXTURES = {"rule": "dualcert_case", "probe": "dualcert_probe", "endpoint": "dualcert_endpoint"}
NODE_FIXTURES = {"rule": "dualcert_node", "probe": "dualcert_node_rules", "endpoint": "dualcert_node_rules"}
ESTATE_FIXTURES = ("dualcert_cluster", "dualcert_node", "dualcert_node_rules")
CHANGE_FIXTURE = "dualcert_change"
# A simulated client's probe (--clients): one test per client rule, or one judging all of them.
CLIENT_FIXTURES = {"rule": "dualcert_client", "probe": "dualcert_client_rules", "endpoint": "dualcert_client_rules"}
# A test using one of these is dualcert's: an exception in their setup is a dualcert bug (exit code 3).
DUALCERT_FIXTURES = frozenset({*ITEM_FIXTURES.values(), *ESTATE_FIXTURES, CHANGE_FIXTURE, *CLIENT_FIXTURES.values()})
INACTIVE = pytest.mark.dualcert_other_mode
MODE_HELP = {"rule": "one test per rule and probe", "probe": "one test per probe, checking every rule",
             "endpoint": "one test per endpoint, checking every rule over its probes"}
NEEDS_INVENTORY = "the dualcert suites need an inventory: pass --inventory FILE (see `dualcert run --help`)"


def items_mode(config: pytest.Config, run: DualcertRun) -> str:
    """`rule`, `probe` or `endpoint`: what --dualcert-items means for this run."""
    mode = str(config.getoption("dualcert_items"))
    if mode == "auto":
        return "endpoint" if len(run.keys()) + len(run.client_keys()) > AUTO_PROBE_ITEMS_ABOVE else "rule"
    return mode


def parametrize(metafunc: pytest.Metafunc) -> None:
    """Give each suite test its parameters: probes, endpoints, nodes or clusters of the run."""
    if any(f in metafunc.fixturenames for f in ESTATE_FIXTURES):
        _parametrize_estate(metafunc)
    client_fixture = next((f for f in CLIENT_FIXTURES.values() if f in metafunc.fixturenames), None)
    if client_fixture is not None:
        run = _run(metafunc.config)
        if client_fixture != CLIENT_FIXTURES[items_mode(metafunc.config, run)]:
            _inactive(metafunc, client_fixture)
        else:  # without --clients: no parameters; collectable() drops the test
            keys = run.client_keys()
            metafunc.parametrize(client_fixture, keys, ids=[k.test_id for k in keys], indirect=True)
        return
    fixture = next((f for f in ITEM_FIXTURES.values() if f in metafunc.fixturenames), None)
    if fixture is None:
        return
    run = _run(metafunc.config)
    if fixture != ITEM_FIXTURES[items_mode(metafunc.config, run)]:
        _inactive(metafunc, fixture)
        return
    keys = list(run.keys())
    if fixture == ITEM_FIXTURES["endpoint"]:
        # One parameter per endpoint: the tuple of its probe keys, in run.keys() order.
        grouped: dict[tuple[str, str], list[ProbeKey]] = {}
        for key in keys:
            grouped.setdefault((key.node, key.service), []).append(key)
        metafunc.parametrize(fixture, [tuple(g) for g in grouped.values()],
                             ids=[f"{node}:{service}" for node, service in grouped], indirect=True)
        return
    metafunc.parametrize(fixture, keys, ids=[k.test_id for k in keys], indirect=True)


def _run(config: pytest.Config) -> DualcertRun:
    run = run_of(config)
    if run is None:
        raise pytest.UsageError(NEEDS_INVENTORY)
    return run


def _inactive(metafunc: pytest.Metafunc, fixture: str) -> None:
    """The other mode's test: one placeholder, dropped in collectable()."""
    metafunc.parametrize(fixture, [pytest.param(None, marks=INACTIVE)], ids=["other-mode"], indirect=True)


def _parametrize_estate(metafunc: pytest.Metafunc) -> None:
    """Cluster tests get one parameter per cluster, node tests one per node (ids are the names)."""
    run = _run(metafunc.config)
    in_shard = [n for n in run.inventory.nodes if run.in_shard(n.name)]
    if "dualcert_cluster" in metafunc.fixturenames:
        clusters = list(dict.fromkeys(n.cluster for n in in_shard))
        metafunc.parametrize("dualcert_cluster", clusters, ids=clusters, indirect=True)
    node_fixture = next((f for f in ("dualcert_node", "dualcert_node_rules") if f in metafunc.fixturenames), None)
    # Node rules follow --dualcert-items like the probe rules: one test per rule, or one per node.
    if node_fixture is not None and node_fixture != NODE_FIXTURES[items_mode(metafunc.config, run)]:
        _inactive(metafunc, node_fixture)
    elif node_fixture == NODE_FIXTURES["endpoint"] and items_mode(metafunc.config, run) == "endpoint":
        # One test per cluster judging its nodes' rules: an estate of one service per node had as many node
        # tests as endpoint tests, each paying pytest's cost per test (~1 ms) for four quick rules.
        groups: dict[str, list[str]] = {}
        for node in in_shard:
            groups.setdefault(node.cluster, []).append(node.name)
        metafunc.parametrize(node_fixture, [tuple(g) for g in groups.values()], ids=list(groups), indirect=True)
    elif node_fixture is not None:
        nodes = [n.name for n in in_shard]
        metafunc.parametrize(node_fixture, nodes, ids=nodes, indirect=True)


def collectable(config: pytest.Config, made: object) -> object:
    """What pytest made of one test function, less the tests dualcert never runs: the other mode's
    placeholder, the client tests without --clients, the change tests without --baseline. Dropped
    as they are made, not deselected later, so pytest neither counts them as collected nor prints
    "N deselected": a user's -k, -m or --deselect is the only deselection reported (and exitcode's)."""
    run = run_of(config)
    if run is None or not isinstance(made, list):
        return made
    absent = set() if run.clients else set(CLIENT_FIXTURES.values())
    if config.stash.get(BASELINE_KEY, None) is None:
        absent.add(CHANGE_FIXTURE)

    def kept(item: object) -> bool:
        return not isinstance(item, pytest.Item) or (item.get_closest_marker(INACTIVE.name) is None
                                                     and not absent & set(getattr(item, "fixturenames", ())))

    return [item for item in made if kept(item)]


def case_keys(item: pytest.Item) -> tuple[ProbeKey, ...]:
    """The probes a test needs: one, or an endpoint's (--dualcert-items endpoint)."""
    params = getattr(item, "callspec", None)
    if params is None:
        return ()
    for fixture in (*ITEM_FIXTURES.values(), CHANGE_FIXTURE, *CLIENT_FIXTURES.values()):
        key = params.params.get(fixture)
        if isinstance(key, ProbeKey):
            return (key,)
        if isinstance(key, tuple) and key and all(isinstance(k, ProbeKey) for k in key):
            return key
    return ()


def estate_nodes(run: DualcertRun, items: list[pytest.Item]) -> tuple[set[str], set[str]]:
    """Nodes whose probes the selected cluster/node tests need, and those needing a plain-text check."""
    needed: set[str] = set()
    plaintext: set[str] = set()
    for item in items:
        params = item.callspec.params if hasattr(item, "callspec") else {}
        if "dualcert_cluster" in params:
            needed |= {n.name for n in run.inventory.cluster_nodes(params["dualcert_cluster"])}
        if params.get("dualcert_node"):
            needed.add(params["dualcert_node"])
            if item.name.startswith("test_plaintext_listener"):
                plaintext.add(params["dualcert_node"])
        grouped = params.get("dualcert_node_rules")
        if grouped:  # every node rule, the plain-text one included, of a node or a cluster's nodes
            names = set(grouped) if isinstance(grouped, tuple) else {grouped}
            needed |= names
            plaintext |= names
    return needed, plaintext


def subject_of(item: pytest.Item) -> str:
    """What a test judges, as its id names it: the parameter's id (`node:service:offer:tls1.2`, a
    node, a cluster), or the whole node id for a test without parameters."""
    callspec = getattr(item, "callspec", None)
    return str(callspec.id) if callspec is not None else item.nodeid
