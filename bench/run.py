"""dualcert benchmark: N dual-certificate endpoints on loopback, four tools, one invocation.

    .venv/bin/python bench/run.py --endpoints 200 --probes 6 --tarpit 0.1

Starts nginx (one process, N `server` blocks, each on its own 127.0.0.1 port, each holding an
RSA and an ECDSA chain; the lab's LabServer with `--server lab` or when nginx is missing)
and measures, each in its own process so wall time and peak RSS are that process's own:

  (a) a bare pyOpenSSL handshake loop, 16 threads, the same six ClientHellos (lower bound);
  (b) dualcert's probe phase alone (DualcertRun.probe over every endpoint x offer x version);
  (c) dualcert's whole run (`dualcert run`: pytest, policy, HTML report, results JSON), with one
      test per rule (c), per probe (p) and per endpoint (n) (--dualcert-items);
  (c') the endpoint run with a share of the endpoints replaced by tarpits (accept, never answer);
  (d) sslyze --certinfo at its defaults, and (d') through its API with 50 concurrent scans.

Peak RSS comes from os.wait4's rusage of each child (no psutil). Only loopback is used:
every target is 127.0.0.1, and every inventory gives `address: 127.0.0.1` (no DNS).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_O, _V = ("ecdsa", "rsa", "default"), ("tls1.2", "tls1.3")
COMBOS = {1: (_O[:1], _V[:1]), 2: (_O[:2], _V[:1]), 3: (_O, _V[:1]), 4: (_O[:2], _V), 6: (_O, _V)}
HOST_SUFFIX = "bench.test"


# ---------------------------------------------------------------- the estate

@dataclass
class Estate:
    directory: Path
    ports: list[int]            # the real (nginx / lab) endpoints
    tarpit_ports: list[int]
    roots: Path
    server: str


@dataclass
class BenchPKI:
    rsa_key: Path
    ec_key: Path
    chains: list[tuple[Path, Path]]   # per endpoint: (RSA chain, ECDSA chain), each leaf its own certificate
    roots: Path


def make_pki(directory: Path, count: int) -> BenchPKI:
    """Two CA hierarchies and, per endpoint, its own RSA and ECDSA leaf (named for that node),
    as a real estate has: the run must parse and judge N distinct certificates, not one."""
    from cryptography.hazmat.primitives import hashes, serialization

    from dualcert.lab.pki import CA, KeySpec, _leaf_builder

    pem = serialization.Encoding.PEM
    rsa_root, ec_root = CA.root("Bench RSA Root", KeySpec.rsa()), CA.root("Bench EC Root", KeySpec.ec("secp384r1"))
    roots = directory / "roots.pem"
    roots.write_bytes(rsa_root.cert.public_bytes(pem) + ec_root.cert.public_bytes(pem))
    (directory / "certs").mkdir()
    keys, chains = {}, []
    for family, root, spec in (("rsa", rsa_root, KeySpec.rsa()), ("ec", ec_root, KeySpec.ec())):
        issuing = root.sub_ca(f"Bench {family.upper()} Issuing CA")
        # One key per family (key generation would dominate set-up), one certificate per endpoint.
        leaf = issuing.issue([f"n00000.{HOST_SUFFIX}"], spec)
        keys[family] = leaf.write(directory, family)[1]
        for index in range(count):
            names = [f"n{index:05d}.{HOST_SUFFIX}", "127.0.0.1"]
            cert = (_leaf_builder(names, leaf.key, issuing.cert.subject, 825, None, None)
                    .add_extension(issuing._authority_key_id(), critical=False)
                    .sign(issuing.key, hashes.SHA256()))
            path = directory / "certs" / f"n{index:05d}-{family}.pem"
            path.write_bytes(cert.public_bytes(pem) + issuing.cert.public_bytes(pem))
            if family == "rsa":
                chains.append((path, path))
            else:
                chains[index] = (chains[index][0], path)
    return BenchPKI(keys["rsa"], keys["ec"], chains, roots)


def free_ports(count: int) -> list[int]:
    """Distinct free ports: hold them all bound at once, then release them for the server."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [s.getsockname()[1] for s in held]
    finally:
        for sock in held:
            sock.close()


