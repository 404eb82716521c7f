"""The built-in client profiles against their source (issue 23, section 4): testssl.sh's
etc/client-simulation.txt at the commit clients.yaml cites, vendored byte for byte as
tests/data/testssl-client-simulation.txt (its README says where from and under which licence).

The file is read here, by a parser and a ClientHello decoder of dualcert's own: its bash array
assignments (an entry per `names+=`) and, in each entry, the recorded ClientHello
(`handshakebytes`), decoded for the versions, cipher suites, signature_algorithms(_cert) and
supported_groups the client offers. A profile must list exactly those, in the client's order,
except what its `omits:` names with a reason; a stated omission that is no difference fails too."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from dualcert.policy.clients import OMITTABLE, ClientProfile, builtin_clients

DATA = Path(__file__).parent / "data"
SOURCE = DATA / "testssl-client-simulation.txt"
COMMIT = "9fdf8028baba86d83218db294a5776384ec8c332"
BLOBS = {SOURCE: "e7af0bd27d879d88e7374a90fea320f39b6e2edf",  # git's ids of the files at COMMIT
         DATA / "testssl-LICENSE": "d159169d1050894d3ea3b98e1c965c4058208fe1"}
CLIENTS = builtin_clients()
NOT_FROM_TESTSSL = {"jabber", "expressway"}  # Cisco publishes no hello: their lists are marked UNCERTAIN

# --- the code points, by the names dualcert's profiles use ------------------------------------------
# Versions, IANA TLS parameters; "ssl3" is not in dualcert's vocabulary, only in omissions.
VERSIONS = {0x0300: "ssl3", 0x0301: "tls1.0", 0x0302: "tls1.1", 0x0303: "tls1.2", 0x0304: "tls1.3"}
TLS13_SUITES = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
                0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256",
                0x1305: "TLS_AES_128_CCM_8_SHA256"}
# TLS 1.2 and older suites by OpenSSL's names (`openssl ciphers -V`; for those OpenSSL 3 no longer
# knows, its 1.0.2 names). Only the suites of the entries the profiles name: another entry may
# need more, and the decoder then names the code it lacks.
SUITES = {
    0x0004: "RC4-MD5", 0x0005: "RC4-SHA", 0x0007: "IDEA-CBC-SHA", 0x0009: "DES-CBC-SHA", 0x000A: "DES-CBC3-SHA",
    0x000C: "DH-DSS-DES-CBC-SHA", 0x000D: "DH-DSS-DES-CBC3-SHA", 0x000F: "DH-RSA-DES-CBC-SHA",
    0x0010: "DH-RSA-DES-CBC3-SHA", 0x0012: "EDH-DSS-DES-CBC-SHA", 0x0013: "EDH-DSS-DES-CBC3-SHA",
    0x0015: "EDH-RSA-DES-CBC-SHA", 0x0016: "EDH-RSA-DES-CBC3-SHA", 0x002F: "AES128-SHA",
    0x0030: "DH-DSS-AES128-SHA", 0x0031: "DH-RSA-AES128-SHA", 0x0032: "DHE-DSS-AES128-SHA",
    0x0033: "DHE-RSA-AES128-SHA", 0x0035: "AES256-SHA", 0x0036: "DH-DSS-AES256-SHA", 0x0037: "DH-RSA-AES256-SHA",
    0x0038: "DHE-DSS-AES256-SHA", 0x0039: "DHE-RSA-AES256-SHA", 0x003C: "AES128-SHA256", 0x003D: "AES256-SHA256",
    0x003E: "DH-DSS-AES128-SHA256", 0x003F: "DH-RSA-AES128-SHA256", 0x0040: "DHE-DSS-AES128-SHA256",
    0x0041: "CAMELLIA128-SHA", 0x0042: "DH-DSS-CAMELLIA128-SHA", 0x0043: "DH-RSA-CAMELLIA128-SHA",
    0x0044: "DHE-DSS-CAMELLIA128-SHA", 0x0045: "DHE-RSA-CAMELLIA128-SHA", 0x0067: "DHE-RSA-AES128-SHA256",
    0x0068: "DH-DSS-AES256-SHA256", 0x0069: "DH-RSA-AES256-SHA256", 0x006A: "DHE-DSS-AES256-SHA256",
    0x006B: "DHE-RSA-AES256-SHA256", 0x0084: "CAMELLIA256-SHA", 0x0085: "DH-DSS-CAMELLIA256-SHA",
    0x0086: "DH-RSA-CAMELLIA256-SHA", 0x0087: "DHE-DSS-CAMELLIA256-SHA", 0x0088: "DHE-RSA-CAMELLIA256-SHA",
    0x0096: "SEED-SHA", 0x0097: "DH-DSS-SEED-SHA", 0x0098: "DH-RSA-SEED-SHA", 0x0099: "DHE-DSS-SEED-SHA",
    0x009A: "DHE-RSA-SEED-SHA", 0x009C: "AES128-GCM-SHA256", 0x009D: "AES256-GCM-SHA384",
    0x009E: "DHE-RSA-AES128-GCM-SHA256", 0x009F: "DHE-RSA-AES256-GCM-SHA384", 0x00A0: "DH-RSA-AES128-GCM-SHA256",
    0x00A1: "DH-RSA-AES256-GCM-SHA384", 0x00A2: "DHE-DSS-AES128-GCM-SHA256", 0x00A3: "DHE-DSS-AES256-GCM-SHA384",
    0x00A4: "DH-DSS-AES128-GCM-SHA256", 0x00A5: "DH-DSS-AES256-GCM-SHA384", 0xC002: "ECDH-ECDSA-RC4-SHA",
    0xC003: "ECDH-ECDSA-DES-CBC3-SHA", 0xC004: "ECDH-ECDSA-AES128-SHA", 0xC005: "ECDH-ECDSA-AES256-SHA",
    0xC007: "ECDHE-ECDSA-RC4-SHA", 0xC008: "ECDHE-ECDSA-DES-CBC3-SHA", 0xC009: "ECDHE-ECDSA-AES128-SHA",
    0xC00A: "ECDHE-ECDSA-AES256-SHA", 0xC00C: "ECDH-RSA-RC4-SHA", 0xC00D: "ECDH-RSA-DES-CBC3-SHA",
    0xC00E: "ECDH-RSA-AES128-SHA", 0xC00F: "ECDH-RSA-AES256-SHA", 0xC011: "ECDHE-RSA-RC4-SHA",
    0xC012: "ECDHE-RSA-DES-CBC3-SHA", 0xC013: "ECDHE-RSA-AES128-SHA", 0xC014: "ECDHE-RSA-AES256-SHA",
    0xC023: "ECDHE-ECDSA-AES128-SHA256", 0xC024: "ECDHE-ECDSA-AES256-SHA384", 0xC025: "ECDH-ECDSA-AES128-SHA256",
    0xC026: "ECDH-ECDSA-AES256-SHA384", 0xC027: "ECDHE-RSA-AES128-SHA256", 0xC028: "ECDHE-RSA-AES256-SHA384",
    0xC029: "ECDH-RSA-AES128-SHA256", 0xC02A: "ECDH-RSA-AES256-SHA384", 0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256",
    0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384", 0xC02D: "ECDH-ECDSA-AES128-GCM-SHA256",
    0xC02E: "ECDH-ECDSA-AES256-GCM-SHA384", 0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC030: "ECDHE-RSA-AES256-GCM-SHA384", 0xC031: "ECDH-RSA-AES128-GCM-SHA256", 0xC032: "ECDH-RSA-AES256-GCM-SHA384",
    0xCCA8: "ECDHE-RSA-CHACHA20-POLY1305", 0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305",
    0xCCAA: "DHE-RSA-CHACHA20-POLY1305",
}
# Signalling values in the cipher suite list, not suites: OpenSSL adds 0x00FF itself (RFC 5746).
SCSVS = {0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV"}
# SignatureScheme (RFC 8446) and TLS 1.2's (hash, signature) pairs (RFC 5246), by OpenSSL 3.5's names.
SIGALGS = {
    0x0201: "rsa_pkcs1_sha1", 0x0202: "dsa_sha1", 0x0203: "ecdsa_sha1", 0x0301: "rsa_pkcs1_sha224",
    0x0302: "dsa_sha224", 0x0303: "ecdsa_sha224", 0x0401: "rsa_pkcs1_sha256", 0x0402: "dsa_sha256",
    0x0403: "ecdsa_secp256r1_sha256", 0x0501: "rsa_pkcs1_sha384", 0x0502: "dsa_sha384",
    0x0503: "ecdsa_secp384r1_sha384", 0x0601: "rsa_pkcs1_sha512", 0x0602: "dsa_sha512",
    0x0603: "ecdsa_secp521r1_sha512", 0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384",
    0x0806: "rsa_pss_rsae_sha512", 0x0807: "ed25519", 0x0808: "ed448", 0x0809: "rsa_pss_pss_sha256",
    0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
}
# NamedGroup (RFC 8422, RFC 7027, RFC 7919; X25519MLKEM768: IANA's TLS Supported Groups registry).
GROUPS = {
    0x0009: "sect283k1", 0x000A: "sect283r1", 0x000B: "sect409k1", 0x000C: "sect409r1", 0x000D: "sect571k1",
    0x000E: "sect571r1", 0x0016: "secp256k1", 0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1",
    0x001A: "brainpoolP256r1", 0x001B: "brainpoolP384r1", 0x001C: "brainpoolP512r1", 0x001D: "x25519",
    0x001E: "x448", 0x0100: "ffdhe2048", 0x0101: "ffdhe3072", 0x0102: "ffdhe4096", 0x0103: "ffdhe6144",
    0x0104: "ffdhe8192", 0x11EC: "X25519MLKEM768",
}
SUPPORTED_GROUPS, SIGNATURE_ALGORITHMS, SUPPORTED_VERSIONS, SIGNATURE_ALGORITHMS_CERT = 0x000A, 0x000D, 0x002B, 0x0032


# --- the file's entries ------------------------------------------------------------------------

# One assignment a line: `field+=("text")` or `field+=(word)`. Nothing is evaluated ("$SNI" stays text).
_ASSIGNMENT = re.compile(r'([A-Za-z_]\w*)\+=\((?:"([^"\\]*)"|([\w.-]+))\)')


def read_entries(text: str) -> dict[str, list[dict[str, str]]]:
    """Each entry's fields, by client name. `names+=` opens an entry and the assignments after it
    are its fields. A line that is neither blank, a comment nor one assignment fails the reading
    rather than being skipped, and so does a field given twice in one entry."""
    entries: dict[str, list[dict[str, str]]] = {}
    entry: dict[str, str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGNMENT.fullmatch(stripped)
        if match is None:
            raise ValueError(f"line {number}: not one array assignment: {stripped[:80]!r}")
        key, quoted, word = match.groups()
        value = word if quoted is None else quoted
        if key == "names":
            entry = {}
            entries.setdefault(value, []).append(entry)
        elif entry is None or key in entry:
            raise ValueError(f"line {number}: {key} outside an entry, or twice in one")
        entry[key] = value
    return entries


class _Cursor:
    """Reads a byte string front to back; running past its end or leaving bytes unread is an error."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.at, self.what = data, 0, what

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise ValueError(f"{self.what}: {size} bytes wanted at offset {self.at}, {len(self.data)} in all")
        self.at += size
        return self.data[self.at - size:self.at]

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int, what: str) -> _Cursor:
        return _Cursor(self.take(self.number(length_size)), what)

    def more(self) -> bool:
        return self.at < len(self.data)

    def done(self) -> None:
        if self.more():
            raise ValueError(f"{self.what}: {len(self.data) - self.at} bytes left over")

    def numbers(self) -> list[int]:
        """The rest as 16-bit code points (suites, groups, schemes, versions)."""
        out = []
        while self.more():
            out.append(self.number(2))
        return out


