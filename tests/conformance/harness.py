"""dualcert judging the cases as a user runs it: every case a node of one inventory (its peer name the
node's host, 127.0.0.1 its address, its port the case's server), the trust bundle the cases' trusted
certificates, a policy that opens every rule but the four that judge a chain's validity (trust, hostname,
and the default policy's signature_hash and key_strength: dualcert refuses SHA-1 signatures and weak keys
in those rules, where the validators refuse them in path validation); `dualcert run` in a subprocess, one
run per validation time (under libfaketime when the case sets one); each case's verdict read from those
tests of every probe that got a certificate."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dualcert.facts.names import NameKey, name_key

from .case import Case
from .judges import Unavailable, Verdict

# Opened rules but the four that decide; the run selects their tests alone (-k) to stay quick. Key sizes,
# curves and forbidden hashes are the default policy's (RSA 2048, P-256/384/521, no MD5 or SHA-1).
POLICY = """\
extends: ec-ca-signed
intended_state: none
rules:
  presents: {ecdsa: any, rsa: any, default: any}
  signing: any
  chain_algorithm: any
  trust: required
  hostname: required
  bundle_roots: exempt
  expiry: {warn_days: 0, fail_days: 0}
  versions: {tls1.2: optional, tls1.3: optional}
"""
RULES = ("trust", "hostname", "signature_hash", "key_strength")
# Cases sharing a subject name in one run: a foreign certificate of that name costs the path builder one
# failed signature check, so a few are harmless (MAX_SIGNATURE_CHECKS is 256); many would change the work.
MAX_SHARED_NAME = 8
RUN_TIMEOUT = 600


def faketime_library() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        raise Unavailable("libfaketime is not installed (Debian package libfaketime): cases with a validation "
                          "time cannot be run")
    return found[0]


def batches(cases: Sequence[Case]) -> list[list[Case]]:
    """Cases grouped into runs: one validation time per run, and no two cases of a run holding a
    certificate of the same name and key (one could then complete the other's path; the cases generated
    here never do, their names carry the case's id), nor more than MAX_SHARED_NAME sharing one name."""
    runs: list[tuple[list[Case], set[tuple[NameKey, bytes]], dict[NameKey, int]]] = []
    for case in cases:
        certs = [x509.load_der_x509_certificate(d) for d in {*case.trusted, *case.chain}]
        pairs = {(name_key(c.subject), _key(c)) for c in certs}
        names = {name for name, _ in pairs}
        for members, held, counts in runs:
            if members[0].at == case.at and not pairs & held and all(counts[n] < MAX_SHARED_NAME for n in names):
                break
        else:
            members, held, counts = [], set(), defaultdict(int)
            runs.append((members, held, counts))
        members.append(case)
        held |= pairs
        for name in names:
            counts[name] += 1
    return [members for members, _, _ in runs]


def _key(cert: x509.Certificate) -> bytes:
    """The certificate's public key (SubjectPublicKeyInfo); its whole DER when the key cannot be read
    (such a certificate verifies nothing: it can only stand for itself)."""
    try:
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        return cert.public_key().public_bytes(serialization.Encoding.DER, spki)
    except (ValueError, TypeError):
        return cert.public_bytes(serialization.Encoding.DER)


def inventory(cases: Sequence[Case], ports: dict[str, int], bundle: Path) -> str:
    lines = ["site: conformance", f"trust: {bundle.name}", "nodes:"]
    for case in cases:
        lines += [f"  - name: {case.id}", f"    host: {json.dumps(case.peer)}", "    address: 127.0.0.1",
                  "    role: generic", f"    services: [{{name: tls, port: {ports[case.id]}}}]"]
    return "\n".join(lines) + "\n"


def run_dualcert(cases: Sequence[Case], ports: dict[str, int],
                 folder: Path) -> tuple[dict[str, Verdict], float, dict[str, str]]:
    """One `dualcert run` over `cases` (one validation time): each case's verdict, the run's seconds, and
    why the cases without a verdict got none (no probe of theirs got a certificate)."""
    folder.mkdir(parents=True, exist_ok=True)
    bundle = folder / "bundle.pem"
    unique = dict.fromkeys(d for case in cases for d in case.trusted)
    bundle.write_bytes(cases[0].pem(list(unique)))
    (folder / "inventory.yaml").write_text(inventory(cases, ports, bundle))
    (folder / "policy.yaml").write_text(POLICY)
    env = {**os.environ}
    at = cases[0].at
    if at is not None:
        # The wall clock stopped at the validation time (a case may validate at notAfter exactly); the
        # monotonic clock, which timeouts use, runs on.
        env.update({"LD_PRELOAD": faketime_library(), "FAKETIME": f"{at:%Y-%m-%d %H:%M:%S}",
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1", "TZ": "UTC"})
    # One test per rule and probe (--dualcert-items rule), read from pytest's JUnit XML: pytest's own format,
    # which stays put while the results JSON's schema moves on.
    command = [sys.executable, "-m", "dualcert.cli", "run", "--inventory", str(folder / "inventory.yaml"),
               "--policy", str(folder / "policy.yaml"), "--report-dir", str(folder), "--", "--offers", "default",
               "-k", " or ".join(f"test_{r}" for r in RULES), "--dualcert-items", "rule",
               "--junitxml", str(folder / "junit.xml"), "-q"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    seconds = time.monotonic() - started
    (folder / "run.log").write_text(done.stdout + done.stderr)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"dualcert run exited {done.returncode}: {(done.stdout + done.stderr)[-2000:]}")
    found, unanswered = verdicts(folder / "junit.xml", {c.id for c in cases})
    return found, seconds, unanswered


def verdicts(junit: Path, wanted: set[str]) -> tuple[dict[str, Verdict], dict[str, str]]:
    """Each case's verdict (accepted when every test of RULES on its probes passed, rejected when one
    failed), and for the cases none of whose probes got a certificate, the tests' skip reasons."""
    tests: dict[str, list[tuple[str, str]]] = defaultdict(list)   # node -> (outcome, what it said)
    for case in ElementTree.parse(junit).iter("testcase"):
        match = re.fullmatch(r"test_(\w+)\[([^:\]]+):[^\]]*:(\w+\.\d)\]", case.get("name") or "")
        if not match or match[1] not in RULES or match[2] not in wanted:
            continue
        ending = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        said = "" if ending is None else (ending.get("message") or "").removeprefix("Failed: ")
        # What the rule found, after the subject ("node service (host:port), default offer over TLS 1.2: ").
        tests[match[2]].append(("passed" if ending is None else ending.tag, f"{match[3]}: {said.split(': ', 1)[-1]}"))
    found, unanswered = {}, {}
    for node in wanted:
        judged = [(o, m) for o, m in tests[node] if o in ("passed", "failure")]
        if not judged:
            reasons = dict.fromkeys(m for _, m in tests[node]) or {"no test ran": None}
            unanswered[node] = "no probe got a certificate (" + "; ".join(reasons) + ")"
            continue
        failed = [m for o, m in judged if o == "failure"]
        found[node] = Verdict(not failed, "; ".join(dict.fromkeys(failed))[:300])
    return found, unanswered
