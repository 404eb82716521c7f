"""The hostile inputs and servers the tests try, and the outcome each must have.

Every test of a hostile case ends with `measured(case_id, outcome)`, which asserts the measured
outcome equals the one listed here and records it. `pytest --update-hostile-table` rewrites the
table in docs/hostile-inputs.md ("Hostile inputs and servers") from what the run measured (all cases
must have run); tests/test_hostile_table.py fails when that page and this list disagree."""

from __future__ import annotations

from dataclasses import dataclass

from .doctables import DOCS, framed, rewrite


@dataclass(frozen=True)
class HostileCase:
    id: str
    area: str          # bad file | hostile server | nothing lost | security
    what: str          # what the test does, in a user's words
    expected: str      # the outcome the test measures and asserts


_FILE = "bad file"
_SERVER = "hostile server"
_LOST = "nothing lost"
_SECURITY = "security"

CASES: dict[str, HostileCase] = {c.id: c for c in [
    HostileCase("yaml-syntax", _FILE, "inventory with an unclosed `[`", "exit 4, line 5"),
    HostileCase("yaml-tab", _FILE, "inventory indented with a tab", "exit 4, line 2"),
    HostileCase("yaml-python-tag", _FILE, "inventory with `!!python/object` (code execution in unsafe loaders)",
                "exit 4, line 1"),
    HostileCase("yaml-deep", _FILE, "inventory nested 5000 brackets deep", "exit 4, line 1"),
    HostileCase("not-utf8", _FILE, "inventory in Latin-1, not UTF-8", "exit 4, no line"),
    HostileCase("empty-inventory", _FILE, "empty inventory file", "exit 4, no line"),
    HostileCase("no-nodes", _FILE, "inventory with `nodes: []`", "exit 4, line 1"),
    HostileCase("not-a-mapping", _FILE, "inventory that is a YAML list", "exit 4, no line"),
    HostileCase("missing-inventory", _FILE, "inventory path that does not exist", "exit 4, no line"),
    HostileCase("wrong-type-port", _FILE, "port given as text `'443'`", "exit 4, line 5"),
    HostileCase("wrong-type-nodes", _FILE, "`nodes:` given a mapping instead of a list", "exit 4, line 1"),
    HostileCase("unknown-role", _FILE, "node with `role: nope`", "exit 4, line 4"),
    HostileCase("unknown-key", _FILE, "node with an unknown key `colour:`", "exit 4, line 5"),
    HostileCase("unknown-service-no-port", _FILE, "service the role does not know, without a port",
                "exit 4, line 5"),
    HostileCase("duplicate-node", _FILE, "two nodes named `a`", "exit 4, line 3"),
    HostileCase("port-out-of-range", _FILE, "port 70000", "exit 4, line 5"),
    HostileCase("port-zero", _FILE, "port 0", "exit 4, line 5"),
    HostileCase("address-not-ip", _FILE, "`address: not-an-ip`", "exit 4, line 4"),
    HostileCase("host-not-dns", _FILE, "`host: 'bad host!'`", "exit 4, line 3"),
    HostileCase("unknown-starttls", _FILE, "`starttls: gopher`", "exit 4, line 5"),
    HostileCase("trust-missing", _FILE, "trust bundle that does not exist", "exit 4, line 1"),
    HostileCase("trust-unreadable", _FILE,
                "trust bundle without read permission (mode 000; root reads it without CAP_DAC_OVERRIDE)",
                "exit 4, line 1"),
    HostileCase("trust-directory", _FILE, "trust bundle path that is a directory", "exit 4, line 1"),
    HostileCase("trust-garbage", _FILE, "trust bundle: a PEM block of garbage", "exit 4, line 1"),
    HostileCase("trust-nul-path", _FILE, "trust path with a NUL byte", "exit 4, line 1"),
    HostileCase("catalog-binary", _FILE, "custom catalog that is binary, not UTF-8", "exit 4, line 1"),
    HostileCase("policy-unknown-service", _FILE, "policy naming a service no node has", "exit 4, line 2"),
    HostileCase("policy-unknown-node", _FILE, "policy naming a node the inventory lacks", "exit 4, line 2"),
    HostileCase("policy-bad-value", _FILE, "policy with `signing: maybe`", "exit 4, line 1"),
    HostileCase("policy-empty-value", _FILE, "policy with `ec_curves:` and no value", "exit 4, line 2"),
    HostileCase("policy-missing", _FILE, "policy path that does not exist", "exit 4, no line"),
    HostileCase("bad-option", _FILE, "`--offers foo`", "exit 4, no line"),

    HostileCase("closed-port", _SERVER, "nothing listens on the port", "connection-refused (connect)"),
    HostileCase("tarpit", _SERVER, "accepts and never answers", "timeout (handshake)"),
    HostileCase("close-at-once", _SERVER, "accepts and closes at once (every hello, the control hello too)",
                "no-tls-answer (handshake)"),
    HostileCase("plain-http", _SERVER, "answers with plain HTTP", "not-tls (handshake)"),
    HostileCase("random-bytes", _SERVER, "answers with 4 KiB of random bytes", "not-tls (handshake)"),
    HostileCase("reset-after-hello", _SERVER, "TCP reset after every ClientHello (the control hello too)",
                "no-tls-answer (handshake)"),
    HostileCase("tls-alert", _SERVER, "answers every hello (the control hello too) with a "
                "handshake_failure alert", "unsupported (handshake)"),
    HostileCase("drip", _SERVER, "drips one byte per second", "timeout (handshake)"),
    HostileCase("close-after-server-hello", _SERVER, "closes after the ServerHello", "error (handshake)"),
    HostileCase("malformed-certificate", _SERVER, "sends a certificate that is not valid DER", "error (handshake)"),
    HostileCase("chain-100", _SERVER, "sends a chain of 100 certificates", "ok, 100 certificates"),
    HostileCase("chain-1mb", _SERVER, "sends a 1 MB certificate chain", "chain-too-large (handshake)"),
    HostileCase("control-chars-cn", _SERVER, "certificate whose names hold ESC/OSC sequences", "ok, names escaped"),
    HostileCase("non-utf8-name", _SERVER, "certificate whose CN holds bytes that are not UTF-8",
                "ok, leaf unparseable"),
    HostileCase("duplicate-extension", _SERVER, "certificate with two subjectAltName extensions (OpenSSL "
                "will not serve it, Java stacks may: judged from its DER)",
                "ok, leaf unparseable"),
    HostileCase("xmpp-no-proceed", _SERVER, "XMPP STARTTLS server that never says proceed",
                "timeout (starttls)"),
    HostileCase("xmpp-failure", _SERVER, "XMPP STARTTLS server that answers `<failure/>`",
                "starttls-failed (starttls)"),
    HostileCase("xmpp-endless", _SERVER, "XMPP server that streams without end", "starttls-failed (starttls)"),
    HostileCase("smtp-endless", _SERVER, "SMTP server whose EHLO reply never ends", "starttls-failed (starttls)"),
    HostileCase("smtp-drip", _SERVER, "SMTP banner dripped one byte per 0.2 s, without end", "timeout (starttls)"),
    HostileCase("unknown-dns", _SERVER, "host name that does not resolve (inside `unshare -n`)",
                "unresolved (connect)"),
    HostileCase("ipv6-loopback", _SERVER, "real TLS server on [::1]", "ok"),
    HostileCase("mixed-run", _SERVER, "one `dualcert run` with every hostile server beside a good one",
                "exit 1, good endpoint passes, JSON + HTML"),

    HostileCase("sigint", _LOST, "Ctrl-C (SIGINT) during a run against slow peers",
                "exit 2, JSON interrupted with finished probes, HTML"),
    HostileCase("sigterm", _LOST, "SIGTERM during a run against slow peers",
                "exit 2, JSON interrupted with finished probes, HTML"),
    HostileCase("sigkill", _LOST, "SIGKILL during a run", "journal holds the finished probes"),
    HostileCase("check-crash", _LOST, "a check raises on one case", "that test errors, the others run"),

    HostileCase("no-shell", _SECURITY, "inventory values with shell syntax (`$(touch x)`)", "no shell, no file"),
    HostileCase("lab-keys", _SECURITY, "lab keys while running and after Ctrl-C of `dualcert lab --serve`",
                "0700 dir, removed"),
    HostileCase("report-offline", _SECURITY, "HTML report loads nothing from the network", "no external src/href"),
    HostileCase("terminal-escape", _SECURITY,
                "ESC sequences from a certificate CN and an SMTP reply, in terminal and report",
                "no raw control bytes"),

    # Failures that cannot hide (issue 12), appended so that the numbers above stay.
    HostileCase("ansible-range-bomb", _FILE, "Ansible host `web[000:999]-[000:999]` (a million hosts)",
                "exit 4, line 2"),
    HostileCase("estate-rule-crash", _LOST, "a node or cluster rule raises", "exit 3, named in internal_errors"),
    HostileCase("fixture-crash", _LOST, "a dualcert fixture raises while building a test's handle",
                "exit 3, named in internal_errors"),
    HostileCase("nothing-selected", _LOST, "`-k` that matches no test", "exit 5, reason named"),
    HostileCase("file-size-limit", _LOST, "HTML report past the file-size limit (`ulimit -f`, RLIMIT_FSIZE)",
                "exit 3, HTML named, JSON kept"),
    HostileCase("disk-full", _LOST, "results JSON to a full disk (`--json /dev/full`)",
                "exit 3, JSON named, HTML kept"),
]}

MEASURED: dict[str, str] = {}

HOSTILE_DOC = DOCS / "hostile-inputs.md"
TABLE = "hostile-table"


def measured(case_id: str, outcome: str) -> None:
    """Assert a hostile case's measured outcome and record it for the table in docs/hostile-inputs.md."""
    expected = CASES[case_id].expected
    assert outcome == expected, f"{case_id}: expected {expected!r}, measured {outcome!r}"
    MEASURED[case_id] = outcome


def render(outcomes: dict[str, str]) -> str:
    lines = ["| # | area | case | outcome |", "|---|---|---|---|"]
    for number, case in enumerate(CASES.values(), start=1):
        lines.append(f"| {number} | {case.area} | {case.what} | {outcomes[case.id]} |")
    return framed(TABLE, lines)


def update_doc(outcomes: dict[str, str]) -> None:
    rewrite(HOSTILE_DOC, TABLE, render(outcomes))
