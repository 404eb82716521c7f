"""Scale behaviour against real peers: each endpoint probed once (serial, pytest-xdist,
shards), tarpits cost one timeout, --dualcert-items probe and endpoint keep every rule's record, and
the progress line shows on a terminal (or when forced) and stays quiet otherwise."""

from __future__ import annotations

import collections
import contextlib
import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualcert.compare.results_file import load_document
from dualcert.estate.inventory import load_inventory
from dualcert.lab import Lab
from dualcert.lab.estate import default_nodes
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.connection import Timeouts
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Outcome
from dualcert.rules.registry import Scope, rules_of

from .conftest import REPO
from .peers import tcp_peer

PROBES_PER_ENDPOINT = len(Offer) * len(TLSVersion)

PROBE_RULES = {rule.name for rule in rules_of(Scope.PROBE)}


class CountingLab:
    """The lab, counting the connections each of its endpoints accepts (by port)."""

    def __init__(self, lab: Lab) -> None:
        self.lab, self.accepted = lab, collections.Counter[int]()
        assert lab.server is not None
        serve = lab.server._serve

        def counting(sock: object, endpoint: object) -> None:
            self.accepted[endpoint.port] += 1  # type: ignore[attr-defined]
            serve(sock, endpoint)  # type: ignore[arg-type]

        lab.server._serve = counting  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def counted() -> Iterator[CountingLab]:
    with Lab(default_nodes(("S3", "S4"), collab=False)) as lab:
        yield CountingLab(lab)


