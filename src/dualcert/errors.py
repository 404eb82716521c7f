"""Errors a user can act on: which file, which line, what is wrong, what to do."""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """Bad input from the user (inventory, policy, options). Never a traceback."""

    def __init__(self, what: str, *, file: str | Path | None = None, line: int | None = None,
                 fix: str | None = None) -> None:
        self.what, self.file, self.line, self.fix = what, file, line, fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        text = f"{where}{self.what}"
        return f"{text}\n  fix: {self.fix}" if self.fix else text