@dataclass(frozen=True)
class Hello:
    legacy_version: int
    suites: tuple[int, ...]
    extensions: dict[int, bytes]


def decode_hello(record: bytes) -> Hello:
    """One TLS record holding one whole ClientHello (RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2)."""
    outer = _Cursor(record, "handshakebytes")
    if outer.number(1) != 22:
        raise ValueError("not a TLS handshake record (an SSLv2-format hello?)")
    outer.take(2)  # the record layer's version says nothing about the client's
    message = outer.vector(2, "handshake record")
    outer.done()
    if message.number(1) != 1:
        raise ValueError("not a ClientHello")
    hello = message.vector(3, "ClientHello")
    message.done()
    legacy_version = hello.number(2)
    hello.take(32)  # random
    hello.vector(1, "session id")
    suites = hello.vector(2, "cipher suites").numbers()
    hello.vector(1, "compression methods")
    extensions: dict[int, bytes] = {}
    if hello.more():  # a hello before TLS 1.2 may have no extensions at all
        block = hello.vector(2, "extensions")
        while block.more():
            kind = block.number(2)
            if kind in extensions:
                raise ValueError(f"extension {kind:#06x} twice")
            extensions[kind] = block.take(block.number(2))
    hello.done()
    return Hello(legacy_version, tuple(suites), extensions)