# Each listening socket takes one of a worker's connections and a file descriptor: at 10,000 endpoints
# the worker needs 10,000 connections for the listeners alone, plus the probes in flight.
NGINX_HEAD = """daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile {nofile};
pid {dir}/nginx.pid;
error_log {dir}/error.log crit;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ALL:@SECLEVEL=0;
    ssl_session_tickets off;
"""
NGINX_SERVER = """    server {{ listen 127.0.0.1:{port} ssl; server_name n{index:05d}.{suffix}; return 444;
        ssl_certificate {rsa_chain}; ssl_certificate_key {rsa_key};
        ssl_certificate {ec_chain}; ssl_certificate_key {ec_key}; }}
"""


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench: the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on {port} after {timeout:g}s")


@contextlib.contextmanager
def child(command: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def nginx(directory: Path, count: int, workers: int) -> Iterator[list[int]]:
    pki = make_pki(directory, count)
    ports = free_ports(count)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_HEAD.format(dir=directory, workers=workers, connections=max(8192, count + 4096),
                                      nofile=max(16384, 2 * count + 8192))
                    + "".join(NGINX_SERVER.format(port=p, index=i, suffix=HOST_SUFFIX, rsa_chain=rsa, ec_chain=ec,
                                                  rsa_key=pki.rsa_key, ec_key=pki.ec_key)
                              for i, (p, (rsa, ec)) in enumerate(zip(ports, pki.chains, strict=True)))
                    + "}\n")
    with child([nginx_binary() or "nginx", "-c", str(conf), "-p", str(directory)]) as process:
        for port in ports:  # nginx binds in its own order: wait for every port
            wait_listening(port, process)
        yield ports


@contextlib.contextmanager
def lab_server(directory: Path, count: int) -> Iterator[list[int]]:
    """The same estate served by dualcert's own LabServer, in a child process (its own GIL)."""
    make_pki(directory, count)
    with child([sys.executable, str(Path(__file__)), "--worker", "lab-server", "--dir", str(directory),
                "--endpoints", str(count)]) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"bench: the lab server did not start: {process.stderr.read().decode()[-2000:]}")
        yield json.loads(line)["ports"]


def serve_lab(directory: Path, count: int) -> None:
    import signal

    from dualcert.lab.server import LabServer, ServedEndpoint
    from dualcert.probe.tls import server_context

    certs = directory / "certs"
    server = LabServer([ServedEndpoint(server_context([(certs / f"n{i:05d}-rsa.pem", directory / "rsa.key.pem"),
                                                       (certs / f"n{i:05d}-ec.pem", directory / "ec.key.pem")]))
                        for i in range(count)])
    with server:
        print(json.dumps({"ports": [e.port for e in server.endpoints]}), flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT}) if hasattr(signal, "sigwait") else time.sleep(3600)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


CLUSTER_SIZE = 10   # nodes per cluster: --shard deals whole clusters, so the estate needs several


def write_inventory(path: Path, site: str, ports: list[int], roots: Path) -> Path:
    lines = [f"site: {site}", f"trust: {roots}", "nodes:"]
    for index, port in enumerate(ports):
        lines += [f"  - name: n{index:05d}", f"    host: n{index:05d}.{HOST_SUFFIX}", "    address: 127.0.0.1",
                  f"    cluster: c{index // CLUSTER_SIZE:04d}",
                  "    services:", f"      - {{name: https, port: {port}, prefers: either}}"]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- measuring a child

@dataclass
class Measure:
    label: str
    wall_s: float           # the child process, interpreter start to exit
    rss_mb: float           # its peak RSS
    cpu_s: float            # its user + system CPU time: less sensitive than wall time to a busy machine
    inner_s: float | None   # the loop alone, as the child timed it
    handshakes: int
    exit_code: int
    note: str = ""

    @property
    def rate(self) -> float:
        seconds = self.inner_s if self.inner_s is not None else self.wall_s
        return self.handshakes / seconds if seconds > 0 else 0.0


def measure(label: str, command: list[str], *, timeout: float, cwd: Path | None = None) -> tuple[Measure, str]:
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        deadline = started + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    rss = usage.ru_maxrss / 1024 if usage else 0.0  # Linux: KiB
    cpu = usage.ru_utime + usage.ru_stime if usage else 0.0
    inner, handshakes, note = None, 0, ""
    for line in stdout.splitlines()[::-1]:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                inner, handshakes, note = data.get("seconds"), data.get("handshakes", 0), data.get("note", "")
                break
    return Measure(label, wall, rss, cpu, inner, handshakes, process.returncode, note), stdout + stderr


# ---------------------------------------------------------------- workers (run in a child process)

def tasks_from_inventory(inventory: Path, probes: int) -> list[tuple[str, int, str, str]]:
    from dualcert.estate.inventory import load_inventory

    offers, versions = COMBOS[probes]
    return [(e.host, e.port, o, v) for e in load_inventory(inventory).endpoints() for o in offers for v in versions]


