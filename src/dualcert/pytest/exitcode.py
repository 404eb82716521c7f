"""The run's exit code where the policy does not decide it, and its one-line reason (docs/exit-codes.md).

A crashed check or dualcert fixture is an internal error (3), never a policy failure (1); a report
that could not be written is 3 (disk full, file-size limit) or 4 (a path that cannot be written:
read-only, not a directory), never success; a run that checked nothing keeps pytest's 5 and says why.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import pytest

from dualcert.pytest.state import CRASHES_KEY, EXIT_REASON_KEY, WRITE_FAILURES_KEY, run_of
from dualcert.safetext import safe

EXIT_INTERNAL_ERROR = int(pytest.ExitCode.INTERNAL_ERROR)  # pytest's exit codes are dualcert's
EXIT_USAGE_ERROR = int(pytest.ExitCode.USAGE_ERROR)
EXIT_NOTHING_CHECKED = int(pytest.ExitCode.NO_TESTS_COLLECTED)
# Errors the user fixes by choosing another path (exit 4); the others (ENOSPC, EFBIG, EDQUOT, EIO) are 3.
PATH_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                         errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP})


def write_failed(config: pytest.Config, what: str, path: Path, exc: OSError) -> None:
    """Record a report that could not be written (said at once on stderr); the run cannot exit 0 or 1."""
    message = safe(f"cannot write the {what} {path}: {exc.strerror or exc}")
    code = EXIT_USAGE_ERROR if exc.errno in PATH_ERRNOS else EXIT_INTERNAL_ERROR
    config.stash.setdefault(WRITE_FAILURES_KEY, []).append((message, code))
    fix = "choose a writable path (--report-dir, --html, --json)" if code == EXIT_USAGE_ERROR else \
        "free space or raise the file-size limit, then rerun"
    print(f"dualcert: {message}\n  fix: {fix}", file=sys.stderr, flush=True)


def apply_write_failures(session: pytest.Session) -> None:
    """A failed write outranks the policy's verdict (0, 1) and "nothing checked" (5)."""
    failures = session.config.stash.get(WRITE_FAILURES_KEY, [])
    if failures and int(session.exitstatus) in (0, int(pytest.ExitCode.TESTS_FAILED), EXIT_NOTHING_CHECKED):
        session.exitstatus = max(code for _, code in failures)


def exit_reasons(config: pytest.Config) -> list[str]:
    """Why the run exits as it does, one line each, when not the policy's verdict alone."""
    reason = config.stash.get(EXIT_REASON_KEY, "")
    return [reason] * bool(reason) + [message for message, _ in config.stash.get(WRITE_FAILURES_KEY, [])]


class ExitCodes:
    """Registered with the run: counts what the selection removed, and settles crashes and empty runs."""

    def __init__(self, config: pytest.Config) -> None:
        self.deselected = 0
        self.config = config

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        # Only the user's selection (-k, -m, --deselect): dualcert's placeholders are never items (items.collectable).
        self.deselected += len(items)

    def pytest_internalerror(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """dualcert's own hooks raised (the probe phase, say): pytest prints the traceback and exits 3; the
        results JSON lists it too."""
        self.config.stash.setdefault(CRASHES_KEY, []).append(safe(f"session {excinfo.typename}: {excinfo.value}"))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Runs first, so that the results JSON and the terminal summary see the final code."""
        config = session.config
        crashes = config.stash.get(CRASHES_KEY, [])
        if crashes and int(exitstatus) in (0, pytest.ExitCode.TESTS_FAILED, EXIT_INTERNAL_ERROR):
            session.exitstatus = EXIT_INTERNAL_ERROR
            config.stash[EXIT_REASON_KEY] = (f"internal error: {len(crashes)} check(s) crashed (a dualcert bug; "
                                             f"exit code 3), e.g. {crashes[0]}")
        elif int(exitstatus) == EXIT_NOTHING_CHECKED or (int(exitstatus) == 0 and _no_endpoint(config)):
            # An empty shard or inventory collects only empty-parameter skips: nothing checked all the same.
            session.exitstatus = EXIT_NOTHING_CHECKED
            config.stash[EXIT_REASON_KEY] = "nothing was checked (exit code 5): " + self.nothing_checked(config)

    def nothing_checked(self, config: pytest.Config) -> str:
        run = run_of(config)
        if run is not None and _no_endpoint(config):
            shard, select = run.options.shard, run.options.select
            of = f"the nodes of --select {select.text()}" if select is not None else "the inventory"
            where = f"shard {shard[0]}/{shard[1]} of {of}" if shard else of
            return f"{where} has no endpoint to probe" + (" (more shards than clusters)" if shard else "")
        how = [f"-k {config.option.keyword!r}"] if config.option.keyword else []
        how += [f"-m {config.option.markexpr!r}"] if config.option.markexpr else []
        how += ["--deselect"] if config.getoption("deselect", None) else []
        if self.deselected or how:  # an xdist controller collects nothing itself: the workers deselected
            of = f"the {self.deselected}" if self.deselected else "the"
            return f"{' and '.join(how) or 'the selection'} left none of {of} dualcert tests"
        return "no dualcert test was collected (name the suites, as `dualcert run` does)"


def _no_endpoint(config: pytest.Config) -> bool:
    run = run_of(config)
    return run is not None and not run.keys()
