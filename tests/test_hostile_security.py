"""Security: inventory values never reach a shell; lab keys live in a private temp directory
removed on exit; the report loads nothing from the network; certificate strings cannot
rewrite the terminal."""

from __future__ import annotations

import ast
import contextlib
import json
import signal
import stat
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

from dualcert.lab import Lab
from dualcert.lab.estate import default_nodes
from dualcert.lab.pki import CA, KeySpec

from . import hostile_certs, peers
from .conftest import REPO, run_cli
from .hostile import measured
from .test_hostile_servers import inventory_text, tls_server

SRC = REPO / "src" / "dualcert"


def test_no_code_path_reaches_a_shell(tmp_path: Path) -> None:
    """Statically: the package never imports subprocess/pty or calls os.system/os.popen/exec*.
    Dynamically: shell syntax in every free-text inventory field runs nothing."""
    banned_modules = {"subprocess", "pty", "commands"}
    banned_calls = {"system", "popen", "execv", "execvp", "execl", "spawnl", "spawnv", "startfile"}
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                found += [f"{path.name}: import {n}" for n in names if n and n.split(".")[0] in banned_modules]
            if isinstance(node, ast.Attribute) and node.attr in banned_calls:
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert not found, found

    inject = "$(touch pwned-$0)`touch pwned-tick`;touch pwned-semi"
    inventory = tmp_path / "inject.yaml"
    inventory.write_text(
        f"site: inject\nnodes:\n  - name: n\n    host: n.example.test\n    address: 127.0.0.1\n"
        f"    cluster: {json.dumps(inject)}\n    services:\n"
        f"      - {{name: x, port: 9, label: {json.dumps(inject)}, xmpp_domain: {json.dumps(inject)}, "
        f"rsa_unit: {json.dumps(inject)}, starttls: xmpp}}\n")
    result = run_cli("run", "--inventory", str(inventory), "--", "--connect-timeout", "1", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert not list(tmp_path.rglob("pwned*"))
    assert not list(Path.cwd().glob("pwned*"))
    measured("no-shell", "no shell, no file")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_lab_keys_are_private_and_removed(tmp_path: Path) -> None:
    with Lab(default_nodes(("S3",), collab=False)) as lab:
        workdir = lab.workdir
        assert workdir is not None
        keys = list(workdir.rglob("*.key.pem"))
        assert keys and _mode(workdir) == 0o700 and all(_mode(k) == 0o600 for k in keys)
    assert not workdir.exists()

    process = subprocess.Popen([sys.executable, "-m", "dualcert.cli", "lab", "--serve", "--states", "S3",
                                "--no-collab"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        inventory, serving = None, False
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while not serving and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("inventory: "):
                inventory = Path(line.split(": ", 1)[1].strip())
            serving = line.startswith("serving until Ctrl-C")
            if not line and process.poll() is not None:
                break
        assert inventory is not None, process.stderr.read() if process.stderr else ""
        served = inventory.parent
        assert _mode(served) == 0o700 and list(served.glob("*.key.pem"))
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    assert process.returncode == 0
    assert not served.exists(), "Ctrl-C left the lab's keys behind"
    measured("lab-keys", "0700 dir, removed")


class _Loads(HTMLParser):
    """Every URL the page would fetch by itself (not links a reader may click)."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if not value or name not in ("src", "href", "data", "poster", "srcset", "action", "background"):
                continue
            (self.links if tag == "a" and name == "href" else self.fetches).append(f"<{tag} {name}={value}>")


def _external(url: str) -> bool:
    return any(marker in url.lower() for marker in ("http://", "https://", "//", "ftp://"))


def test_terminal_and_report_escape_certificate_strings(tmp_path: Path) -> None:
    """An ECDSA leaf whose CN is ESC/OSC/CSI sequences, signed by an RSA CA: the chain_algorithm
    failure names the certificate; and an SMTP server whose rejection holds escape sequences.
    Neither the terminal output nor the HTML holds a raw control byte."""
    root = CA.root("hostile RSA root", KeySpec.rsa())
    leaf = root.sub_ca("hostile RSA CA").issue(["evil.example.test"], KeySpec.ec(), common_name=hostile_certs.EVIL_CN)
    (tmp_path / "certs").mkdir()
    with tls_server([leaf], tmp_path / "certs") as port, peers.tcp_peer(peers.smtp_evil_reply) as smtp:
        inventory = tmp_path / "evil.yaml"
        inventory.write_text("site: evil\nnodes:\n" + inventory_text({"https": (port, None), "smtp": (smtp, "smtp")},
                                                                     name="evil", host="evil.example.test"))
        result = subprocess.run([sys.executable, "-m", "dualcert.cli", "run", "--inventory", str(inventory),
                                 "--", "--tb=short", "--offers", "ecdsa"],
                                cwd=tmp_path, capture_output=True, timeout=120)
    assert result.returncode == 1
    terminal = result.stdout + result.stderr
    raw = [b for b in terminal if (b < 0x20 and b not in (0x0A, 0x09)) or b == 0x7F]
    assert not raw, f"raw control bytes reached the terminal: {sorted(set(raw))}"
    assert b"\\x1b]0;pwned\\x07" in terminal, "the hostile name must reach the output, visibly escaped"
    assert b"\\x1b]2;server-pwned\\x07" in terminal, "the server's reply must reach the output, visibly escaped"
    assert "\x9b".encode() not in terminal  # C1 CSI in UTF-8
    html = (tmp_path / "reports" / "evil.html").read_text(encoding="utf-8")
    assert "\x1b" not in html and "\x9b" not in html and "\x07" not in html
    measured("terminal-escape", "no raw control bytes")

    loads = _Loads()
    loads.feed(html)
    fetched = [f for f in loads.fetches if _external(f)]
    css_imports = [m for m in ("@import", "url(http", "url(//") if m in html]
    assert not fetched and not css_imports, (fetched, css_imports)
    # A reader may click the footer's credit link; it loads nothing by itself.
    assert all("pytest-html" in link for link in loads.links if _external(link)), loads.links
    measured("report-offline", "no external src/href")
