"""Bad files, the way users write them: each gives one clear error (file, line where known,
what, fix) and exit code 4 from both `dualcert run` and `pytest suites --inventory`, never a
traceback. Plus property-based tests: any text gives a model or a UsageError, nothing else."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualcert.errors import UsageError
from dualcert.estate.catalog import load_catalog
from dualcert.estate.inventory import load_inventory
from dualcert.policy.load import load_policy

from .conftest import CERTS, REPO
from .hostile import measured

GOOD = "nodes:\n  - {name: a, host: a.example.com, address: 127.0.0.1, role: uccx}\n"
NODE = "nodes:\n  - name: a\n    host: a.example.com\n"

# case id -> (files to write; the first is the inventory unless named in args), extra args
FILES: dict[str, tuple[dict[str, str | bytes], list[str]]] = {
    "yaml-syntax": ({"site.yaml": NODE + "    role: uccx\n  bad: [\n"}, []),
    "yaml-tab": ({"site.yaml": "nodes:\n\t- name: a\n"}, []),
    "yaml-python-tag": ({"site.yaml": "nodes: !!python/object/apply:os.system ['touch pwned']\n"}, []),
    "yaml-deep": ({"site.yaml": "nodes: " + "[" * 5000 + "]" * 5000 + "\n"}, []),
    "not-utf8": ({"site.yaml": "nodes:\n  - {name: caf\xe9, host: a.example.com}\n".encode("latin-1")}, []),
    "empty-inventory": ({"site.yaml": ""}, []),
    "no-nodes": ({"site.yaml": "nodes: []\n"}, []),
    "not-a-mapping": ({"site.yaml": "- just\n- a list\n"}, []),
    "missing-inventory": ({}, ["--inventory", "nope.yaml"]),
    "wrong-type-port": ({"site.yaml": NODE + "    services:\n      - {name: x, port: '443'}\n"}, []),
    "wrong-type-nodes": ({"site.yaml": "nodes: {a: b}\n"}, []),
    "unknown-role": ({"site.yaml": NODE + "    role: nope\n"}, []),
    "unknown-key": ({"site.yaml": NODE + "    role: uccx\n    colour: blue\n"}, []),
    "unknown-service-no-port": ({"site.yaml": NODE + "    services:\n      - {name: webex}\n"}, []),
    "duplicate-node": ({"site.yaml": "nodes:\n  - {name: a, host: a.example.com, role: uccx}\n"
                                     "  - {name: a, host: b.example.com, role: uccx}\n"}, []),
    "port-out-of-range": ({"site.yaml": NODE + "    services:\n      - {name: x, port: 70000}\n"}, []),
    "port-zero": ({"site.yaml": NODE + "    services:\n      - {name: x, port: 0}\n"}, []),
    "address-not-ip": ({"site.yaml": NODE + "    address: not-an-ip\n    role: uccx\n"}, []),
    "host-not-dns": ({"site.yaml": "nodes:\n  - name: a\n    host: 'bad host!'\n    role: uccx\n"}, []),
    "unknown-starttls": ({"site.yaml": NODE + "    services:\n      - {name: x, port: 1, starttls: gopher}\n"}, []),
    "trust-missing": ({"site.yaml": "trust: missing.pem\n" + GOOD}, []),
    "trust-unreadable": ({"site.yaml": "trust: roots.pem\n" + GOOD, "roots.pem": (CERTS / "roots.pem").read_bytes()},
                         []),
    "trust-directory": ({"site.yaml": "trust: .\n" + GOOD}, []),
    "trust-garbage": ({"site.yaml": "trust: bad.pem\n" + GOOD,
                       "bad.pem": "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"}, []),
    "trust-nul-path": ({"site.yaml": 'trust: "roots\\0.pem"\n' + GOOD}, []),
    "catalog-binary": ({"site.yaml": "catalog: cat.yaml\n" + GOOD, "cat.yaml": b"\xff\xfe\x00\x01roles"}, []),
    "policy-unknown-service": ({"site.yaml": GOOD, "policy.yaml": "services:\n  webex: {signing: any}\n"},
                               ["--policy", "policy.yaml"]),
    "policy-unknown-node": ({"site.yaml": GOOD, "policy.yaml": "nodes:\n  ghost: {rules: {trust: off}}\n"},
                            ["--policy", "policy.yaml"]),
    "policy-bad-value": ({"site.yaml": GOOD, "policy.yaml": "rules: {signing: maybe}\n"}, ["--policy", "policy.yaml"]),
    "policy-empty-value": ({"site.yaml": GOOD, "policy.yaml": "rules:\n  ec_curves:\n"}, ["--policy", "policy.yaml"]),
    "policy-missing": ({"site.yaml": GOOD}, ["--policy", "nope.yaml"]),
    "bad-option": ({"site.yaml": GOOD}, ["--", "--offers", "foo"]),
    "ansible-range-bomb": ({"hosts.ini": "[uccx]\nweb[000:999]-[000:999] ansible_host=127.0.0.1\n"},
                           ["--inventory", "hosts.ini"]),
}


def _commands(args: list[str]) -> tuple[list[str], list[str]]:
    extra: list[str] = []
    if "--" in args:
        args, extra = args[:args.index("--")], args[args.index("--") + 1:]
    if "--inventory" not in args:
        args = ["--inventory", "site.yaml", *args]
    cli = [sys.executable, "-m", "dualcert.cli", "run", *args, "--", *extra]
    plain = [sys.executable, "-m", "pytest", str(REPO / "suites"), *args, *extra, "-p", "no:cacheprovider"]
    return cli, plain


def _outcome(result: subprocess.CompletedProcess[str]) -> str:
    first = result.stderr.strip().splitlines()[0] if result.stderr.strip() else ""
    line = re.match(r"^(?:dualcert: |ERROR: )?\S+?:(\d+): ", first)
    return f"exit {result.returncode}, " + (f"line {line.group(1)}" if line else "no line")


@pytest.mark.parametrize("case_id", list(FILES))
def test_bad_file_gives_one_clear_usage_error(case_id: str, tmp_path: Path) -> None:
    workdir = tmp_path
    files, args = FILES[case_id]
    for name, content in files.items():
        path = workdir / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        path.chmod(0o644)
    prefix: list[str] = []
    if case_id == "trust-unreadable":
        (workdir / "roots.pem").chmod(0)
        if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it (util-linux setpriv)
            drop = "-dac_override,-dac_read_search"
            prefix = [shutil.which("setpriv") or "setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}"]
    outcomes = []
    for command in _commands(args):
        result = subprocess.run([*prefix, *command], cwd=workdir, capture_output=True, text=True, timeout=120)
        output = result.stdout + result.stderr
        assert "Traceback" not in output, output
        assert result.returncode == 4, output
        message = result.stderr.strip()
        assert len([line for line in message.splitlines() if line.startswith(("ERROR", "dualcert:"))]) == 1, message
        if case_id != "bad-option":  # pytest's own option error has no file to name
            named = args[args.index("--policy") + 1] if "--policy" in args else (
                args[args.index("--inventory") + 1] if "--inventory" in args else None)
            assert (named or "site.yaml") in message or (case_id.startswith(("trust", "catalog"))
                                                         and "site.yaml" in message), message
            assert "\n  fix: " in message, message
        outcomes.append(_outcome(result))
    assert not (workdir / "pwned").exists()
    assert outcomes[0] == outcomes[1], outcomes
    measured(case_id, outcomes[0])


# --- property-based: any input is a model or a UsageError ---------------------------------

_ODD = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(), max_size=2), st.binary(max_size=4),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _maybe(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(good, _ODD)


_SERVICE = st.fixed_dictionaries({}, optional={
    "name": _maybe(st.sampled_from(["tomcat", "x", "socketio"])), "port": _maybe(st.integers(-1, 70000)),
    "starttls": _maybe(st.sampled_from(["xmpp", "smtp"])), "enabled": _maybe(st.booleans()),
    "prefers": _maybe(st.sampled_from(["rsa", "ecdsa"])), "ecdsa_unit": _ODD, "sni": _ODD, "label": _ODD})
_NODE = st.fixed_dictionaries({}, optional={
    "name": _maybe(st.sampled_from(["a", "b"])), "host": _maybe(st.sampled_from(["a.example.com", "127.0.0.1"])),
    "address": _maybe(st.sampled_from(["127.0.0.1", "::1"])), "role": _maybe(st.sampled_from(["uccx", "cucm"])),
    "services": _maybe(st.lists(_maybe(_SERVICE), max_size=3)), "cluster": _ODD, "sni": _ODD})
_INVENTORY = st.fixed_dictionaries({}, optional={
    "site": _maybe(st.just("s")), "trust": _ODD, "catalog": _ODD, "nodes": _maybe(st.lists(_maybe(_NODE), max_size=3))})
_RULES = st.fixed_dictionaries({}, optional={
    "presents": _maybe(st.fixed_dictionaries({}, optional={"ecdsa": _maybe(st.just("rsa")), "x": _ODD})),
    "signing": _maybe(st.just("ca")), "trust": _maybe(st.just("off")), "rsa_min_bits": _maybe(st.integers(0, 20000)),
    "ec_curves": _maybe(st.lists(_ODD, max_size=2)),
    "expiry": _maybe(st.fixed_dictionaries({}, optional={"warn_days": _ODD, "fail_days": _maybe(st.integers())})),
    "versions": _maybe(st.fixed_dictionaries({}, optional={"tls1.2": _maybe(st.just("required"))})),
    "issuer": _maybe(st.fixed_dictionaries({}, optional={"ecdsa": _maybe(st.fixed_dictionaries(
        {}, optional={"dn": _ODD, "sha256": _maybe(st.just("ab" * 32))}))}))})
_POLICY = st.fixed_dictionaries({}, optional={
    "extends": _maybe(st.sampled_from(["rsa-only", "self-signed"])), "intended_state": _maybe(st.just("S2")),
    "rules": _maybe(_RULES), "services": _maybe(st.dictionaries(st.sampled_from(["tomcat", "x"]), _maybe(_RULES))),
    "nodes": _maybe(st.dictionaries(st.sampled_from(["a", "b"]), _maybe(st.fixed_dictionaries({}, optional={
        "rules": _maybe(_RULES), "services": _maybe(st.dictionaries(st.just("tomcat"), _maybe(_RULES)))}))))})
_CATALOG = st.fixed_dictionaries({}, optional={"roles": _maybe(st.dictionaries(
    st.sampled_from(["r", "uccx"]), _maybe(st.fixed_dictionaries({}, optional={
        "description": _ODD, "services": _maybe(st.dictionaries(st.sampled_from(["t", "u"]), _maybe(_SERVICE)))}))))})
# Raw text too: YAML syntax the structured strategies never produce.
_TEXT = st.text(st.sampled_from(list("{}[]:-,'\"&*!|>#%@` \n\t\\x0aé\x00\x1b")), max_size=40)

LOADERS = {"inventory": load_inventory, "policy": load_policy, "catalog": load_catalog}
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))


def _load(kind: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "x.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            LOADERS[kind](path)
        except UsageError as error:
            assert error.what and error.fix, error


@pytest.mark.parametrize(("kind", "shape"), [("inventory", _INVENTORY), ("policy", _POLICY), ("catalog", _CATALOG)])
def test_any_structure_is_a_model_or_a_usage_error(kind: str, shape: st.SearchStrategy[object]) -> None:
    @PROPERTY
    @given(shape)
    def check(data: object) -> None:
        _load(kind, yaml.safe_dump(data, allow_unicode=True) if not _has_bytes(data) else yaml.dump(data))

    check()


@pytest.mark.parametrize("kind", list(LOADERS))
def test_any_text_is_a_model_or_a_usage_error(kind: str) -> None:
    @PROPERTY
    @given(_TEXT)
    def check(text: str) -> None:
        _load(kind, text)

    check()


def _has_bytes(data: object) -> bool:
    if isinstance(data, bytes):
        return True
    if isinstance(data, dict):
        return any(_has_bytes(v) for v in data.values())
    if isinstance(data, list):
        return any(_has_bytes(v) for v in data)
    return False


@pytest.mark.parametrize(("kind", "text"), [
    # What hypothesis found (each once a TypeError, ValueError or RecursionError), kept as regressions.
    ("policy", "rules:\n  expiry:\n  - 1\n  rsa_min_bits: null\n"),
    ("policy", "rules:\n  ec_curves:\n"),
    ("policy", "rules: {expiry: {warn_days: null}}\n"),
    ("policy", "nodes:\n  a:\n    services: true\n"),
    ("inventory", 'trust: "\\x9bW\\0"\nnodes: [{name: a, host: a.b, role: uccx}]\n'),
    ("inventory", 'catalog: "a\\0b"\nnodes: [{name: a, host: a.b, role: uccx}]\n'),
    ("inventory", "nodes: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"),
])
def test_loader_regressions_are_usage_errors(kind: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "x.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(UsageError) as caught:
            LOADERS[kind](path)
        assert caught.value.file == path and caught.value.fix