def is_grease(code: int) -> bool:
    """RFC 8701's reserved values (0x0A0A, 0x1A1A, ... 0xFAFA): sent to keep servers tolerant, never chosen."""
    return code & 0x0F0F == 0x0A0A and code >> 8 == code & 0xFF


def named(codes: list[int], table: dict[int, str], what: str) -> list[str]:
    unknown = [f"{c:#06x}" for c in codes if c not in table]
    if unknown:
        raise ValueError(f"no name for {what} {', '.join(unknown)}: add it to this test's table")
    return [table[c] for c in codes]


def offered(entry: dict[str, str]) -> dict[str, list[str]]:
    """What an entry's client offers, by profile field, in its own order (versions lowest first)."""
    hello = decode_hello(bytes.fromhex(entry["handshakebytes"]))

    def extension(kind: int, length_size: int) -> list[int]:
        if kind not in hello.extensions:
            return []
        data = _Cursor(hello.extensions[kind], f"extension {kind:#06x}")
        codes = data.vector(length_size, f"extension {kind:#06x}'s list").numbers()
        data.done()
        return [c for c in codes if not is_grease(c)]

    if SUPPORTED_VERSIONS in hello.extensions:  # TLS 1.3 clients list every version they speak
        versions = sorted(extension(SUPPORTED_VERSIONS, 1))
    else:  # older ones send their highest; the lowest is only in the entry (`lowest_protocol`)
        versions = list(range(int(entry["lowest_protocol"], 16), hello.legacy_version + 1))
    suites = [c for c in hello.suites if not is_grease(c) and c not in SCSVS]
    return {
        "versions": named(versions, VERSIONS, "version"),
        "ciphers": named([c for c in suites if c >> 8 != 0x13], SUITES, "cipher suite"),
        "tls13_ciphers": named([c for c in suites if c >> 8 == 0x13], TLS13_SUITES, "TLS 1.3 cipher suite"),
        "sigalgs": named(extension(SIGNATURE_ALGORITHMS, 2), SIGALGS, "signature scheme"),
        "sigalgs_cert": named(extension(SIGNATURE_ALGORITHMS_CERT, 2), SIGALGS, "signature scheme"),
        "groups": named(extension(SUPPORTED_GROUPS, 2), GROUPS, "group"),
    }


