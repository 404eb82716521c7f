"""Hostile servers on loopback, each with its typed outcome within the timeouts; and one
`dualcert run` against all of them beside a good server, which completes and reports.

TCP-level misbehaviour comes from tests/peers.py; certificate-level from a real pyOpenSSL
server (the lab's LabServer and dualcert.probe.tls.server_context) sending hostile certificates."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dualcert.compare.results_file import load_document
from dualcert.estate.inventory import load_inventory
from dualcert.facts.chain import chain_facts
from dualcert.facts.hostname import hostname_matches
from dualcert.facts.trust import TrustStore
from dualcert.lab.pki import Issued, KeySpec, self_signed
from dualcert.lab.server import LabServer, ServedEndpoint
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.connection import Timeouts
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Observation, Outcome, ProbeKey
from dualcert.probe.tls import server_context
from dualcert.rules.causes import Cause
from dualcert.safetext import safe

from . import hostile_certs, peers
from .conftest import CERTS, FIXED_NOW, run_cli
from .hostile import measured

TIMEOUTS = Timeouts(connect=1.0, starttls=1.5, handshake=1.5)
BUDGET = TIMEOUTS.connect + TIMEOUTS.starttls + TIMEOUTS.handshake + 1.0  # one probe, worst case, plus slack


@contextlib.contextmanager
def tls_server(chains: list[Issued], directory: Path, host: str = "127.0.0.1") -> Iterator[int]:
    """A real TLS server (pyOpenSSL) sending `chains` (one per key type) on `host`."""
    files = [issued.write(directory, f"chain{index}") for index, issued in enumerate(chains)]
    endpoint = ServedEndpoint(server_context(files), host=host)
    with LabServer([endpoint], workers=4):
        yield endpoint.port


def inventory_text(services: dict[str, tuple[int, str | None]], *, address: str = "127.0.0.1",
                   host: str = "box.example.test", name: str = "box") -> str:
    lines = [f"  - name: {name}", f"    host: {host}", f"    address: '{address}'", "    services:"]
    for service, (port, starttls) in services.items():
        lines.append(f"      - {{name: {service}, port: {port}" + (f", starttls: {starttls}}}" if starttls else "}"))
    return "\n".join(lines) + "\n"


def probe(tmp_path: Path, port: int, *, starttls: str | None = None, address: str = "127.0.0.1",
          offer: Offer = Offer.RSA) -> Observation:
    path = tmp_path / "one.yaml"
    path.write_text("nodes:\n" + inventory_text({"svc": (port, starttls)}, address=address))
    (endpoint,) = load_inventory(path).endpoints()
    started = time.monotonic()
    (observation,) = ProbeRunner(timeouts=TIMEOUTS).run([ProbeTask(endpoint, offer, TLSVersion.TLS1_2)]).values()
    assert time.monotonic() - started < BUDGET, "a hostile server held the probe past its timeouts"
    return observation


def typed(observation: Observation) -> str:
    return f"{observation.outcome.value} ({observation.phase})"


TCP_PEERS: dict[str, tuple[Callable[..., None], str | None]] = {
    "tarpit": (peers.tarpit, None),
    "close-at-once": (peers.close_at_once, None),
    "plain-http": (peers.http_plaintext, None),
    "random-bytes": (peers.random_bytes, None),
    "reset-after-hello": (peers.reset_after_client_hello, None),
    "tls-alert": (peers.tls_alert, None),
    "drip": (peers.drip, None),
    "close-after-server-hello": (peers.close_after_server_hello, None),
    "malformed-certificate": (peers.malformed_certificate, None),
    "xmpp-no-proceed": (peers.xmpp_no_proceed, "xmpp"),
    "xmpp-failure": (peers.xmpp_failure, "xmpp"),
    "xmpp-endless": (peers.endless_plaintext, "xmpp"),
    "smtp-endless": (peers.smtp_endless_ehlo, "smtp"),
    "smtp-drip": (peers.smtp_drip, "smtp"),
}


@pytest.mark.parametrize("case_id", list(TCP_PEERS))
def test_misbehaving_peer_has_its_typed_outcome(case_id: str, tmp_path: Path) -> None:
    handler, starttls = TCP_PEERS[case_id]
    with peers.tcp_peer(handler) as port:
        observation = probe(tmp_path, port, starttls=starttls)
    assert observation.detail, "every failure says what happened"
    if case_id == "tls-alert":
        assert observation.alert == "handshake_failure"
    if case_id == "smtp-endless":
        assert "64 KiB" in observation.detail
    if case_id == "malformed-certificate":
        assert "certificate OpenSSL cannot parse" in observation.detail
    measured(case_id, typed(observation))


def test_closed_port(tmp_path: Path) -> None:
    measured("closed-port", typed(probe(tmp_path, peers.closed_port())))


def test_chain_of_100_certificates(tmp_path: Path) -> None:
    with tls_server([hostile_certs.chain_of(100)], tmp_path) as port:
        observation = probe(tmp_path, port, offer=Offer.ECDSA)
    facts = chain_facts(observation.chain_der)
    assert facts.parse_error is None and len(facts.certs) == 100
    measured("chain-100", f"{observation.outcome.value}, {len(observation.chain_der)} certificates")


def test_chain_of_1_mb(tmp_path: Path) -> None:
    with tls_server([hostile_certs.huge()], tmp_path) as port:
        observation = probe(tmp_path, port, offer=Offer.ECDSA)
    assert "excessive message size" in observation.detail
    measured("chain-1mb", typed(observation))


def test_control_characters_in_names(tmp_path: Path) -> None:
    with tls_server([hostile_certs.evil_names()], tmp_path) as port:
        observation = probe(tmp_path, port, offer=Offer.ECDSA)
    leaf = chain_facts(observation.chain_der).leaf
    assert leaf.common_name == hostile_certs.EVIL_CN  # recorded as sent, in the JSON
    shown = safe(leaf.subject)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown), shown
    assert "\\x1b]0\\;pwned\\x07" in shown  # visible, inert (RFC 4514 escapes the ';')
    measured("control-chars-cn", f"{observation.outcome.value}, names escaped")


def test_name_that_is_not_utf8(tmp_path: Path) -> None:
    with tls_server([hostile_certs.non_utf8_name()], tmp_path) as port:
        observation = probe(tmp_path, port, offer=Offer.ECDSA)
    facts = chain_facts(observation.chain_der)
    # OpenSSL took it; cryptography refuses the name: the chain is recorded with why it is unreadable.
    assert facts.parse_error and "cannot be parsed" in facts.parse_error and "subject" in facts.parse_error
    measured("non-utf8-name", f"{observation.outcome.value}, leaf unparseable")


def test_duplicate_extensions(tmp_path: Path) -> None:
    """OpenSSL will not serve this certificate (so no pyOpenSSL server can send it), but Java
    stacks such as VOS Tomcat may; the OpenSSL client accepts it. From its DER, as a probe
    records it: every later step (results JSON, each rule) must cope, not raise."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from dualcert.policy.load import load_policy
    from dualcert.render.results import probe_record
    from dualcert.rules.probe_rules import Case
    from dualcert.rules.registry import Scope, rules_of

    der = hostile_certs.duplicate_san().cert.public_bytes(Encoding.DER)
    path = tmp_path / "dup.yaml"
    path.write_text("nodes:\n" + inventory_text({"https": (443, None)}, host="dup.example.test"))
    (endpoint,) = load_inventory(path).endpoints()
    key = ProbeKey(endpoint.node, "https", Offer.ECDSA, TLSVersion.TLS1_2)
    observation = Observation(key, endpoint.host, endpoint.address, 443, Outcome.OK, chain_der=(der,))
    record = probe_record(observation, {})
    assert record["chain_error"] and "DuplicateExtension" in record["chain_error"]
    ok, detail = hostname_matches((der,), "dup.example.test")
    assert not ok and "cannot be read" in detail
    expectation = load_policy(None).expectation(endpoint, Offer.ECDSA, TLSVersion.TLS1_2)
    case = Case(endpoint, Offer.ECDSA, TLSVersion.TLS1_2, expectation, observation,
                TrustStore.from_pem_file(CERTS / "roots.pem"), FIXED_NOW)
    findings = {rule.name: rule.check(case) for rule in rules_of(Scope.PROBE)}
    assert "cannot be read" in findings["presented_key"].message
    measured("duplicate-extension", f"{observation.outcome.value}, leaf unparseable")


