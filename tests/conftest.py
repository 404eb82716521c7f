"""Shared fixtures for dualcert's own tests: stored certificates, the embedded lab, real
third-party servers from Debian packages, and a way to run the CLI as a user would."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dualcert.lab import Lab

CERTS = Path(__file__).parent / "data" / "certs"
REPO = Path(__file__).resolve().parents[1]
FIXED_NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)

# A suite started as a background job (`bash -c '...' &`) inherits SIGINT ignored, and so would every
# dualcert it starts: the tests that interrupt a run with SIGINT (as Ctrl-C does) would wait for it in
# vain. A handler here is reset to the default in each child at exec, an ignored signal is not.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def chain_der(name: str) -> tuple[bytes, ...]:
    """A stored chain (leaf first) as DER, the way a probe records it."""
    certs = x509.load_pem_x509_certificates((CERTS / f"{name}.pem").read_bytes())
    return tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each socket is held until all are bound, since free_port() called
    in a loop may hand out the same port twice (one nginx would then serve two cases on one port)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def run_cli(*args: str, cwd: Path, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `dualcert ARGS` in a subprocess, as a user would from `cwd`."""
    return subprocess.run([sys.executable, "-m", "dualcert.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def debian_binary(binary: str, package: str) -> str:
    """The path of `binary` (a command name or an absolute path), installing Debian's `package`
    when missing and allowed (root). In CI a missing server is an error, elsewhere a skip that
    says how to get it."""
    def find() -> str | None:
        if binary.startswith("/"):
            return binary if Path(binary).exists() else None
        return shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)

    found = find()
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", package]
        if subprocess.run(install, capture_output=True, timeout=600, env=env).returncode != 0:
            # A fresh machine has no package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600, env=env)
            subprocess.run(install, capture_output=True, timeout=600, env=env)
        found = find()
        if found:
            return found
    missing_capability(f"{binary} is not installed: run `sudo apt-get install {package}` (.ci/run does)")


def missing_capability(message: str) -> NoReturn:
    """A test cannot run here (a server, root, a privilege): a skip that says why, but under CI a failure,
    since CI is where every capability is meant to be present and a skip there would hide a lost test."""
    __tracebackhide__ = True  # pytest reports the skip or failure at the caller's line, not here
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """Every deployment state, plus the CUCM/IM&P nodes, served for the whole test session."""
    with Lab() as running:
        yield running


# --- the hostile-case table in docs/hostile-inputs.md (tests/hostile.py) -------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-hostile-table", action="store_true",
                     help="rewrite docs/hostile-inputs.md's 'Hostile inputs and servers' table from the outcomes "
                          "this run measured")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("update_hostile_table", False):
        return
    from .hostile import CASES, MEASURED, update_doc

    missing = sorted(set(CASES) - set(MEASURED))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if missing:  # a case whose test failed or did not run is not measured: keep the old table
        if reporter is not None:
            reporter.write_line(f"hostile table NOT updated: {len(missing)} cases not measured: {', '.join(missing)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    update_doc(dict(MEASURED))
    if reporter is not None:
        reporter.write_line(f"hostile table: docs/hostile-inputs.md updated with {len(MEASURED)} measured cases")