def worker_bare(inventory: Path, probes: int, threads: int, clients: bool = False) -> None:
    """The lower bound: blocking pyOpenSSL handshakes in a thread pool, nothing else. With `clients`:
    every built-in client profile's hello instead of the offers' (the same hellos as --clients all)."""
    from concurrent.futures import ThreadPoolExecutor

    from OpenSSL import SSL

    from dualcert.estate.inventory import load_inventory
    from dualcert.offers import Offer, TLSVersion
    from dualcert.policy.clients import builtin_clients
    from dualcert.probe.clients import client_spec
    from dualcert.probe.hello import offer_spec
    from dualcert.probe.tls import client_context

    if clients:
        profiles = builtin_clients()
        tasks = [(e.host, e.port, name, "auto") for e in load_inventory(inventory).endpoints() for name in profiles]
        contexts = {(name, "auto"): client_context(client_spec(p)) for name, p in profiles.items()}
    else:
        tasks = tasks_from_inventory(inventory, probes)
        contexts = {(o, v): client_context(offer_spec(Offer(o), TLSVersion(v))) for _, _, o, v in tasks}

    def shake(task: tuple[str, int, str, str]) -> int:
        host, port, offer, version = task
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return 0
        with sock:
            sock.settimeout(None)  # blocking: pyOpenSSL then handshakes without WantRead retries
            conn = SSL.Connection(contexts[(offer, version)], sock)
            conn.set_tlsext_host_name(host.encode())
            conn.set_connect_state()
            try:
                conn.do_handshake()
            except SSL.Error:
                return 0
            return 1 if conn.get_peer_cert_chain() else 0

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        ok = sum(pool.map(shake, tasks))
    print(json.dumps({"seconds": time.monotonic() - started, "handshakes": ok, "note": f"{ok}/{len(tasks)} ok"}))


def worker_probe(inventory: Path, probes: int, clients: str = "") -> None:
    """dualcert's probe phase alone, as the plugin runs it (with `clients`: plus one probe per client profile)."""
    from dualcert.offers import Offer, TLSVersion
    from dualcert.run import DualcertRun, RunOptions

    offers, versions = COMBOS[probes]
    run = DualcertRun.from_files(inventory, None, RunOptions(offers=tuple(Offer(o) for o in offers),
                                                             versions=tuple(TLSVersion(v) for v in versions),
                                                             clients=clients))
    keys = [*run.keys(), *run.client_keys()]
    started = time.monotonic()
    run.probe(keys)
    seconds = time.monotonic() - started
    outcomes: dict[str, int] = {}
    for o in run.observations.values():
        outcomes[o.outcome.value] = outcomes.get(o.outcome.value, 0) + 1
    probed = sum(1 for o in run.observations.values() if o.probed)
    print(json.dumps({"seconds": seconds, "handshakes": outcomes.get("ok", 0),
                      "note": f"{len(run.observations)}/{len(keys)} observations, {probed} probed, {outcomes}"}))


def worker_sslyze_api(inventory: Path, concurrent: int) -> None:
    """sslyze's certinfo through its Python API, tuned to `concurrent` server scans."""
    from sslyze import ScanCommand, Scanner, ServerNetworkLocation, ServerScanRequest

    from dualcert.estate.inventory import load_inventory

    endpoints = load_inventory(inventory).endpoints()
    started = time.monotonic()
    scanner = Scanner(concurrent_server_scans_limit=concurrent)
    scanner.queue_scans([ServerScanRequest(server_location=ServerNetworkLocation("127.0.0.1", e.port, "127.0.0.1"),
                                           scan_commands={ScanCommand.CERTIFICATE_INFO}) for e in endpoints])
    done = sum(1 for _ in scanner.get_results())
    print(json.dumps({"seconds": time.monotonic() - started, "handshakes": 0, "note": f"{done} server scans"}))


