"""`dualcert init`: a commented starter inventory and policy for a UCCX + SocialMiner site."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from dualcert.cli.common import EXIT_USAGE_ERROR

EPILOG = """writes DIR/inventory.yaml and DIR/policy.yaml, commented, for a UCCX + SocialMiner site;
existing files are left alone unless --force is given. Then edit them and run:
  dualcert run --inventory DIR/inventory.yaml --policy DIR/policy.yaml"""

STARTER_FILES = ("inventory.yaml", "policy.yaml")


def cmd_init(ns: argparse.Namespace, extra: list[str]) -> int:
    """A commented starter inventory and policy for a UCCX + SocialMiner site."""
    target = Path(ns.dir)
    if target.exists() and not target.is_dir():
        print(f"dualcert: {target} exists and is not a directory\n  fix: give a directory", file=sys.stderr)
        return EXIT_USAGE_ERROR
    present = [target / name for name in STARTER_FILES if (target / name).exists()]
    if present and not ns.force:
        print(f"dualcert: not overwriting {', '.join(map(str, present))}\n"
              "  fix: edit the existing files, choose another directory, or pass --force", file=sys.stderr)
        return EXIT_USAGE_ERROR
    target.mkdir(parents=True, exist_ok=True)
    starter = resources.files("dualcert") / "data" / "starter"
    for name in STARTER_FILES:
        try:
            (target / name).write_text(starter.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
        except OSError as exc:  # write() names no file: this one failed
            exc.filename = exc.filename or str(target / name)
            raise
        print(f"wrote {target / name}")
    print(f"next: edit them, then\n  dualcert run --inventory {target / 'inventory.yaml'} "
          f"--policy {target / 'policy.yaml'}")
    return 0


def add_parser(sub: Any) -> None:
    init = sub.add_parser("init", help="write a commented starter inventory and policy (UCCX + SocialMiner)",
                          formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    init.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where to write them (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite existing inventory.yaml / policy.yaml")
    init.set_defaults(handler=cmd_init)