def run_suites(counted: CountingLab, cwd: Path, *args: str, name: str = "run") -> tuple[dict, collections.Counter]:
    """Run the suites against the lab in a subprocess; the results JSON and the connections it made
    (its terminal output is kept in NAME.out)."""
    counted.accepted.clear()
    results = cwd / f"{name}.json"
    command = [sys.executable, "-m", "pytest", str(REPO / "suites"), "--inventory", str(counted.lab.inventory_path),
               "--policy", str(counted.lab.policy_path), "--results-json", str(results), "-q",
               "-p", "no:cacheprovider", "--rootdir", str(cwd), *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    (cwd / f"{name}.out").write_text(done.stdout)
    time.sleep(0.2)  # the lab's accept loop counts asynchronously
    return load_document(results), collections.Counter(counted.accepted)


def clusters(data: dict) -> set[str]:
    return {t["id"] for t in data["tests"] if t["rule"] == "deployment_state"}


def records(data: dict) -> set[tuple[str, str, str, str, str]]:
    return {(t["id"], t["rule"], t["status"], t["outcome"], t["message"]) for t in data["tests"]}


@pytest.fixture(scope="module")
def serial(counted: CountingLab, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, collections.Counter]:
    return run_suites(counted, tmp_path_factory.mktemp("serial"))


def test_serial_run_probes_each_endpoint_once_per_offer_and_version(counted, serial) -> None:
    data, accepted = serial
    endpoints = len(counted.lab.endpoints)
    assert len(accepted) == endpoints
    assert set(accepted.values()) == {PROBES_PER_ENDPOINT}
    assert len(data["probes"]) == endpoints * PROBES_PER_ENDPOINT


@pytest.mark.parametrize("items", ["rule", "probe", "endpoint"])
def test_xdist_workers_share_one_probe_phase(counted, serial, tmp_path: Path, items: str) -> None:
    data, accepted = run_suites(counted, tmp_path, "-n", "2", "-p", "xdist", "--dualcert-items", items)
    # Without the hand-over every worker would probe what it runs: more than 6 per endpoint.
    assert len(accepted) == len(counted.lab.endpoints)
    assert set(accepted.values()) == {PROBES_PER_ENDPOINT}
    assert records(data) == records(serial[0])
    assert data["run"]["counts"] == serial[0]["run"]["counts"]


def test_shards_partition_the_estate_by_cluster(counted, serial, tmp_path: Path) -> None:
    shards = [run_suites(counted, tmp_path, "--shard", f"{i}/3", name=f"shard{i}")[0] for i in (1, 2, 3)]
    probe_sets = [{(p["node"], p["service"], p["offer"], p["tls_version"]) for p in s["probes"]} for s in shards]
    assert all(probe_sets)
    for one, other in ((0, 1), (0, 2), (1, 2)):
        assert not probe_sets[one] & probe_sets[other]
        assert not {p[0] for p in probe_sets[one]} & {p[0] for p in probe_sets[other]}  # a node stays whole
        assert not clusters(shards[one]) & clusters(shards[other])  # and so does a cluster
    whole = {(p["node"], p["service"], p["offer"], p["tls_version"]) for p in serial[0]["probes"]}
    assert set().union(*probe_sets) == whole
    assert set().union(*(records(s) for s in shards)) == records(serial[0])


def test_bad_shard_is_a_usage_error(counted, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "suites"), "--inventory",
                           str(counted.lab.inventory_path), "--shard", "4/3", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4
    assert "--shard '4/3'" in done.stderr and "1 <= I <= N" in done.stderr


def test_probe_items_keep_one_record_per_rule(counted, serial, tmp_path: Path) -> None:
    data, accepted = run_suites(counted, tmp_path, "--dualcert-items", "probe")
    assert set(accepted.values()) == {PROBES_PER_ENDPOINT}
    assert records(data) == records(serial[0])
    # S4's self-signed ECDSA fails in both modes; in probe mode the test names each failing rule.
    failed = [t for t in data["tests"] if t["outcome"] == "failed" and t["rule"] in PROBE_RULES]
    assert failed and all(t["nodeid"].endswith(f"test_all_rules[{t['id']}]") for t in failed)


def test_endpoint_items_keep_one_record_per_probe_and_rule(counted, serial, tmp_path: Path) -> None:
    """One test per endpoint, yet the results JSON holds exactly the rule mode's records, each with
    its own probe id; a failing endpoint test names each failing (offer, version, rule)."""
    data, accepted = run_suites(counted, tmp_path, "--dualcert-items", "endpoint")
    assert set(accepted.values()) == {PROBES_PER_ENDPOINT}
    assert records(data) == records(serial[0])
    assert {(t["id"], t["rule"], t["fix"]) for t in data["tests"]} == {
        (t["id"], t["rule"], t["fix"]) for t in serial[0]["tests"]}
    probe_rules = [t for t in data["tests"] if t["rule"] in PROBE_RULES]
    assert len(probe_rules) == len(counted.lab.endpoints) * PROBES_PER_ENDPOINT * len(PROBE_RULES)
    assert all(t["nodeid"].endswith("test_endpoint_rules[{}:{}]".format(*t["id"].split(":")[:2]))
               for t in probe_rules)
    failed = [t for t in probe_rules if t["outcome"] == "failed"]
    assert failed
    output = (tmp_path / "run.out").read_text()
    for nodeid in {t["nodeid"] for t in failed}:
        assert f"FAILED {nodeid}" in output
    for t in failed:  # "[ecdsa tls1.2 issuer] ..." in the failing endpoint test's message
        _, _, offer, version = t["id"].split(":")
        assert f"[{offer} {version} {t['rule']}]" in output


def test_tarpits_cost_one_timeout_and_one_connection_each(tmp_path: Path) -> None:
    """60 silent endpoints, 4 threads: waits are parked, so they all time out together (a pool
    holding a thread per wait would need 15 rounds of the timeout), and after the first probe
    of each times out its other five are recorded, not attempted."""
    accepted = collections.Counter[int]()
    lock = threading.Lock()

    def counting_tarpit(port_holder: list[int]):
        def handler(conn):
            with lock:
                accepted[port_holder[0]] += 1
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.recv(65536)
        return handler

    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(60):
            holder: list[int] = []
            port = stack.enter_context(tcp_peer(counting_tarpit(holder), hold_seconds=10))
            holder.append(port)
            ports.append(port)
        inventory = tmp_path / "tarpits.yaml"
        inventory.write_text("site: tarpits\nnodes:\n" + "".join(
            f"  - {{name: t{i}, host: t{i}.example.test, address: 127.0.0.1, services: [{{name: https, port: {p}}}]}}\n"
            for i, p in enumerate(ports)))
        endpoints = load_inventory(inventory).endpoints()
        runner = ProbeRunner(threads=4, timeouts=Timeouts(connect=1.0, starttls=1.0, handshake=1.0))
        started = time.monotonic()
        results = runner.run([ProbeTask(e, o, v) for e in endpoints for o in Offer for v in TLSVersion])
        elapsed = time.monotonic() - started
        time.sleep(0.2)
    assert len(results) == 60 * PROBES_PER_ENDPOINT
    assert {o.outcome for o in results.values()} == {Outcome.TIMEOUT}
    assert sum(o.probed for o in results.values()) == 60
    assert dict(accepted) == dict.fromkeys(ports, 1)
    assert elapsed < 1.0 + 1.5, f"60 tarpits took {elapsed:.1f}s: more than one handshake timeout"


def _progress_run(counted: CountingLab, cwd: Path, mode: str, *, tty: bool) -> str:
    """stderr of a run with --dualcert-progress MODE, on a pseudo-terminal or a pipe."""
    command = [sys.executable, "-m", "pytest", str(REPO / "suites"), "--inventory", str(counted.lab.inventory_path),
               "--policy", str(counted.lab.policy_path), "--results-json", str(cwd / "p.json"), "-q",
               "-p", "no:cacheprovider", "--dualcert-progress", mode, "--collect-only"]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if not tty:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env).stderr
    primary, secondary = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=secondary, env=env)
    os.close(secondary)
    chunks = []
    with contextlib.suppress(OSError):  # EIO once the child closes its end
        while chunk := os.read(primary, 65536):
            chunks.append(chunk)
    os.close(primary)
    process.wait(timeout=120)
    return b"".join(chunks).decode(errors="replace")