def contradicted(entry: dict[str, str], offer: dict[str, list[str]]) -> list[str]:
    """The entry's own fields that its recorded hello contradicts. The profiles follow the hello
    (what the client sent), so each such field is a difference the profile must state."""
    def listed(field: str) -> list[str]:  # the older entries spell secp256r1 OpenSSL's way
        return [{"prime256v1": "secp256r1"}.get(n, n) for n in entry[field].split(":") if n]

    versions = [VERSIONS[int(entry[f], 16)] for f in ("lowest_protocol", "highest_protocol")]
    return [field for field, agrees in (
        ("ch_ciphers", listed("ch_ciphers") == offer["ciphers"]),
        ("ciphersuites", listed("ciphersuites") == offer["tls13_ciphers"]),
        ("curves", listed("curves") == offer["groups"]),
        ("lowest_protocol", versions[0] == offer["versions"][0]),
        ("highest_protocol", versions[1] == offer["versions"][-1]),
    ) if not agrees]


def differences(profile: ClientProfile, offer: dict[str, list[str]]) -> list[str]:
    """Each way the profile differs from the hello it names that its `omits:` does not state, and
    each stated omission that is no difference. A value the hello repeats is kept once, where it
    first appears (OpenSSL sends a scheme once): the repeat is an omission like any other."""
    problems = []
    for field in OMITTABLE:
        ours = list(getattr(profile, field))
        kept: list[str] = []
        left_out: list[str] = []
        for item in offer[field]:
            (kept if item in ours and item not in kept else left_out).append(item)
        stated = {item for o in profile.omits if o.field == field for item in o.items}
        if kept != ours:
            extra = [item for item in ours if item not in offer[field]]
            problems.append(f"{field}: the source's order is {kept}, the profile lists {ours}"
                            + (f" (not in the source: {extra})" if extra else ""))
        if silent := [item for item in left_out if item not in stated]:
            problems.append(f"{field}: {silent} left out without an `omits:` entry saying why")
        if stale := sorted(stated - set(left_out)):
            problems.append(f"{field}: `omits:` names {stale}, which the profile has or the source lacks")
    return problems


