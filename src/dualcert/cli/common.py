"""What the `dualcert` subcommands share: exit codes, where the suites are, the pytest command line, and
the check that reports can be written before anything is probed."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

from dualcert.errors import UsageError

EXIT_INTERNAL_ERROR, EXIT_USAGE_ERROR = 3, 4


class InternalError(Exception):
    """dualcert itself is broken (not the user's input): exit code 3."""


def suites_dir() -> Path:
    """The suites ship inside the package (wheel); in a checkout they sit at the top."""
    packaged = Path(str(resources.files("dualcert"))) / "suites"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "suites"
    if checkout.is_dir():
        return checkout
    raise InternalError("the suites are missing from this installation; reinstall dualcert")


def usage_error(exc: Exception, command: str = "dualcert") -> int:
    """A usage error (UsageError, or a ValueError naming a bad option value): one line on stderr, exit code 4."""
    print(f"{command}: {exc}", file=sys.stderr)
    return EXIT_USAGE_ERROR


# pytest's own plugins that dualcert's suites never use: not importing and not calling them saved
# ~0.15 s of a 2.8 s run at 200 endpoints (unraisableexception and threadexception add three hook
# calls to every test, and the former full garbage collections at the session's end). pastebin
# would upload a session to a public site.
# junitxml, warnings, faulthandler and skipping stay: CI jobs use them (output and log capture: below).
UNUSED_PYTEST_PLUGINS = ("doctest", "pastebin", "setuponly", "setupplan", "stepwise", "subtests", "legacypath",
                         "unraisableexception", "threadexception")


def pytest_args(suites: Path, inventory: Path, policy: str | None, html: Path, results: Path,
                strict: bool, extra: list[str], baseline: str | None = None) -> list[str]:
    args = [str(suites), "--inventory", str(inventory), "--html", str(html), "--self-contained-html",
            "--results-json", str(results), "-p", "no:cacheprovider", "--rootdir", str(suites),
            "-q", "--tb=no", "-rN", "-W", "ignore::pytest.PytestAssertRewriteWarning",
            # The suites assert through CaseHandle.require, not `assert`: rewriting the suites and
            # every plugin's modules on each run (no bytecode cache) cost ~0.5 s. Hypothesis'
            # plugin (a dev dependency) imports hypothesis at the summary: another ~0.3 s, unused.
            "--assert=plain", "-p", "no:hypothesispytest",
            *(arg for plugin in UNUSED_PYTEST_PLUGINS for arg in ("-p", f"no:{plugin}"))]
    if policy:
        args += ["--policy", policy]
    if strict:
        args.append("--dualcert-strict")
    if baseline:
        args += ["--baseline", baseline]
    if not asks_for_xdist(extra):
        # pytest-xdist's hooks cost ~0.1 ms per test even when no worker is started.
        args += ["-p", "no:xdist"]
    # The suites print nothing and log nothing: capturing output and logs around each of a test's three
    # phases cost ~3 s of a 10,000-endpoint run. A --capture or --log-* option after `--` still works.
    args.append("--capture=no")
    if not any("log" in a for a in extra):
        args += ["-p", "no:logging"]
    return args + extra


def asks_for_xdist(extra: list[str]) -> bool:
    return any(a in ("-n", "--numprocesses", "--dist", "-d") or a.startswith(("-n", "--numprocesses=", "--dist="))
               for a in extra)


def run_pytest(args: list[str], plugins: list[object] | None = None) -> int:
    import pytest

    return int(pytest.main(args, plugins=plugins))


def check_writable(directory: Path, target: Path | None = None) -> None:
    """Find out before probing that the reports can be written: nothing measured is lost."""
    if target is not None and target.exists() and not target.is_file() and not target.is_dir():
        # A device or FIFO (/dev/stdout) is written in place (render.results.atomic_write): its own mode counts.
        if not os.access(target, os.W_OK):
            raise UsageError(f"cannot write {target}: not writable", fix="choose another --html or --json")
        return
    existing = next((p for p in [directory, *directory.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"cannot write reports under {directory}: {existing} is not a directory",
                         fix="choose another --report-dir, --html or --json")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write reports under {directory}: {existing} is not writable",
                         fix="choose a writable --report-dir, --html or --json")


def optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None
