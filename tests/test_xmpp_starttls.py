"""The probe's own XMPP STARTTLS against XMPP peers on loopback that behave like real servers on
a real network: features split across segments, no STARTTLS offered, endless features, silence.

Why dualcert does not use sslyze's XMPP helper: it reads the features with single recv() calls
(the second test shows the failure on a server that sends its features in three segments)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from OpenSSL import SSL

from dualcert.estate.catalog import ServiceSpec
from dualcert.estate.model import Endpoint
from dualcert.facts.chain import chain_facts
from dualcert.lab.pki import CA, KeySpec
from dualcert.offers import Offer, TLSVersion
from dualcert.probe.connection import Timeouts
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Observation, Outcome
from dualcert.probe.tls import server_context

from .peers import tcp_peer

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' id='x1' from='xmpp.test' version='1.0'>")
STARTTLS_FEATURE = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
MECHANISMS = (b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
              b"</mechanisms></stream:features>")


def read_until(conn: socket.socket, marker: bytes, limit: int = 16384) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture(scope="module")
def rsa_context(tmp_path_factory: pytest.TempPathFactory) -> SSL.Context:
    directory: Path = tmp_path_factory.mktemp("xmpp-peer")
    leaf = CA.root("XMPP peer CA", KeySpec.rsa()).issue(["xmpp.test"], KeySpec.rsa())
    return server_context([leaf.write(directory, "rsa")])


def split_features_server(context: SSL.Context):
    """Stream header, then the features in three segments 50 ms apart, then a real TLS handshake."""
    def handler(conn: socket.socket) -> None:
        read_until(conn, b"version='1.0'>")
        conn.sendall(HEADER)
        for part in (b"<stream:features>", STARTTLS_FEATURE, MECHANISMS):
            time.sleep(0.05)
            conn.sendall(part)
        read_until(conn, b"/>")
        conn.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        conn.setblocking(True)
        tls = SSL.Connection(context, conn)
        tls.set_accept_state()
        tls.do_handshake()
        tls.shutdown()
    return handler


def endpoint(port: int) -> Endpoint:
    return Endpoint("peer", "-", "generic", "xmpp.test", "127.0.0.1",
                    ServiceSpec("c2s", port, starttls="xmpp", xmpp_domain="xmpp.test"))


def probe(port: int, starttls_timeout: float = 3.0):
    task = ProbeTask(endpoint(port), Offer.RSA, TLSVersion.TLS1_2)
    runner = ProbeRunner(workers=1, timeouts=Timeouts(1.0, starttls_timeout, 3.0))
    return runner.run([task])[task.key]


def test_features_in_several_segments_still_upgrade(rsa_context: SSL.Context) -> None:
    with tcp_peer(split_features_server(rsa_context)) as port:
        observation = probe(port)
    assert observation.outcome is Outcome.OK, observation
    assert chain_facts(observation.chain_der).leaf.san_dns == ("xmpp.test",)


def test_sslyzes_helper_fails_on_the_same_server(rsa_context: SSL.Context) -> None:
    """The reason for probe.starttls._xmpp_starttls: sslyze sends <starttls/> before the features end and
    takes the rest of them for the answer. If this starts passing, sslyze's helper is fixed."""
    from sslyze.connection_helpers.opportunistic_tls_helpers import (
        OpportunisticTlsError,
        ProtocolWithOpportunisticTlsEnum,
        get_opportunistic_tls_helper,
    )

    helper = get_opportunistic_tls_helper(ProtocolWithOpportunisticTlsEnum.XMPP, "xmpp.test", None)
    with tcp_peer(split_features_server(rsa_context)) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=3) as sock, \
            pytest.raises(OpportunisticTlsError):
        helper.prepare_socket_for_tls_handshake(sock)


def test_no_starttls_feature_is_named() -> None:
    def handler(conn: socket.socket) -> None:
        read_until(conn, b"version='1.0'>")
        conn.sendall(HEADER + b"<stream:features>" + MECHANISMS)  # SASL only, no STARTTLS
        read_until(conn, b"</stream:stream>")

    with tcp_peer(handler) as port:
        observation = probe(port)
    assert observation.outcome is Outcome.STARTTLS_FAILED and observation.phase == "starttls"
    assert "does not offer STARTTLS" in observation.detail