def cited_entries(profile: ClientProfile) -> list[str]:
    """The entries a profile's `source:` names: "[testssl] 'Java 11.0.2 (OpenJDK)'"."""
    if not profile.source.startswith("[testssl] "):
        return []
    return re.findall(r"'([^']+)'", profile.source)


ENTRIES = read_entries(SOURCE.read_text(encoding="utf-8"))
FROM_TESTSSL = [name for name, profile in CLIENTS.items() if cited_entries(profile)]


# --- the copy is the cited file ------------------------------------------------------------------

@pytest.mark.parametrize("path", list(BLOBS), ids=lambda p: p.name)
def test_the_vendored_files_are_the_cited_commits_own(path: Path) -> None:
    data = path.read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == BLOBS[path], f"{path} was changed"
    readme = (DATA / "testssl-client-simulation.README.md").read_text(encoding="utf-8")
    assert BLOBS[path] in readme and COMMIT in readme and "GPL-2.0" in readme
    header = (resources.files("dualcert.policy") / "data" / "clients.yaml").read_text(encoding="utf-8")
    assert f"etc/client-simulation.txt at commit {COMMIT}" in header


def test_the_reader_takes_in_every_entry_and_decodes_every_tls_hello() -> None:
    """The whole file, not only the profiles' entries: the parser and the decoder meet 177 real
    hellos (two are SSLv2-format, which the profiles' clients never send)."""
    entries = [entry for same_name in ENTRIES.values() for entry in same_name]
    assert len(entries) == SOURCE.read_text(encoding="utf-8").count("names+=(") == 177
    sslv2 = []
    for entry in entries:
        assert {"handshakebytes", "lowest_protocol", "highest_protocol", "ch_ciphers", "curves"} <= set(entry)
        record = bytes.fromhex(entry["handshakebytes"])
        if record[0] & 0x80:  # SSLv2's two-byte record header
            sslv2.append(entry)
            continue
        hello = decode_hello(record)
        assert hello.suites and 0x0300 <= hello.legacy_version <= 0x0303
    assert len(sslv2) == 2


def client_hello(extensions: bytes = b"", *, stray: bytes = b"") -> bytes:
    """A minimal ClientHello record: TLS 1.2, AES128-SHA, `extensions` (as sent, with their
    block's length), `stray` bytes after the message but inside the record."""
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00" + extensions
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(message + stray).to_bytes(2, "big") + message + stray


def test_the_decoder_reads_a_hello_and_refuses_what_is_not_one_whole_client_hello() -> None:
    groups = b"\x00\x0a\x00\x04\x00\x02\x00\x17"  # supported_groups: [secp256r1]
    hello = decode_hello(client_hello(len(groups).to_bytes(2, "big") + groups))
    assert (hello.legacy_version, hello.suites, hello.extensions) == (0x0303, (0x002F,), {10: groups[4:]})
    for broken, words in (
        (client_hello(stray=b"\x00"), "handshake record: 1 bytes left over"),
        (client_hello(b"\x00\x04\x00\x0a\x00\x05"), "wanted"),  # an extension longer than its block
        (client_hello(b"\x00\x08\x00\x0a\x00\x00\x00\x0a\x00\x00"), "twice"),
        (client_hello()[:-1], "wanted"),
        (bytes.fromhex("8046010301002d0000001000"), "SSLv2"),
    ):
        with pytest.raises(ValueError, match=words):
            decode_hello(broken)


def test_the_reader_refuses_a_line_it_does_not_understand() -> None:
    with pytest.raises(ValueError, match="line 2"):
        read_entries('names+=("x")\nhandshakebytes+=("16" "03")\n')
    with pytest.raises(ValueError, match="twice"):
        read_entries('names+=("x")\ncurves+=("a")\ncurves+=("b")\n')


