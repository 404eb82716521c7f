"""The built wheel, installed into a fresh virtual environment, works outside the checkout:
`dualcert init` then `dualcert lab` from an empty directory, and the pytest plugin (pytest11)
with the packaged suites (`pytest --pyargs dualcert.suites`) from any directory.

Tests send nothing beyond loopback, so the fresh environment gets dualcert from the wheel
(`--no-deps --no-index`) and borrows only the dependencies (pyOpenSSL, pytest, ...) from the
environment running the tests, through a .pth line. That path entry is not processed for
.pth files, so the checkout's editable install stays invisible; test_runs_from_the_wheel
checks that. `.ci/run` repeats the acceptance run with the dependencies from the index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from dualcert.compare.results_file import load_document

from .conftest import REPO


def clean_env() -> dict[str, str]:
    """The user's environment, without anything pointing into the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS")}


def run(*args: str | Path, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=clean_env())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                "-q", "-w", dist, REPO, cwd=dist)
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = dist.glob("dualcert-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; returns its bin directory."""
    root = tmp_path_factory.mktemp("fresh") / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", root, cwd=root.parent)
    assert made.returncode == 0, made.stderr
    python = root / "bin" / "python"
    installed = run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
                    wheel, cwd=root.parent)
    assert installed.returncode == 0, installed.stderr[-3000:]
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root).stdout.strip()
    (Path(purelib) / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root / "bin"


def test_wheel_ships_suites_catalog_starters_and_entry_points(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert {"dualcert/suites/__init__.py", "dualcert/suites/test_certificate_policy.py",
            "dualcert/estate/data/catalog.yaml", "dualcert/data/starter/inventory.yaml",
            "dualcert/data/starter/policy.yaml", "dualcert/policy/profiles/rsa-only.yaml",
            "dualcert/render/assets/report.css", "dualcert/render/assets/report.js"} <= names
    assert "[pytest11]\ndualcert = dualcert.pytest.plugin" in entry_points
    assert "dualcert = dualcert.cli:entry" in entry_points


def test_runs_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    where = run(venv / "python", "-c", "import dualcert, dualcert.cli as c; print(dualcert.__file__); "
                "print(c.suites_dir())", cwd=tmp_path)
    module, suites = where.stdout.split()
    assert Path(module).is_relative_to(venv.parent) and Path(suites).is_relative_to(venv.parent), where.stdout
    assert not Path(module).is_relative_to(REPO)


def test_init_then_lab_from_an_empty_directory(venv: Path, tmp_path: Path) -> None:
    init = run(venv / "dualcert", "init", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "inventory.yaml").is_file() and (tmp_path / "policy.yaml").is_file()
    lab = run(venv / "dualcert", "lab", cwd=tmp_path)
    assert lab.returncode == 0, lab.stdout[-3000:] + lab.stderr[-3000:]
    assert "every state fails exactly the rules the digest predicts" in lab.stdout
    data = load_document(tmp_path / "reports" / "lab.json")
    assert data["run"]["status"] == "complete" and data["run"]["counts"]["failed"] > 0
    assert (tmp_path / "reports" / "lab.html").stat().st_size > 10_000


def test_pytest_plugin_and_packaged_suites_from_any_directory(venv: Path, tmp_path: Path) -> None:
    """`dualcert lab --serve` gives an inventory; plain pytest runs the packaged suites on it."""
    serve = subprocess.Popen([str(venv / "dualcert"), "lab", "--serve", "--states", "S3", "--no-collab"],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=clean_env())
    try:
        assert serve.stdout is not None
        lines = [serve.stdout.readline() for _ in range(3)]
        paths = dict(line.split(":", 1) for line in lines[1:])
        inventory, policy = paths["inventory"].strip(), paths["policy"].strip()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        result = run(venv / "python", "-m", "pytest", "--pyargs", "dualcert.suites", "--inventory", inventory,
                     "--policy", policy, "-q", "-p", "no:cacheprovider", cwd=elsewhere)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        data = load_document(elsewhere / "reports" / "lab.json")
        assert data["run"]["counts"]["passed"] > 100 and "failed" not in data["run"]["counts"]
        suite_files = {path.name for path in (REPO / "suites").glob("test_*.py")}
        assert {t["nodeid"].split("::")[0].rsplit("/", 1)[-1] for t in data["tests"]} <= suite_files
        serve.send_signal(signal.SIGTERM)  # a service manager's stop: servers down, keys removed
        assert serve.wait(timeout=30) == 0
        assert not Path(inventory).parent.exists()
    finally:
        serve.kill()
        serve.wait(timeout=30)
