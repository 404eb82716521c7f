"""Client simulation against real servers: what each client profile gets, that `openssl s_client`
with the profile's parameters (the probe's `reproduce` line) gets the same leaf, what the client
rules make of it, and that profiles are validated with line-numbered errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dualcert.compare.results_file import load_document
from dualcert.errors import UsageError
from dualcert.estate.inventory import load_inventory
from dualcert.facts.trust import TrustStore
from dualcert.lab.pki import CA, KeySpec
from dualcert.offers import ClientOffer, ClientRange, Offer, TLSVersion
from dualcert.policy.clients import builtin_clients, load_client_file, select
from dualcert.policy.load import load_policy
from dualcert.probe.clients import client_spec
from dualcert.probe.engine import ProbeRunner, ProbeTask
from dualcert.probe.observation import Observation, Outcome
from dualcert.rules import client_rules
from dualcert.rules.client_rules import ClientCase
from dualcert.run import DualcertRun, RunOptions
from dualcert.verdict import Status

from .conftest import debian_binary, free_port, run_cli
from .test_prosody import _inventory as prosody_inventory
from .test_prosody import prosody  # noqa: F401 (the fixture)
from .thirdparty import make_pki, nginx_dual, running, tomcat_dual

CLIENTS = builtin_clients()
NOW = dt.datetime.now(dt.UTC)


def client_tasks(endpoints, names=tuple(CLIENTS)) -> list[ProbeTask]:
    return [ProbeTask(e, ClientOffer(n), ClientRange.AUTO, spec=client_spec(CLIENTS[n]))
            for e in endpoints for n in names]


def reproduced_leaf(observation: Observation) -> str | None:
    """Run the probe's `reproduce` line as an administrator would; the SHA-256 of the leaf it prints."""
    command = observation.reproduce.removesuffix(" </dev/null")
    result = subprocess.run(shlex.split(command), input=b"", capture_output=True, timeout=30)
    match = re.search(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", result.stdout, re.S)
    if match is None:
        return None
    return hashlib.sha256(x509.load_pem_x509_certificate(match.group()).public_bytes(serialization.Encoding.DER)
                          ).hexdigest()


def leaf_sha256(observation: Observation) -> str:
    return hashlib.sha256(observation.chain_der[0]).hexdigest()


@pytest.fixture(scope="module")
def lab_endpoints(lab):
    return {(e.node, e.service.name): e for e in load_inventory(lab.inventory_path).endpoints()}


# --- the profiles as data --------------------------------------------------------------------

def test_builtin_profiles_cover_the_issue_and_cite_their_sources() -> None:
    assert {"chrome", "firefox", "safari", "edge", "java8", "java11", "java17", "openssl102", "openssl3",
            "schannel", "jabber", "expressway"} <= set(CLIENTS)
    for profile in CLIENTS.values():
        assert profile.source and profile.versions and profile.sigalgs, profile.name
        assert ("tls1.3" in profile.versions) == bool(profile.tls13_ciphers), profile.name
    assert CLIENTS["java8"].versions[-1] == "tls1.2" and "tls1.3" in CLIENTS["chrome"].versions
    # What Cisco does not publish is said to be uncertain, not passed off as fact.
    assert "UNCERTAIN" in CLIENTS["jabber"].uncertain and "UNCERTAIN" in CLIENTS["expressway"].uncertain
    assert CLIENTS["expressway"].ciphers[0].startswith("ECDHE-ECDSA")  # X14.2's ECDSA-first order


@pytest.mark.parametrize(("text", "line", "words"), [
    ("mine:\n  source: x\n  versions: [tls1.2, ssl3]\n  ciphers: [AES128-SHA]\n  sigalgs: [rsa_pkcs1_sha256]\n",
     3, "unknown versions entry 'ssl3'"),
    ("mine:\n  source: x\n  versions: [tls1.2]\n  ciphers: [AES128-SHA]\n  sigalgs: [rsa_md5]\n",
     5, "unknown sigalgs entry 'rsa_md5'"),
    ("mine:\n  versions: [tls1.2]\n", 2, "lacks ciphers, sigalgs, source"),
    ("chrome:\n  key: ecc\n", 2, "'key' must be one of ecdsa, rsa, any"),
    ("chrome:\n  colour: blue\n", 2, "unknown key 'colour'"),
    ("mine:\n  extends: netscape\n", 2, "extends unknown profile 'netscape'"),
    ("java17:\n  services:\n    socketio: {key: ecdsa, validate: maybe}\n", 3, "'validate' must be one of"),
    # `omits:`, the differences a profile states from its source (tests/test_client_profiles_source.py)
    ("mine:\n  extends: java8\n  omits:\n    - {groups: [sect571r1]}\n", 4, "must name one of"),
    ("mine:\n  extends: java8\n  omits:\n    - {groups: [a], versions: [ssl3], why: x}\n", 4, "must name one of"),
    ("mine:\n  extends: java8\n  omits:\n    - {colour: [a], why: x}\n", 4, "unknown key 'colour'"),
    ("mine:\n  extends: java8\n  omits:\n    - {groups: sect571r1, why: x}\n", 4, "'groups' must be a list"),
    ("mine:\n  extends: java8\n  omits: {groups: [a]}\n", 3, "'omits' must be a list"),
])
def test_a_wrong_profile_file_names_its_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as raised:
        load_client_file(path, CLIENTS)
    assert raised.value.line == line and words in str(raised.value), str(raised.value)


def test_policy_clients_section_overrides_and_adds(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("clients:\n  java17:\n    key: ecdsa\n  gadget:\n    extends: chrome\n    source: capture\n"
                      "    accept_versions: [tls1.3]\n    services:\n      socketio: {key: ecdsa}\n")
    clients = load_policy(policy).clients
    assert clients["java17"].expect.key == "ecdsa" and clients["java17"].sigalgs == CLIENTS["java17"].sigalgs
    assert clients["gadget"].ciphers == CLIENTS["chrome"].ciphers and clients["gadget"].source == "capture"
    assert clients["gadget"].expectation("socketio").key == "ecdsa"
    assert clients["gadget"].expectation("socketio").accept_versions == ("tls1.3",)
    assert clients["gadget"].expectation("tomcat").key == "any"


def test_a_profile_file_reads_its_own_bundle_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "profiles" / "clients.yaml"
    path.parent.mkdir()
    path.write_text("ivr:\n  extends: java8\n  trust: [site, ivr-roots.pem]\n")
    ivr = load_client_file(path, CLIENTS)["ivr"]
    assert ivr.trust == ("site", str(tmp_path / "profiles" / "ivr-roots.pem"))
    assert ivr.title.startswith("ivr (based on Java 8") and ivr.sigalgs == CLIENTS["java8"].sigalgs


def test_clients_option_selects_or_names_the_known_profiles() -> None:
    assert [p.name for p in select("java8,chrome", CLIENTS)] == ["java8", "chrome"]
    assert len(select("all", CLIENTS)) == len(CLIENTS)
    with pytest.raises(UsageError, match=r"(?s)unknown client profile 'netscape'.*chrome"):
        select("chrome,netscape", CLIENTS)


# --- the hello each profile sends, as a server sees it ------------------------------------------

SIGALG_CODES = {0x0403: "ecdsa_secp256r1_sha256", 0x0503: "ecdsa_secp384r1_sha384", 0x0603: "ecdsa_secp521r1_sha512",
                0x0203: "ecdsa_sha1", 0x0807: "ed25519", 0x0808: "ed448", 0x0804: "rsa_pss_rsae_sha256",
                0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512", 0x0809: "rsa_pss_pss_sha256",
                0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512", 0x0401: "rsa_pkcs1_sha256",
                0x0501: "rsa_pkcs1_sha384", 0x0601: "rsa_pkcs1_sha512", 0x0201: "rsa_pkcs1_sha1",
                0x0303: "ecdsa_sha224", 0x0301: "rsa_pkcs1_sha224"}
VERSION_CODES = {0x0301: "tls1.0", 0x0302: "tls1.1", 0x0303: "tls1.2", 0x0304: "tls1.3"}


def parse_client_hello(record: bytes) -> dict[str, list]:
    """Cipher suites, supported_versions and signature_algorithms of one ClientHello record."""
    body = record[5 + 4:]
    at = 2 + 32
    at += 1 + body[at]
    length = int.from_bytes(body[at:at + 2], "big")
    suites = [int.from_bytes(body[at + 2 + i:at + 4 + i], "big") for i in range(0, length, 2)]
    at += 2 + length
    at += 1 + body[at]
    end = at + 2 + int.from_bytes(body[at:at + 2], "big")
    at += 2
    found: dict[str, list] = {"suites": suites, "versions": [], "sigalgs": []}
    while at < end:
        kind, size = int.from_bytes(body[at:at + 2], "big"), int.from_bytes(body[at + 2:at + 4], "big")
        data = body[at + 4:at + 4 + size]
        if kind == 0x2B:
            found["versions"] = [int.from_bytes(data[1 + i:3 + i], "big") for i in range(0, data[0], 2)]
        elif kind == 0x0D:
            found["sigalgs"] = [int.from_bytes(data[2 + i:4 + i], "big") for i in range(0, size - 2, 2)]
        at += 4 + size
    return found


@contextlib.contextmanager
def hello_catcher() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server that keeps each connection's first TLS record (the ClientHello) and hangs up."""
    caught: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(5)
                    data = b""
                    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    caught.append(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], caught
    finally:
        listener.close()
        thread.join(timeout=5)


def openssl_suite_codes(cipher_list: str) -> list[int]:
    """The IANA codes, in order, that OpenSSL makes of a cipher list (`openssl ciphers -V`)."""
    out = subprocess.run(["openssl", "ciphers", "-V", "-tls1_2", cipher_list], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    codes = [int(a, 16) << 8 | int(b, 16) for a, b in re.findall(r"0x([0-9A-F]{2}),0x([0-9A-F]{2})", out)]
    return [c for c in codes if c >> 8 != 0x13]  # it lists the default TLS 1.3 suites too


@pytest.mark.parametrize("name", list(CLIENTS))
def test_each_profile_sends_its_versions_suites_and_signature_algorithms(tmp_path: Path, name: str) -> None:
    profile = CLIENTS[name]
    inventory = tmp_path / "catch.yaml"
    with hello_catcher() as (port, caught):
        inventory.write_text(f"site: t\nnodes:\n  - name: n\n    host: catch.example.test\n    address: 127.0.0.1\n"
                             f"    services: [{{name: https, port: {port}}}]\n")
        ProbeRunner().run(client_tasks(load_inventory(inventory).endpoints(), (name,)))
    hello = parse_client_hello(caught[0])
    assert [SIGALG_CODES[c] for c in hello["sigalgs"]] == list(profile.sigalgs)
    if hello["versions"]:  # supported_versions: TLS 1.3 clients list their whole range
        assert sorted(VERSION_CODES[v] for v in hello["versions"]) == sorted(profile.versions)
    else:  # a client whose highest version is TLS 1.2 says so in the legacy field only
        assert max(profile.versions) == "tls1.2" and caught[0][9:11] == b"\x03\x03"
    tls13 = [c for c in hello["suites"] if c >> 8 == 0x13]
    named13 = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
               0x1303: "TLS_CHACHA20_POLY1305_SHA256"}
    assert [named13[c] for c in tls13] == list(profile.tls13_ciphers)
    tls12 = [c for c in hello["suites"] if c >> 8 != 0x13 and c != 0x00FF]  # 0x00FF: renegotiation SCSV
    assert tls12 == openssl_suite_codes(":".join(profile.ciphers) + ":@SECLEVEL=0")
    # OpenSSL 3 cannot send 3DES suites (docs/clients.md); every other suite of the profile is sent.
    assert len(tls12) == len([c for c in profile.ciphers if "DES-CBC3" not in c])


# --- against the embedded lab ------------------------------------------------------------------

def test_java8_gets_tls12_and_chrome_tls13_each_the_leaf_openssl_gets(lab_endpoints) -> None:
    """The issue's first must: a dual-certificate server speaking TLS 1.3 (the S3 Socket.IO)."""
    endpoint = lab_endpoints[("s3-uccx-pub", "socketio")]
    results = ProbeRunner().run(client_tasks([endpoint], ("java8", "chrome")))
    java8, chrome = (results[t.key] for t in client_tasks([endpoint], ("java8", "chrome")))
    assert java8.negotiated_version == "TLSv1.2" and chrome.negotiated_version == "TLSv1.3"
    for observation in (java8, chrome):
        assert observation.outcome is Outcome.OK and observation.key.test_id.endswith(":auto")
        assert reproduced_leaf(observation) == leaf_sha256(observation), observation.reproduce


def test_reproduce_shows_the_same_leaf_for_every_offer_and_client(lab_endpoints) -> None:
    """Every service of an S3 UCCX, an S2 SocialMiner and an IM&P node (XMPP STARTTLS), the three offers
    at both versions and every client profile: the pasted command sees the probe's leaf."""
    endpoints = [e for (node, _), e in lab_endpoints.items() if node in ("s3-uccx-pub", "s2-sm", "collab-imp")]
    tasks = [ProbeTask(e, o, v) for e in endpoints for o in Offer for v in TLSVersion] + client_tasks(endpoints)
    results = ProbeRunner().run(tasks)
    checked = 0
    for observation in results.values():
        assert observation.reproduce.startswith("openssl s_client -connect ")
        if observation.outcome is Outcome.OK:
            assert reproduced_leaf(observation) == leaf_sha256(observation), observation.reproduce
            checked += 1
    assert checked >= len(endpoints) * (len(CLIENTS) + 4)
    assert any("-starttls xmpp" in o.reproduce for o in results.values())


def client_case(observation: Observation, endpoint, trust: TrustStore | None) -> ClientCase:
    assert isinstance(observation.key.offer, ClientOffer)
    return ClientCase(endpoint, CLIENTS[observation.key.offer.profile], observation, trust, NOW)


def test_s3_every_client_validates_what_it_gets_on_every_agent_facing_service(lab, lab_endpoints) -> None:
    trust = TrustStore.from_pem_file(Path(load_inventory(lab.inventory_path).trust))
    endpoints = [e for (node, _), e in lab_endpoints.items() if node.startswith("s3-")]
    results = ProbeRunner().run(client_tasks(endpoints))
    for task in client_tasks(endpoints):
        case = client_case(results[task.key], task.endpoint, trust)
        for check in (client_rules.client_key, client_rules.client_accepts, client_rules.client_protocol):
            verdict = check(case)
            assert verdict.status is Status.PASS, verdict.text()


def test_s4_browsers_prompt_and_java_refuses_the_self_signed_socketio(lab, lab_endpoints) -> None:
    trust = TrustStore.from_pem_file(Path(load_inventory(lab.inventory_path).trust))
    endpoint = lab_endpoints[("s4-uccx-pub", "socketio")]
    tasks = client_tasks([endpoint], ("chrome", "java17"))
    results = ProbeRunner().run(tasks)
    chrome, java = (client_case(results[t.key], endpoint, trust) for t in tasks)
    assert chrome.chain.leaf.self_signed and java.chain.leaf.self_signed
    for case, effect in ((chrome, "prompts the user"), (java, "refuses it")):
        verdict = client_rules.client_accepts(case)
        assert verdict.status is Status.FAIL and effect in verdict.message, verdict.text()
        assert "tomcat-ECDSA" in verdict.fix


# --- against servers nobody here wrote ----------------------------------------------------------

@contextlib.contextmanager
def s_server_dual(rsa: tuple[Path, Path], ec: tuple[Path, Path], chain: Path) -> Iterator[int]:
    """`openssl s_server` with an RSA and an ECDSA certificate, TLS 1.2 and 1.3, client's preference."""
    binary = debian_binary("openssl", "openssl")
    port = free_port()
    command = [binary, "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-www",
               "-cert", str(rsa[0]), "-key", str(rsa[1]), "-cert_chain", str(chain),
               "-dcert", str(ec[0]), "-dkey", str(ec[1]), "-dcert_chain", str(chain)]
    with running(command, port):
        yield port


def inventory_at(tmp_path: Path, port: int, trust: Path, role: str = "generic") -> Path:
    path = tmp_path / f"peer-{port}-{role}.yaml"
    path.write_text(f"site: peer\ntrust: {trust}\nnodes:\n  - name: peer\n    host: dual.example.test\n"
                    f"    address: 127.0.0.1\n    role: {role}\n    services: [{{name: https, port: {port}}}]\n")
    return path


def test_nginx_answers_each_profile_and_offer_as_openssl_s_client_does(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    with nginx_dual(pki) as port:
        endpoints = load_inventory(inventory_at(tmp_path, port, pki.roots)).endpoints()
        offers = [ProbeTask(e, o, v) for e in endpoints for o in Offer for v in TLSVersion]
        negotiated = assert_same_leaf_as_reproduce(ProbeRunner().run(client_tasks(endpoints) + offers))
    assert negotiated["client-java8"] == "TLSv1.2" and negotiated["client-chrome"] == "TLSv1.3"


def assert_same_leaf_as_reproduce(results: dict) -> dict[str, str | None]:
    """Every client's probe completed and its `reproduce` line sees the same leaf; the negotiated versions."""
    for observation in results.values():
        assert observation.outcome is Outcome.OK, observation
        assert reproduced_leaf(observation) == leaf_sha256(observation), observation.reproduce
    return {k.offer.value: o.negotiated_version for k, o in results.items()}


def test_tomcat_answers_each_profile_as_openssl_s_client_does(tmp_path: Path) -> None:
    """Tomcat 10 (JSSE) holding an RSA and an EC certificate, as VOS Tomcat holds tomcat and tomcat-ECDSA."""
    pki = make_pki(tmp_path)
    with tomcat_dual(pki) as port:
        endpoints = load_inventory(inventory_at(tmp_path, port, pki.roots)).endpoints()
        negotiated = assert_same_leaf_as_reproduce(ProbeRunner().run(client_tasks(endpoints)))
    assert negotiated["client-java8"] == "TLSv1.2" and negotiated["client-chrome"] == "TLSv1.3"


def test_prosody_xmpp_starttls_answers_each_profile_as_openssl_s_client_does(prosody, tmp_path: Path) -> None:  # noqa: F811
    pki, c2s, s2s = prosody
    endpoints = prosody_inventory(tmp_path, c2s, s2s, pki.roots).endpoints()
    results = ProbeRunner().run(client_tasks(endpoints))
    assert all("-starttls xmpp" in o.reproduce and "-xmpphost xmpp.dualcert.test" in o.reproduce
               for o in results.values())
    negotiated = assert_same_leaf_as_reproduce(results)
    assert negotiated["client-java8"] == "TLSv1.2"


def test_s2_ecdsa_leaf_under_an_rsa_ca_names_the_clients_that_break(tmp_path: Path) -> None:
    """The issue's second must: a VOS server presenting an ECDSA leaf signed by an RSA CA (S2) breaks the
    clients that get it (CSCvb58580, the VOS components' fault); on any other server TLS clients accept
    that chain, and no client is said to break."""
    rsa_root = CA.root("Peer RSA Root", KeySpec.rsa())
    rsa_issuing = rsa_root.sub_ca("Peer RSA Issuing CA")
    names = ["dual.example.test", "127.0.0.1"]
    rsa = rsa_issuing.issue(names, KeySpec.rsa()).write(tmp_path, "rsa")
    ec_leaf = rsa_issuing.issue(names, KeySpec.ec())
    (tmp_path / "ec-leaf.pem").write_bytes(ec_leaf.cert.public_bytes(serialization.Encoding.PEM))
    ec_key = ec_leaf.write(tmp_path, "ec")[1]
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(rsa_issuing.cert.public_bytes(serialization.Encoding.PEM))
    roots = tmp_path / "roots.pem"
    roots.write_bytes(rsa_root.cert.public_bytes(serialization.Encoding.PEM))
    trust = TrustStore.from_pem_file(roots)
    broken: dict[str, set[str]] = {}
    with s_server_dual(rsa, (tmp_path / "ec-leaf.pem", ec_key), issuing) as port:
        for role in ("socialminer", "generic"):
            endpoints = [e for e in load_inventory(inventory_at(tmp_path, port, roots, role)).endpoints()
                         if e.port == port]
            results = ProbeRunner().run(client_tasks(endpoints))
            for observation in results.values():
                assert reproduced_leaf(observation) == leaf_sha256(observation), observation.reproduce
            verdicts = {t.offer.value: client_rules.client_accepts(client_case(results[t.key], t.endpoint, trust))
                        for t in client_tasks(endpoints)}
            broken[role] = {name for name, v in verdicts.items() if v.status is Status.FAIL}
            assert all("CSCvb58580" in verdicts[name].message for name in broken[role])
    # ECDSA-first clients get the mixed chain; OpenSSL 1.0.2 lists ECDHE-RSA first and gets RSA.
    assert {"client-chrome", "client-java8", "client-safari"} <= broken["socialminer"]
    assert "client-openssl102" not in broken["socialminer"]
    assert broken["generic"] == set()


def test_a_run_with_clients_records_client_probes_and_tests(lab, tmp_path: Path) -> None:
    results = tmp_path / "run.json"
    outcome = run_cli("run", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path),
                      "--json", str(results), "--html", str(tmp_path / "run.html"),
                      "--clients", "chrome,java8", "--", "-k", "s2 or s3 or s4", cwd=tmp_path)
    assert outcome.returncode == 1, outcome.stdout[-2000:] + outcome.stderr[-2000:]  # S4 fails
    data = load_document(results)
    schema = json.loads((Path(__file__).parents[1] / "schema" / "results.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        json.loads(results.read_text()))
    assert data["run"]["clients"] == ["chrome", "java8"]
    clients = [p for p in data["probes"] if p["offer"].startswith("client-")]
    assert {p["offer"] for p in clients} == {"client-chrome", "client-java8"}
    assert all(p["tls_version"] == "auto" and p["reproduce"] for p in data["probes"] if p in clients)
    assert all(p["reproduce"].startswith("openssl s_client") for p in data["probes"])
    socketio = {p["offer"]: p["negotiated_version"] for p in clients if p["node"] == "s3-uccx-pub"
                and p["service"] == "socketio"}
    assert socketio == {"client-chrome": "TLSv1.3", "client-java8": "TLSv1.2"}
    ids = {(t["id"], t["rule"]) for t in data["tests"] if ":client-" in t["id"]}
    assert ("s3-uccx-pub:socketio:client-chrome:auto", "client_accepts") in ids
    assert {rule for _, rule in ids} == {"client_key", "client_accepts", "client_protocol"}
    # The terminal names the clients that break: S4's self-signed Socket.IO, never S3.
    breaks = [line for line in outcome.stdout.splitlines() if line.startswith("  BREAKS ")]
    assert "Clients that would break: chrome" in outcome.stdout
    assert any("s4-uccx-pub:socketio:client-chrome:auto client_accepts" in line for line in breaks)
    # S2: SocialMiner's ECDSA certificate is under an RSA CA (CSCvb58580): its clients are named.
    assert any("s2-sm:openfire:client-java8:auto client_accepts" in line and "CSCvb58580" in line for line in breaks)
    assert not any(line.startswith(("  BREAKS s3-", "  BREAKS s2-uccx")) for line in breaks)
    # The report's "who gets what": a row per client, a column per node, and the diagnosis points at it.
    html = (tmp_path / "run.html").read_text()
    section = html[html.index('id="dc-clients"'):]
    section = section[:section.index("</section>")]
    assert "<h3>socketio</h3>" in section and "<th>s4-uccx-pub</th>" in section and "java8" in section
    assert "ECDSA · self-signed · TLSv1.3" in section and "breaks" in section and "accepted" in section
    assert 'href="#dc-clients"' in html


def test_client_tests_follow_the_items_mode_and_vanish_without_clients(lab, tmp_path: Path) -> None:
    """--dualcert-items endpoint: one test per client probe judging its three rules; no --clients: none."""
    common = ("run", "--inventory", str(lab.inventory_path), "--policy", str(lab.policy_path),
              "--html", str(tmp_path / "r.html"))
    outcome = run_cli(*common, "--json", str(tmp_path / "a.json"), "--clients", "java8", "--", "-k", "s4-uccx-pub",
                      "--dualcert-items", "endpoint", cwd=tmp_path)
    assert outcome.returncode == 1, outcome.stdout[-2000:] + outcome.stderr[-2000:]
    tests = load_document(tmp_path / "a.json")["tests"]
    socketio = [t for t in tests if t["id"] == "s4-uccx-pub:socketio:client-java8:auto"]
    assert {t["rule"] for t in socketio} == {"client_key", "client_accepts", "client_protocol"}
    assert all("test_client_rules[" in t["nodeid"] for t in socketio)  # one test, a record per rule
    assert next(t for t in socketio if t["rule"] == "client_accepts")["status"] == "fail"
    bare = run_cli(*common, "--json", str(tmp_path / "b.json"), "--", "-k", "s3-uccx-pub", cwd=tmp_path)
    assert bare.returncode == 0, bare.stdout[-2000:] + bare.stderr[-2000:]
    bare_tests = load_document(tmp_path / "b.json")["tests"]
    assert bare_tests and not any("test_client" in t["nodeid"] for t in bare_tests)  # not even skipped



def test_s2_names_socialminers_clients_as_broken_and_warns_elsewhere(lab) -> None:
    """S2 gives every client RSA (the server prefers it); the ECDSA certificate under an RSA CA still
    breaks SocialMiner's chat/email (CSCvb58580): its clients fail, the UCCX's clients are warned."""
    run = DualcertRun.from_files(lab.inventory_path, lab.policy_path, RunOptions(clients="chrome,java17"))
    nodes = {"s2-sm", "s2-uccx-pub"}
    run.probe([k for k in (*run.keys(), *run.client_keys()) if k.node in nodes])
    verdicts = {(k.node, k.service, k.offer.value): client_rules.client_accepts(run.client_case(k))
                for k in run.client_keys() if k.node in nodes}
    for (node, service, client), verdict in verdicts.items():
        assert "RSA" in verdict.message and "CSCvb58580" in verdict.message, verdict.text()
        expected = Status.FAIL if node == "s2-sm" else Status.WARN
        assert verdict.status is expected, (node, service, client, verdict.text())
    assert {client for (node, _, client) in verdicts if node == "s2-sm"} == {"client-chrome", "client-java17"}


def test_a_refused_client_sends_no_control_hello_and_is_no_evidence_for_the_offers(tmp_path: Path) -> None:
    """A TLS-1.2-only, RSA-only server (OpenSSL's fixed TLSv1_2_method, like 1.0.2): an ECDSA-only client
    is refused (handshake_failure) and recorded as it is, without a control hello; the offers' control
    hello for TLS 1.3 is sent once, as without clients, and Chrome still connects over TLS 1.2."""
    from dataclasses import replace

    from .thirdparty import openssl_fixed_tls12

    ecdsa_only = replace(CLIENTS["java8"], name="ecdsa-only", versions=("tls1.2",),
                         ciphers=("ECDHE-ECDSA-AES128-GCM-SHA256",), tls13_ciphers=())
    profiles = {"ecdsa-only": ecdsa_only, "chrome": CLIENTS["chrome"]}
    pki = make_pki(tmp_path)
    connections: list[int] = []
    with openssl_fixed_tls12(pki, connections) as port:
        endpoint = load_inventory(inventory_at(tmp_path, port, pki.roots)).endpoints()[0]
        offers = [ProbeTask(endpoint, o, v) for o in Offer for v in TLSVersion]
        clients = [ProbeTask(endpoint, ClientOffer(n), ClientRange.AUTO, spec=client_spec(p))
                   for n, p in profiles.items()]
        results = ProbeRunner().run(offers + clients)
    assert set(results) == {t.key for t in offers + clients}  # the control hello is no result of its own
    refused = results[clients[0].key]
    assert refused.outcome is Outcome.REFUSED and refused.alert == "handshake_failure", refused
    assert "control hello" not in refused.detail and "the server speaks" not in refused.detail, refused.detail
    chrome = results[clients[1].key]
    assert chrome.outcome is Outcome.OK and chrome.negotiated_version == "TLSv1.2"
    assert all(results[t.key].outcome is Outcome.UNSUPPORTED for t in offers if t.version is TLSVersion.TLS1_3)
    ecdsa12 = next(results[t.key] for t in offers if t.offer is Offer.ECDSA and t.version is TLSVersion.TLS1_2)
    assert ecdsa12.outcome is Outcome.REFUSED and "another offer of it completed" in ecdsa12.detail
    # 6 offers, one control hello for TLS 1.3, one handshake per client: none for a client's refusal.
    assert len(connections) == len(offers) + 1 + len(clients), len(connections)