def test_ipv6_loopback(tmp_path: Path) -> None:
    with tls_server([self_signed(["v6.example.test"], KeySpec.ec())], tmp_path, host="::1") as port:
        observation = probe(tmp_path, port, address="::1", offer=Offer.ECDSA)
    assert observation.address == "::1" and observation.chain_der
    measured("ipv6-loopback", observation.outcome.value)


def test_unknown_dns_name_inside_a_private_network_namespace(tmp_path: Path) -> None:
    """The lookup runs inside `unshare -n` (no interfaces but a down loopback): it fails there
    without a packet leaving this machine. See also tests/test_outcomes.py."""
    if not shutil.which("unshare") or os.geteuid() != 0:
        pytest.fail("needs root and unshare(1) (util-linux) to isolate the DNS lookup")
    path = tmp_path / "dns.yaml"
    path.write_text("nodes:\n  - name: ghost\n    host: ghost.invalid\n    services: [{name: https, port: 443}]\n")
    script = ("import sys; from pathlib import Path\n"
              "from dualcert.estate.inventory import load_inventory\n"
              "from dualcert.offers import Offer, TLSVersion\n"
              "from dualcert.probe.engine import ProbeRunner, ProbeTask\n"
              "e = load_inventory(Path(sys.argv[1])).endpoints()[0]\n"
              "(o,) = ProbeRunner().run([ProbeTask(e, Offer.RSA, TLSVersion.TLS1_2)]).values()\n"
              "print(f'{o.outcome.value} ({o.phase})')\n")
    result = subprocess.run(["unshare", "-n", sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    measured("unknown-dns", result.stdout.strip())


def test_one_run_against_every_hostile_server_beside_a_good_one(tmp_path: Path) -> None:
    """The run goes on around every hostile peer: typed outcomes per service, the good node's
    tests pass, exit 1 (policy failures, not an internal error), JSON and HTML written."""
    good = [self_signed(["good.example.test"], KeySpec.ec()), self_signed(["good.example.test"], KeySpec.rsa())]
    certs = {"chain-100": hostile_certs.chain_of(100), "control-chars-cn": hostile_certs.evil_names(),
             "non-utf8-name": hostile_certs.non_utf8_name(), "chain-1mb": hostile_certs.huge()}
    with contextlib.ExitStack() as stack:
        services: dict[str, tuple[int, str | None]] = {}
        for case_id, (handler, starttls) in TCP_PEERS.items():
            services[case_id] = (stack.enter_context(peers.tcp_peer(handler)), starttls)
        for case_id, issued in certs.items():
            (tmp_path / case_id).mkdir()
            services[case_id] = (stack.enter_context(tls_server([issued], tmp_path / case_id)), None)
        services["closed-port"] = (peers.closed_port(), None)
        (tmp_path / "good").mkdir()
        good_port = stack.enter_context(tls_server(good, tmp_path / "good"))
        path = tmp_path / "mixed.yaml"
        path.write_text("site: mixed\nnodes:\n" + inventory_text(services, name="hostile")
                        + inventory_text({"https": (good_port, None)}, name="good", host="good.example.test"))
        started = time.monotonic()
        result = run_cli("run", "--inventory", str(path), "--policy", "self-signed", "--",
                         "--connect-timeout", "1", "--starttls-timeout", "1.5", "--handshake-timeout", "1.5",
                         cwd=tmp_path, timeout=240)
        elapsed = time.monotonic() - started
    assert "Traceback" not in result.stdout + result.stderr, result.stdout[-3000:] + result.stderr[-3000:]
    data = load_document(tmp_path / "reports" / "mixed.json")
    assert data["run"]["status"] == "complete"
    first = {p["service"]: p for p in data["probes"] if p["node"] == "hostile" and p["probed"]
             and p["offer"] == "rsa" and p["tls_version"] == "tls1.2"}
    for case_id in TCP_PEERS:
        assert case_id in first or any(p["service"] == case_id for p in data["probes"]), case_id
    outcomes = {p["service"]: p["outcome"] for p in data["probes"] if p["node"] == "hostile" and p["probed"]}
    assert outcomes["tarpit"] == Outcome.TIMEOUT and outcomes["closed-port"] == Outcome.CONNECTION_REFUSED
    assert outcomes["smtp-endless"] == Outcome.STARTTLS_FAILED and outcomes["tls-alert"] == Outcome.UNSUPPORTED
    good_tests = [t for t in data["tests"] if t["id"].startswith("good:")]
    assert good_tests and all(t["outcome"] in ("passed", "skipped") for t in good_tests), good_tests
    assert not [t for t in data["tests"] if t["outcome"] == "error"]
    unreadable = next(t for t in data["tests"] if t["id"] == "hostile:non-utf8-name:ecdsa:tls1.2"
                      and t["rule"] == "presented_key")
    assert unreadable["outcome"] == "failed" and "cannot be read" in unreadable["message"]
    assert unreadable["causes"] == [Cause.MALFORMED_CERTIFICATE] and "re-issue it" in unreadable["fix"]
    causes = {t["id"].split(":")[1]: t["causes"] for t in data["tests"]
              if t["rule"] == "presented_key" and t["id"].startswith("hostile:") and t["id"].endswith(":rsa:tls1.2")}
    assert causes["tarpit"] == causes["closed-port"] == [Cause.UNREACHABLE], causes
    assert causes["plain-http"] == [Cause.NO_TLS], causes
    assert (tmp_path / "reports" / "mixed.html").exists()
    print(f"mixed run: {len(data['probes'])} probes, {len(data['tests'])} tests in {elapsed:.1f}s")
    measured("mixed-run", f"exit {result.returncode}, good endpoint passes, JSON + HTML")