# --- every profile as its source ----------------------------------------------------------------

def test_every_builtin_profile_names_its_source() -> None:
    """A profile not from testssl.sh says so: only Cisco's two, whose lists are assumptions."""
    assert set(CLIENTS) - set(FROM_TESTSSL) == NOT_FROM_TESTSSL
    assert all("UNCERTAIN" in CLIENTS[name].uncertain for name in NOT_FROM_TESTSSL)
    for name in FROM_TESTSSL:
        for source in cited_entries(CLIENTS[name]):
            assert len(ENTRIES.get(source, [])) == 1, f"{name}: no single entry named {source!r}"


@pytest.mark.parametrize("name", FROM_TESTSSL)
def test_each_profile_is_its_source_hello_but_for_what_it_states(name: str) -> None:
    profile = CLIENTS[name]
    sources = cited_entries(profile)
    offers = [offered(ENTRIES[source][0]) for source in sources]
    assert all(offer == offers[0] for offer in offers), f"{name}: the entries it names offer different hellos"
    assert differences(profile, offers[0]) == [], f"{name} differs from {sources[0]!r}"


@pytest.mark.parametrize("name", FROM_TESTSSL)
def test_where_an_entry_contradicts_its_own_hello_the_profile_says_so(name: str) -> None:
    """The profile follows the hello; its `uncertain` names each field of the entry that disagrees."""
    profile = CLIENTS[name]
    for source in cited_entries(profile):
        entry = ENTRIES[source][0]
        for field in contradicted(entry, offered(entry)):
            assert f"`{field}`" in profile.uncertain, f"{name}: {source!r}'s {field} disagrees with its hello"


def test_a_difference_not_stated_fails_and_a_stated_one_passes() -> None:
    """The comparison itself: each kind of difference is caught, and `omits:` answers exactly it."""
    from dataclasses import replace

    from dualcert.policy.clients import Omission

    offer = {field: [] for field in OMITTABLE} | {
        "versions": ["ssl3", "tls1.0"], "sigalgs": ["rsa_pkcs1_sha256", "dsa_sha256", "rsa_pkcs1_sha256"]}
    exact = replace(CLIENTS["java8"], versions=("tls1.0",), ciphers=(), tls13_ciphers=(), groups=(),
                    sigalgs=("rsa_pkcs1_sha256",), sigalgs_cert=(), omits=())
    found = differences(exact, offer)
    assert len(found) == 2 and "['ssl3']" in found[0] and "['dsa_sha256', 'rsa_pkcs1_sha256']" in found[1], found
    stated = replace(exact, omits=(Omission("versions", ("ssl3",), "x"),
                                   Omission("sigalgs", ("dsa_sha256", "rsa_pkcs1_sha256"), "y")))
    assert differences(stated, offer) == []
    assert "order" in differences(replace(stated, versions=("tls1.0", "tls1.0")), offer)[0]
    reordered = replace(stated, sigalgs=("rsa_pkcs1_sha1",))
    assert "not in the source: ['rsa_pkcs1_sha1']" in differences(reordered, offer)[0]
    stale = replace(stated, omits=(*stated.omits, Omission("groups", ("sect571r1",), "z")))
    assert "which the profile has or the source lacks" in differences(stale, offer)[0]


# --- `omits:` as a user writes it ---------------------------------------------------------------

def test_a_profile_that_replaces_a_list_drops_what_its_base_said_that_list_left_out(tmp_path: Path) -> None:
    from dualcert.policy.clients import Omission, load_client_file

    path = tmp_path / "clients.yaml"
    path.write_text("ivr:\n  extends: openssl102\n  groups: [secp256r1]\n"
                    "own:\n  extends: openssl102\n  omits:\n    - {versions: [ssl3], why: 'not on our IVR'}\n")
    loaded = load_client_file(path, CLIENTS)
    base = {o.field for o in CLIENTS["openssl102"].omits}
    assert {"versions", "ciphers", "sigalgs", "groups"} == base
    assert {o.field for o in loaded["ivr"].omits} == base - {"groups"}
    assert loaded["own"].omits == (Omission("versions", ("ssl3",), "not on our IVR"),)