# ---------------------------------------------------------------- the report

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", "-n", type=int, default=200, help="dual-certificate endpoints (50, 200, 2000)")
    parser.add_argument("--probes", type=int, default=6, choices=sorted(COMBOS),
                        help="probes per endpoint: 6 = ecdsa/rsa/default x TLS 1.2/1.3 (default)")
    parser.add_argument("--tarpit", type=float, default=0.1, metavar="SHARE",
                        help="share of endpoints replaced by tarpits in run (c') (default 0.1; 0 skips it)")
    parser.add_argument("--server", choices=("auto", "nginx", "lab"), default="auto",
                        help="the peer: nginx when installed (auto), or dualcert's LabServer")
    parser.add_argument("--server-workers", type=int, default=1, help="nginx worker processes (default 1)")
    parser.add_argument("--bare-threads", type=int, default=16)
    parser.add_argument("--sslyze", choices=("auto", "on", "off"), default="auto",
                        help="auto: run sslyze up to 500 endpoints (it takes ~30 ms per endpoint)")
    parser.add_argument("--skip", default="",
                        help="comma-separated phases to leave out: a,b,k,c,p,n,t,d,e, x (the merge of 10 generated "
                             "shards)")
    parser.add_argument("--shards", type=int, default=0, metavar="N",
                        help="also run the endpoint run as N --shard runs (one after the other) and `dualcert merge` "
                             "them, and check that the merge gives the endpoint run's verdicts and exit code")
    parser.add_argument("--open-report", choices=("auto", "on", "off"), default="auto",
                        help="open the endpoint run's HTML report in headless Chromium (auto: when installed)")
    parser.add_argument("--serve", type=float, metavar="SECONDS",
                        help="only start the estate, print its inventories and serve for SECONDS (for profiling)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (reports, configs)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--inventory", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.worker == "bare":
        worker_bare(ns.inventory, ns.probes, ns.bare_threads)
        return 0
    if ns.worker == "probe":
        worker_probe(ns.inventory, ns.probes)
        return 0
    if ns.worker == "bare-clients":
        worker_bare(ns.inventory, ns.probes, ns.bare_threads, clients=True)
        return 0
    if ns.worker == "probe-clients":
        worker_probe(ns.inventory, ns.probes, "all")
        return 0
    if ns.worker == "sslyze-api":
        worker_sslyze_api(ns.inventory, 50)
        return 0
    if ns.worker == "lab-server":
        serve_lab(ns.dir, ns.endpoints)
        return 0
    return bench(ns)


def bench(ns: argparse.Namespace) -> int:
    import signal

    def stop(signum: int, frame: object) -> None:  # SIGTERM cleans up like Ctrl-C: servers stopped
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    raise_fd_limit()
    byte_compile()
    skip = set(filter(None, ns.skip.split(",")))
    server = ns.server
    if server == "auto":
        server = "nginx" if nginx_binary() else "lab"
    if server == "nginx" and not nginx_binary():
        raise SystemExit("bench: nginx is not installed (apt-get install nginx-light), or use --server lab")
    n, probes = ns.endpoints, ns.probes
    handshakes = n * probes
    tarpits = round(n * ns.tarpit) if "t" not in skip else 0
    run_sslyze = ns.sslyze == "on" or (ns.sslyze == "auto" and n <= 500)
    directory = Path(tempfile.mkdtemp(prefix="dualcert-bench-"))
    py, me = sys.executable, str(Path(__file__))
    offers, versions = COMBOS[probes]
    results: list[Measure] = []
    extra: list[str] = []
    try:
        serve = nginx(directory, n, ns.server_workers) if server == "nginx" else lab_server(directory, n)
        with serve as ports, child([py, str(HERE / "tarpit.py"), "--count", str(max(tarpits, 0)),
                                    "--seconds", "600"]) as pit:
            assert pit.stdout is not None
            pit_ports = json.loads(pit.stdout.readline())["ports"]
            roots = directory / "roots.pem"
            clean = write_inventory(directory / "bench.yaml", "bench", ports, roots)
            # (c'): every 1/share-th endpoint is a tarpit instead, same count of endpoints.
            mixed = list(ports)
            if tarpits:
                step = n / tarpits
                for i, port in enumerate(pit_ports):
                    mixed[int(i * step)] = port
            tarpit_inv = write_inventory(directory / "tarpit.yaml", "tarpit", mixed, roots)
            if ns.serve:
                print(f"inventory: {clean}\nwith tarpits: {tarpit_inv}\nserving for {ns.serve:g}s ...", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    time.sleep(ns.serve)
                return 0
            load = os.getloadavg()
            print(f"dualcert bench {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}: "
                  f"{os.cpu_count()} CPUs, load average {load[0]:.2f} at start, Python {platform.python_version()}")
            peer = f"nginx ({ns.server_workers} worker)" if server == "nginx" else "dualcert LabServer"
            print(f"estate: {n} dual-certificate endpoints on 127.0.0.1 served by {peer}; {probes} probes each "
                  f"({','.join(offers)} x {','.join(versions)}) = {handshakes} handshakes\n", flush=True)
            common = ["--probes", str(probes)]
            dualcert_opts = ["--offers", ",".join(offers), "--tls-versions", ",".join(versions)]

            def step(key: str, label: str, command: list[str], timeout: float = 900) -> Measure | None:
                if key in skip:
                    return None
                print(f"  running {label} ...", file=sys.stderr, flush=True)
                m, output = measure(label, command, timeout=timeout, cwd=directory)
                if m.exit_code not in (0, 1):
                    extra.append(f"{label} exited {m.exit_code}:\n{output[-3000:]}")
                results.append(m)
                return m

            bare = step("a", "(a) bare pyOpenSSL loop", [py, me, "--worker", "bare", "--inventory", str(clean), *common,
                                                          "--bare-threads", str(ns.bare_threads)])
            probe = step("b", "(b) dualcert probe phase", [py, me, "--worker", "probe", "--inventory", str(clean),
                                                           *common])
            bare_clients = step("k", "(a) bare loop, client hellos", [py, me, "--worker", "bare-clients",
                                                                      "--inventory", str(clean), *common,
                                                                      "--bare-threads", str(ns.bare_threads)])
            with_clients = step("k", "(b) probe phase, --clients all", [py, me, "--worker", "probe-clients",
                                                                        "--inventory", str(clean), *common])
            def run_cli(inventory: Path, *more: str) -> list[str]:
                return [py, "-m", "dualcert.cli", "run", "--inventory", str(inventory),
                        "--report-dir", str(directory / "reports"), "--", *dualcert_opts, *more]

            def outcomes(m: Measure | None, site: str, keep: str = "") -> None:
                """What the run's results JSON says it measured: its probes' outcomes. `keep`: rename
                the JSON and HTML to that stem (for the fan-in and report figures) instead of deleting."""
                path = directory / "reports" / f"{site}.json"
                if m is not None and path.exists():
                    # Only the document's head: the whole of a 10,000-endpoint JSON (~1 GB decoded) would stay
                    # in this process, and each child forked after it started with that as its peak RSS.
                    from dualcert.compare.results_file import ResultsFile

                    counts = ResultsFile(path).head["run"]["probe_counts"]
                    m.handshakes, m.note = counts.get("ok", 0) + counts.get("refused", 0), f"probes {counts}"
                    if keep:
                        path.replace(path.with_name(f"{keep}.json"))
                        path.with_suffix(".html").replace(path.with_name(f"{keep}.html"))
                    else:
                        path.unlink()

            per_rule = step("c", "(c) run, a test per rule", run_cli(clean, "--dualcert-items", "rule"))
            outcomes(per_rule, "bench")
            whole = step("p", "(c) run, a test per probe", run_cli(clean, "--dualcert-items", "probe"))
            outcomes(whole, "bench")
            per_endpoint = step("n", "(c) run, a test per endpoint", run_cli(clean, "--dualcert-items", "endpoint"))
            outcomes(per_endpoint, "bench", keep="whole")
            operated = operate(ns, directory, per_endpoint, step, lambda *more: run_cli(clean, "--dualcert-items",
                                                                                     "endpoint", *more))
            pitted = None
            if tarpits:
                pitted = step("t", f"(c') per endpoint, {ns.tarpit:.0%} tarpits",
                              run_cli(tarpit_inv, "--dualcert-items", "endpoint"))
                outcomes(pitted, "tarpit")
            sslyze = sslyze_tuned = None
            if run_sslyze:
                targets = directory / "targets.txt"
                targets.write_text("".join(f"127.0.0.1:{p}\n" for p in ports))
                sslyze = step("d", "(d) sslyze --certinfo", [py, "-m", "sslyze", "--quiet", "--certinfo",
                                                             "--targets_in", str(targets)])
                sslyze_tuned = step("e", "(d') sslyze API, 50 scans", [py, me, "--worker", "sslyze-api",
                                                                       "--inventory", str(clean)])
            pit.terminate()
            pit_out = pit.communicate(timeout=10)[0].decode()
            accepted = next((json.loads(line)["accepted"] for line in pit_out.splitlines() if "accepted" in line), None)
        print_table(results, bare, sslyze)
        print_targets(n, probes, bare, probe, (per_rule, whole, per_endpoint), pitted, sslyze, sslyze_tuned, tarpits,
                      accepted)
        print_operated(n, probes, per_endpoint, sslyze, operated)
        print_clients_target(bare, bare_clients, with_clients)
        for text in extra:
            print("\n" + text)
    finally:
        if ns.keep:
            print(f"\nkept: {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


def byte_compile() -> None:
    """dualcert's modules byte-compiled, as `pip install` leaves an installed dualcert (and sslyze, and every
    other package): a checkout run with PYTHONDONTWRITEBYTECODE set (the bench's children, dualcert's own CLI)
    compiles ~100 modules from source at every start, ~0.3 s of a 200-endpoint run that no installed run pays."""
    import compileall

    import dualcert
    from dualcert.cli.common import suites_dir

    for package in {Path(dualcert.__file__).parent, suites_dir()}:   # a checkout's suites sit beside the package
        compileall.compile_dir(str(package), quiet=1)


def raise_fd_limit() -> None:
    """10,000 endpoints are 10,000 ports held at once (free_ports) and listened on by nginx (which inherits
    the limit): lift the soft limit on open files to the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def operate(ns: argparse.Namespace, directory: Path, whole: Measure | None, step: Any, run_cli: Any) -> dict[str, Any]:
    """Issues 15 and 24's figures on the endpoint run's reports: JSON and HTML size, the time to render the HTML in
    headless Chromium, `dualcert diff` of the run (against itself, and against the merge of its shards), with
    --shards N the sharded runs and their merge, and `dualcert merge` of MERGE_SHARDS shards generated from the
    run by renaming its nodes (bench/shards.py: an estate MERGE_SHARDS times the size, the certificates real)."""
    found: dict[str, Any] = {}
    reports = directory / "reports"
    whole_json, whole_html = reports / "whole.json", reports / "whole.html"
    if whole is None or not whole_json.exists():
        return found
    found["html_mb"], found["json_mb"] = whole_html.stat().st_size / 1e6, whole_json.stat().st_size / 1e6
    chromium = shutil.which("chromium")
    if ns.open_report == "on" or (ns.open_report == "auto" and chromium):
        from report_open import open_in_chromium

        wall, rows, ready = open_in_chromium(chromium or "chromium", whole_html, "")
        found["open"] = (wall, rows, ready)
    py = sys.executable
    found["diff"] = step("f", "(f) dualcert diff, the run vs itself",
                         [py, "-m", "dualcert.cli", "diff", str(whole_json), str(whole_json)])
    merged = reports / "merged.json"
    if ns.shards > 1:
        shard_runs = [step("s", f"(g) shard {i}/{ns.shards}", run_cli("--shard", f"{i}/{ns.shards}"))
                      for i in range(1, ns.shards + 1)]
        paths = sorted(reports.glob(f"bench.shard-*-of-{ns.shards}.json"))
        merge = step("m", f"(h) dualcert merge {ns.shards} shards",
                     [py, "-m", "dualcert.cli", "merge", *map(str, paths), "-o", str(merged)])
        found["shards"], found["merge"] = shard_runs, merge
        if merge is not None and merged.exists():
            found["diff2"] = step("f", "(f') diff, the run vs its merged shards",
                                  [py, "-m", "dualcert.cli", "diff", str(whole_json), str(merged)])
    if "x" not in set(ns.skip.split(",")):
        generated = directory / "generated"
        subprocess.run([py, str(HERE / "shards.py"), str(whole_json), str(MERGE_SHARDS), str(generated)], check=True,
                       stdout=subprocess.DEVNULL)
        found["big_merge"] = step("x", f"(i) dualcert merge {MERGE_SHARDS} generated shards",
                                  [py, "-m", "dualcert.cli", "merge",
                                   *map(str, sorted(generated.glob("bench.shard-*.json"))),
                                   "-o", str(generated / "merged.json")], timeout=1800)
        found["big"] = big_merge_facts(whole_json, generated)
    if "same" not in found and ns.shards > 1 and merged.exists():   # last: it reads both documents whole
        found["same"] = same_verdicts(whole_json, merged, found["merge"])
    return found


MERGE_SHARDS = 10   # issue 24: 10 CI shards of 100,000 endpoints, generated from the served run


def big_merge_facts(whole_json: Path, generated: Path) -> dict[str, Any]:
    """The generated shards' and their merge's sizes, and whether the merge counts MERGE_SHARDS times the run's
    probes and tests (from the documents' heads)."""
    from dualcert.compare.results_file import ResultsFile

    merged = generated / "merged.json"
    facts: dict[str, Any] = {"shards_mb": sum(p.stat().st_size for p in generated.glob("bench.shard-*.json")) / 1e6}
    if merged.exists():
        one, joined = ResultsFile(whole_json).head["run"], ResultsFile(merged).head["run"]
        facts["merged_mb"] = merged.stat().st_size / 1e6
        facts["html_mb"] = merged.with_suffix(".html").stat().st_size / 1e6
        facts["counts"] = all(joined[k] == {o: MERGE_SHARDS * n for o, n in one[k].items()}
                              for k in ("counts", "probe_counts"))
        facts["probes"] = sum(joined["probe_counts"].values())
    return facts


def same_verdicts(whole_json: Path, merged: Path, merge: Measure) -> tuple[bool, int, int, int]:
    """Whether the merged shards judged every (subject, rule) as the whole run did, and the exit codes."""
    from dualcert.compare.results_file import ResultsFile

    one, joined = ResultsFile(whole_json), ResultsFile(merged)

    def verdicts(results: ResultsFile) -> set[tuple[Any, ...]]:
        return {(t["id"], t["rule"], t["outcome"], t["status"]) for t in results.tests()}

    return (verdicts(one) == verdicts(joined), one.head["run"]["exit_status"], joined.head["run"]["exit_status"],
            merge.exit_code)


def print_operated(n: int, probes: int, whole: Measure | None, sslyze: Measure | None, found: dict[str, Any]) -> None:
    if not found:
        return
    print("\ntargets (issues 15 and 24; the limits are the 10,000-endpoint ones):")

    def line(ok: bool, text: str) -> None:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")

    at_scale = n >= 10000
    if whole is not None:
        line(not at_scale or whole.wall_s <= 100, f"whole run (a test per endpoint) {whole.wall_s:.1f}s (<= 100 s)")
        line(not at_scale or whole.rss_mb <= 800, f"whole run peak RSS {whole.rss_mb:.0f} MB (<= 800 MB)")
    line(not at_scale or found["json_mb"] <= 60, f"results JSON {found['json_mb']:.1f} MB (<= 60 MB)")
    line(not at_scale or found["html_mb"] <= 25, f"HTML report {found['html_mb']:.1f} MB (<= 25 MB)")
    if "open" in found:
        wall, rows, ready = found["open"]
        ready_s = int(ready) / 1000 if ready.isdigit() else float("inf")
        line(not at_scale or ready_s <= 3, f"report rendered in headless Chromium at {ready} ms ({rows} rows; "
                                           f"chromium wall {wall:.1f}s) (<= 3 s)")
    for key, what in (("diff", "the run vs itself"), ("diff2", "the run vs its merged shards (two runs)")):
        diff = found.get(key)
        if diff is not None:
            line(not at_scale or (diff.wall_s <= 10 and diff.rss_mb <= 300),
                 f"dualcert diff, {what}: {diff.wall_s:.1f}s, peak RSS {diff.rss_mb:.0f} MB (<= 10 s, <= 300 MB)")
    big, facts = found.get("big_merge"), found.get("big") or {}
    if big is not None and "probes" in facts:
        within = not at_scale or (big.wall_s <= 60 and big.rss_mb <= 2048)
        line(within and facts["counts"] and big.exit_code in (0, 1),
             f"dualcert merge of {MERGE_SHARDS} generated shards ({facts['shards_mb']:.0f} MB, {facts['probes']} "
             f"probes): {big.wall_s:.1f}s, peak RSS {big.rss_mb:.0f} MB (<= 60 s, <= 2 GB); merged JSON "
             f"{facts['merged_mb']:.0f} MB, HTML {facts['html_mb']:.1f} MB, counts x{MERGE_SHARDS} {facts['counts']}")
    if "same" in found:
        same, one, merged, code = found["same"]
        shards = " + ".join(f"{m.wall_s:.1f}" for m in found["shards"] if m is not None)
        merge = found["merge"]
        line(same and one == merged == code,
             f"{len(found['shards'])} shards ({shards} s) + merge ({merge.wall_s:.1f}s, {merge.rss_mb:.0f} MB): "
             f"same verdicts {same}, exit codes whole {one} / merged {merged} / merge {code}")
    if (n, probes) == (200, 6) and whole is not None and sslyze is not None:
        line(whole.wall_s * 3 <= sslyze.wall_s,
             f"whole run {whole.wall_s:.2f}s vs sslyze defaults {sslyze.wall_s:.2f}s: "
             f"{sslyze.wall_s / whole.wall_s:.2f}x (>= 3x, issue 24)")


def print_table(results: list[Measure], bare: Measure | None, sslyze: Measure | None) -> None:
    print(f"{'phase':34} {'wall s':>7} {'loop s':>7} {'CPU s':>6} {'hs/s':>7} {'RSS MB':>7} {'/bare':>6} {'/sslyze':>8}"
          "  note")
    for m in results:
        vs_bare = (f"{(m.inner_s or m.wall_s) / (bare.inner_s or bare.wall_s):.2f}x" if bare and m.handshakes
                   else "")
        if m.inner_s is None and bare:  # a whole process: compare it with the bare process, start to exit
            vs_bare = f"{m.wall_s / bare.wall_s:.2f}x"
        vs_sslyze = f"{m.wall_s / sslyze.wall_s:.2f}x" if sslyze else ""
        loop = f"{m.inner_s:.2f}" if m.inner_s is not None else ""
        rate = f"{m.rate:.0f}" if m.handshakes else ""
        note = m.note if m.exit_code in (0, 1) else f"exit {m.exit_code} {m.note}"
        print(f"{m.label:34} {m.wall_s:7.2f} {loop:>7} {m.cpu_s:6.2f} {rate:>7} {m.rss_mb:7.0f} {vs_bare:>6} "
              f"{vs_sslyze:>8}  {note}")


def print_clients_target(bare: Measure | None, bare_clients: Measure | None, with_clients: Measure | None) -> None:
    """Issue 14: with --clients all the probe phase stays within 2x of the bare loop per handshake. The
    bare loops (a) send the same hellos, the offers' and the client profiles', so the server's cost is the
    same: it depends on the certificate each hello gets (an RSA signature costs it more than ECDSA's)."""
    measures = (bare, bare_clients, with_clients)
    if not all(m and m.inner_s and m.handshakes for m in measures):
        return
    assert bare and bare_clients and with_clients and bare.inner_s and bare_clients.inner_s and with_clients.inner_s
    per_bare = (bare.inner_s + bare_clients.inner_s) / (bare.handshakes + bare_clients.handshakes)
    per_clients = with_clients.inner_s / with_clients.handshakes
    ratio = per_clients / per_bare
    print(f"  [{'ok' if ratio <= 2 else 'MISSED'}] probe phase with --clients all: {per_clients * 1000:.2f} ms per "
          f"handshake, {ratio:.2f}x the bare loops' {per_bare * 1000:.2f} ms (same hellos; issue 14: at most 2x)")


def print_targets(n: int, probes: int, bare: Measure | None, probe: Measure | None,
                  runs: tuple[Measure | None, Measure | None, Measure | None], pitted: Measure | None,
                  sslyze: Measure | None, tuned: Measure | None, tarpits: int, accepted: int | None) -> None:
    """`runs`: the whole run with a test per rule, per probe and per endpoint (None when skipped)."""
    print("\ntargets (issue 6):")

    def line(ok: bool, text: str) -> None:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")

    if bare and probe and bare.inner_s and probe.inner_s:
        ratio = probe.inner_s / bare.inner_s
        line(ratio <= 1.5, f"probe phase {probe.inner_s:.2f}s vs bare {bare.inner_s:.2f}s: {ratio:.2f}x (<= 1.5x, "
                           "issue 24)")
    for run, item in zip(runs, ("rule", "probe", "endpoint"), strict=True):
        if run is None:
            continue
        label = f"whole run (a test per {item})"
        if (n, probes) == (200, 6):
            line(run.wall_s <= 3.0, f"{label} {run.wall_s:.2f}s (<= 3 s)")
            line(run.rss_mb <= 150, f"{label} peak RSS {run.rss_mb:.0f} MB (<= 150 MB)")
        if (n, probes) == (2000, 6):
            line(run.wall_s <= 30.0, f"{label} {run.wall_s:.2f}s (<= 30 s)")
            line(run.rss_mb <= 500, f"{label} peak RSS {run.rss_mb:.0f} MB (<= 500 MB)")
        if sslyze:
            line(run.wall_s * 2 <= sslyze.wall_s,
                 f"{label} {run.wall_s:.2f}s vs sslyze defaults {sslyze.wall_s:.2f}s: "
                 f"{sslyze.wall_s / run.wall_s:.1f}x faster (>= 2x)")
        if tuned:
            line(run.wall_s < tuned.wall_s, f"{label} {run.wall_s:.2f}s vs sslyze 50 scans {tuned.wall_s:.2f}s")
    clean_run = runs[2]  # the tarpit run is an endpoint run: compare like with like
    if clean_run and pitted:
        from dualcert.probe.connection import Timeouts

        budget = Timeouts().handshake + 1.0
        added = pitted.wall_s - clean_run.wall_s
        line(added <= budget, f"{tarpits} tarpits added {added:.2f}s (<= one handshake timeout + 1 s = {budget:g}s); "
                              f"tarpits accepted {accepted} connections for {tarpits} endpoints")


if __name__ == "__main__":
    sys.exit(main())