def test_endless_features_stop_at_the_byte_budget() -> None:
    def handler(conn: socket.socket) -> None:
        read_until(conn, b"version='1.0'>")
        conn.sendall(HEADER + b"<stream:features>")
        for _ in range(100):  # 100 KiB of features that never end
            conn.sendall(b"<x/>" * 256)

    with tcp_peer(handler) as port:
        observation = probe(port)
    assert observation.outcome is Outcome.STARTTLS_FAILED and "bytes" in observation.detail


def test_silence_after_the_header_times_out_within_the_starttls_budget() -> None:
    def handler(conn: socket.socket) -> None:
        read_until(conn, b"version='1.0'>")
        conn.sendall(HEADER)
        read_until(conn, b"never")

    started = time.monotonic()
    with tcp_peer(handler, hold_seconds=5) as port:
        observation = probe(port, starttls_timeout=0.5)
    assert observation.outcome is Outcome.TIMEOUT and observation.phase == "starttls"
    assert time.monotonic() - started < 3


# The hostile drip runs in its own process, so the CPU time measured here is the probe's alone:
# the stream header, then 64 KiB of features that never end, in 16-byte segments, so that every
# recv of the probe gets a few bytes (the old reader re-searched all it had after each recv).
HOSTILE_DRIP = f"""
import socket, sys, time
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
server.settimeout(30)
conn, _ = server.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
conn.settimeout(30)
data = b""
while b"version='1.0'>" not in data and len(data) < 16384:
    data += conn.recv(4096)
conn.sendall({HEADER!r} + b"<stream:features>")
payload = (b"<mechanism>PLAIN</mechanism>" * 3000)[:64 * 1024 + 64]
for start in range(0, len(payload), 16):
    conn.sendall(payload[start:start + 16])
    time.sleep(0.0002)
time.sleep(2)
"""


def test_hostile_drip_costs_milliseconds_of_cpu_and_delays_no_other_probe(tmp_path: Path) -> None:
    """While the drip is under way, a probe of a normal TLS server completes at once."""
    import subprocess
    import sys
    import threading

    from .thirdparty import make_pki, openssl_fixed_tls12

    pki = make_pki(tmp_path)
    peer = subprocess.Popen([sys.executable, "-c", HOSTILE_DRIP], stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout is not None
        drip_task = ProbeTask(endpoint(int(peer.stdout.readline())), Offer.RSA, TLSVersion.TLS1_2)
        dripped: dict[str, object] = {}

        def run_drip() -> None:
            started = time.monotonic()
            dripped["observation"] = probe_with(drip_task)
            dripped["wall"] = time.monotonic() - started

        with openssl_fixed_tls12(pki) as normal_port:
            normal = Endpoint("normal", "-", "generic", "dual.example.test", "127.0.0.1",
                              ServiceSpec("https", normal_port))
            cpu = time.process_time()
            drip_thread = threading.Thread(target=run_drip)
            drip_thread.start()
            time.sleep(0.6)  # the drip is half way: the old reader searched ~30 KiB per recv by now
            started = time.monotonic()
            beside = probe_with(ProbeTask(normal, Offer.RSA, TLSVersion.TLS1_2))
            beside_s = time.monotonic() - started
            drip_thread.join(timeout=30)
            cpu = time.process_time() - cpu
    finally:
        peer.kill()
        peer.wait()
    drip = dripped["observation"]
    assert isinstance(drip, Observation) and drip.outcome is Outcome.STARTTLS_FAILED, drip
    assert "65536 bytes" in drip.detail and beside.outcome is Outcome.OK
    print(f"hostile drip: {dripped['wall']:.2f}s wall, the probe's process {cpu * 1000:.0f} ms CPU; "
          f"a probe beside it took {beside_s * 1000:.0f} ms")
    assert beside_s < 0.5, beside_s
    # Measured on 2 cores: about 0.1 s with the linear reader (the normal probe and its server
    # included), 0.75 s with the reader that re-searched its whole buffer after every recv.
    assert cpu < 0.3, f"{cpu:.2f}s of CPU for a 64 KiB drip"


def probe_with(task: ProbeTask) -> Observation:
    return ProbeRunner(workers=1, timeouts=Timeouts(1.0, 20.0, 3.0)).run([task])[task.key]
