"""The generated case set's registry: each case is a function of a Builder, registered with its
expected verdict and the standard's reason; generate() makes them all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .case import Case
from .pki import Builder, Made, private_pem

# A case's certificates: (trusted, chain) or (trusted, chain, peer name).
Made2 = tuple[Sequence[Made], Sequence[Made]]
Made3 = tuple[Sequence[Made], Sequence[Made], str]
Maker = Callable[[Builder], Made2 | Made3]
PEER = "www.example.test"
# The validation time of the cases that set one (their certificates lie around it, not around today).
FIXED = dt.datetime(2016, 3, 1, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Entry:
    category: str
    make: Maker
    expected: bool
    why: str
    fixed_time: bool

    @property
    def id(self) -> str:
        return f"{self.category}-{self.make.__name__.replace('_', '-')}"


ENTRIES: list[Entry] = []


def register(category: str) -> tuple[Callable[..., Callable[[Maker], Maker]], Callable[..., Callable[[Maker], Maker]]]:
    """The `accept(why)` and `reject(why)` decorators of one category."""
    def decorator(expected: bool) -> Callable[..., Callable[[Maker], Maker]]:
        def outer(why: str, fixed_time: bool = False) -> Callable[[Maker], Maker]:
            def inner(make: Maker) -> Maker:
                ENTRIES.append(Entry(category, make, expected, why, fixed_time))
                return make
            return inner
        return outer
    return decorator(True), decorator(False)


def generate(now: dt.datetime) -> list[Case]:
    """Every registered case, its certificates laid around `now` (or FIXED for the fixed-time ones)."""
    from . import cases_forms, cases_names, cases_path, cases_usage  # noqa: F401  (importing registers them)

    made = []
    for entry in ENTRIES:
        at = FIXED if entry.fixed_time else now
        trusted, chain, *peer = entry.make(Builder(entry.id, at))
        made.append(Case(entry.id, entry.expected, entry.why, tuple(m.der for m in trusted),
                         tuple(m.der for m in chain), private_pem(chain[0].key), peer[0] if peer else PEER,
                         FIXED if entry.fixed_time else None, entry.category))
    ids = [c.id for c in made]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    return made
