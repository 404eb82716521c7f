"""The `dualcert` command: run the suites against a site, or against the embedded lab; compare, merge and
re-render results. One module per subcommand (its options, help and handler); the work of each lives in
the stage that does it (render.fanin for merge and report)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import NoReturn

from dualcert import __version__
from dualcert.cli import diff, init, lab, merge, report, run
from dualcert.cli.common import EXIT_INTERNAL_ERROR, EXIT_USAGE_ERROR, suites_dir

__all__ = ["build_parser", "entry", "main", "suites_dir"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualcert",
        description="TLS certificate-policy compliance for dual RSA/ECDSA deployments: handshakes with every "
                    "node and service offering ECDSA only, RSA only and both, over TLS 1.2 and 1.3, and checks "
                    "the chain each offer gets against the intended policy.")
    parser.add_argument("--version", action="version", version=f"dualcert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (run, lab, diff, merge, report, init):
        command.add_parser(sub)
    return parser


def _file_error(exc: OSError) -> int:
    """A file dualcert could not write or read (init's starter files, the lab's --pki-dir): said, not a bug."""
    from dualcert.pytest.exitcode import PATH_ERRNOS

    print(f"dualcert: cannot use {exc.filename}: {exc.strerror or exc}\n"
          "  fix: choose a writable path, free space or raise the file-size limit", file=sys.stderr)
    return EXIT_USAGE_ERROR if exc.errno in PATH_ERRNOS else EXIT_INTERNAL_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        index = argv.index("--")
        argv, extra = argv[:index], argv[index + 1:]
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:  # argparse says 2 for a bad option; 2 means "interrupted" here
        return EXIT_USAGE_ERROR if exc.code == 2 else int(exc.code or 0)
    if not getattr(ns, "handler", None):
        parser.print_help()
        return EXIT_USAGE_ERROR
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    try:
        return int(ns.handler(ns, extra))
    except KeyboardInterrupt:
        print("dualcert: interrupted", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one clear line and exit code 3, the traceback on request
        if isinstance(exc, OSError) and exc.filename is not None:
            return _file_error(exc)
        if os.environ.get("DUALCERT_TRACEBACK"):
            import traceback

            traceback.print_exc()
        print(f"dualcert: internal error (a dualcert bug): {type(exc).__name__}: {exc}\n"
              "  fix: rerun with DUALCERT_TRACEBACK=1 and report the traceback", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


def entry() -> NoReturn:
    """The `dualcert` command: main(), then an immediate exit. Every report, journal and lab is closed
    before main() returns; what the interpreter would do after it is free a large run's objects one by
    one (2.6 s after a 10,000-endpoint run, docs/scale.md). Under a profiler or a coverage tracer the
    interpreter ends as usual, so that they write what they measured."""
    code = main()
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):   # a closed pipe: nothing more can be said on it
            stream.flush()
    os._exit(code)