def test_progress_on_a_terminal_and_when_forced_quiet_in_a_pipe(counted, tmp_path: Path) -> None:
    total = len(counted.lab.endpoints) * PROBES_PER_ENDPOINT
    final = f"probed {total}/{total} · 0 unreachable/errors"
    assert final in _progress_run(counted, tmp_path, "auto", tty=True)
    assert final in _progress_run(counted, tmp_path, "on", tty=False)
    assert "probed" not in _progress_run(counted, tmp_path, "auto", tty=False)
    assert "probed" not in _progress_run(counted, tmp_path, "off", tty=True)


def test_silent_starttls_servers_do_not_starve_the_pool(tmp_path: Path) -> None:
    """STARTTLS waits in a thread (sslyze's helpers block): 40 silent XMPP endpoints with 4
    handshake threads still cost one STARTTLS timeout, not ten rounds of it."""
    with contextlib.ExitStack() as stack:
        ports = [stack.enter_context(tcp_peer(_silent, hold_seconds=10)) for _ in range(40)]
        inventory = tmp_path / "xmpp.yaml"
        inventory.write_text("site: xmpp\nnodes:\n" + "".join(
            f"  - {{name: x{i}, host: x{i}.example.test, address: 127.0.0.1, "
            f"services: [{{name: xmpp, port: {p}, starttls: xmpp}}]}}\n" for i, p in enumerate(ports)))
        endpoints = load_inventory(inventory).endpoints()
        runner = ProbeRunner(threads=4, timeouts=Timeouts(connect=1.0, starttls=1.0, handshake=1.0))
        started = time.monotonic()
        results = runner.run([ProbeTask(e, Offer.ECDSA, v) for e in endpoints for v in TLSVersion])
        elapsed = time.monotonic() - started
    assert {(o.outcome, o.phase) for o in results.values()} == {(Outcome.TIMEOUT, "starttls")}
    assert sum(o.probed for o in results.values()) == 40
    assert elapsed < 1.0 + 1.5, f"40 silent STARTTLS servers took {elapsed:.1f}s"


def _silent(conn) -> None:
    with contextlib.suppress(OSError):
        conn.recv(65536)
        conn.recv(65536)


@pytest.mark.parametrize(("endpoints", "mode", "test_name"), [(166, "rule", "test_presented_key"),
                                                                (167, "endpoint", "test_endpoint_rules")])
def test_auto_items_mode_switches_above_1000_probes(tmp_path: Path, endpoints: int, mode: str, test_name: str) -> None:
    """166 endpoints x 6 probes = 996 (one test per rule); 167 x 6 = 1002 (one test per endpoint)."""
    from .peers import closed_port

    port = closed_port()  # refused at once: the collection's probe phase stays short
    services = "\n".join(f"      - {{name: s{i}, port: {port}}}" for i in range(endpoints))
    inventory = tmp_path / "many.yaml"
    inventory.write_text(f"site: many\nnodes:\n  - name: box\n    host: box.example.test\n    address: 127.0.0.1\n"
                         f"    services:\n{services}\n")
    done = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "suites"), "--inventory", str(inventory),
                           "--collect-only", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    header = {"rule": "one test per rule and probe",
              "endpoint": "one test per endpoint, checking every rule over its probes"}[mode]
    assert f"{endpoints * 6} probes; {header} (--dualcert-items auto)" in done.stdout
    per_endpoint = 6 if mode == "rule" else 1
    assert done.stdout.count(f"<Function {test_name}[box:") == endpoints * per_endpoint
    assert "test_all_rules[" not in done.stdout  # probe mode only when asked for


SECOND_PROCESS_ENDPOINTS = 310   # each its own ECDSA leaf: 311 distinct chains


@pytest.mark.parametrize("started", ["early", "after-probes"])
def test_a_large_run_validates_in_a_second_process_with_the_verdicts_of_one(tmp_path: Path, started: str) -> None:
    """310 dual-certificate endpoints, each with its own ECDSA leaf, every seventh self-signed: the run
    validates their chains in a second process (facts/prevalidation.py), and its trust verdicts are those this
    process computes for the same chains. `early`: `dualcert run` starts the child as pytest starts (from
    EARLY_ENDPOINTS endpoints); `after-probes`: without it, the child starts once the probes are in (its
    threshold lowered from 1,000 chains to 300, which keeps this test's estate small)."""
    import base64
    import datetime as dt

    from cryptography.hazmat.primitives import serialization

    from dualcert.facts.trust import TrustStore
    from dualcert.lab.pki import CA, KeySpec, self_signed
    from dualcert.lab.server import LabServer, ServedEndpoint
    from dualcert.probe.tls import server_context

    root = CA.root("Scale EC Root", KeySpec.ec())
    issuing = root.sub_ca("Scale EC Issuing")
    rsa = CA.root("Scale RSA Root", KeySpec.rsa()).issue(["box.scale.test"], KeySpec.rsa()).write(tmp_path, "rsa")
    trust = tmp_path / "roots.pem"
    trust.write_bytes(b"".join(ca.cert.public_bytes(serialization.Encoding.PEM) for ca in (root,)))
    served = []
    for i in range(SECOND_PROCESS_ENDPOINTS):
        leaf = self_signed(["box.scale.test"], KeySpec.ec()) if i % 7 == 0 else \
            issuing.issue(["box.scale.test"], KeySpec.ec())
        served.append(ServedEndpoint(server_context([rsa, leaf.write(tmp_path, f"ec{i}")])))
    counting = ("import sys\n"
                "from dualcert.facts import prevalidation\n"
                "prevalidation.MIN_CHAINS = 300\n"
                f"prevalidation.EARLY_ENDPOINTS = {10**9 if started == 'after-probes' else 50}\n"
                "early = []\n"
                "real_early = prevalidation.start_early\n"
                "prevalidation.start_early = lambda serve: early.append(1) or real_early(serve)\n"
                "children = []\n"
                "real_init = prevalidation.Ahead.__init__\n"
                "prevalidation.Ahead.__init__ = lambda self, serve: children.append(1) or real_init(self, serve)\n"
                "taken = []\n"
                "real = prevalidation.Ahead.take\n"
                "prevalidation.Ahead.take = lambda self, chain: (lambda f: taken.append(f is not None) or f)("
                "real(self, chain))\n"
                "from dualcert.cli import main\n"
                "code = main(sys.argv[1:])\n"
                "print('answers from the second process:', sum(taken))\n"
                "print('started early:', len(early), 'children:', len(children))\n"
                "sys.exit(code)\n")
    with LabServer(served) as server:
        assert server is not None
        services = "\n".join(f"      - {{name: s{i}, port: {e.port}}}" for i, e in enumerate(served))
        (tmp_path / "site.yaml").write_text(f"site: scale\ntrust: {trust}\nnodes:\n  - name: box\n"
                                            f"    host: box.scale.test\n    address: 127.0.0.1\n"
                                            f"    services:\n{services}\n")
        done = subprocess.run([sys.executable, "-c", counting, "run", "--inventory", "site.yaml"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and "answers from the second process:" in done.stdout, \
        done.stdout[-3000:] + done.stderr[-2000:]
    answered = int(done.stdout.rsplit("answers from the second process:", 1)[1].split()[0])
    assert answered > 0, "no chain was validated by the second process"
    # One second process either way: an early child is the one that validates, none is started after it.
    assert f"started early: {int(started == 'early')} children: 1" in done.stdout
    data = load_document(tmp_path / "reports" / "scale.json")
    ders = {sha: base64.b64decode(b64) for sha, b64 in data["certificates"].items()}
    here, now = TrustStore.from_pem_file(trust), dt.datetime.now(dt.UTC)
    expected = {}
    for probe in data["probes"]:
        if probe["outcome"] == "ok":
            chain = tuple(ders[c["sha256"]] for c in probe["chain"])
            key = ":".join((probe["node"], probe["service"], probe["offer"], probe["tls_version"]))
            expected[key] = "passed" if here.validate(chain, now).trusted else "failed"
    recorded = {t["id"]: t["outcome"] for t in data["tests"] if t["rule"] == "trust"}
    assert recorded == expected
    assert set(expected.values()) == {"passed", "failed"}
