"""Product releases as the inventory writes them ("11.5(1)SU1", "12.5(1)", "14SU3", "15SU2", "X14.2")
and the release ranges the catalog states facts for (">=11.6", "11.5", ">=14 <15SU2").

Parsing is lenient about spacing, case and the maintenance number in parentheses; a release
is compared by (major, minor, SU), which is how the vendor's documents state a behaviour
("from 15SU2", "11.6 and later"). An Expressway release keeps its "X" so it never compares
equal to a VOS one by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KNOWN_FORMS = ('"11.5(1)SU1"', '"12.5(1)"', '"12.5"', '"14SU3"', '"15SU2"', '"15"', '"X14.2"', '"X15.0.1"')

_VOS = re.compile(r"^v?(?P<major>\d{1,2})(?:\.(?P<minor>\d))?(?:\((?P<maint>\d+)\))?(?:\.(?P<dot>\d+))?"
                  r"(?:su(?P<su>\d+)[a-z]?)?(?:es\d+)?$")
_EXPRESSWAY = re.compile(r"^x(?P<major>\d{1,2})(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?$")
_BOUND = re.compile(r"^(?P<op>>=|<=|>|<|==|=)?(?P<release>.+)$")


@dataclass(frozen=True, order=True)
class Release:
    """One release: comparable within its family (VOS or Expressway)."""

    family: str          # "vos" | "expressway"
    major: int
    minor: int
    su: int              # service update (VOS) or patch (Expressway); 0 for the base release
    text: str = ""       # as the inventory wrote it, for messages

    @property
    def train(self) -> str:
        """The release train: "11.5", "14", "X14.2"."""
        if self.family == "expressway":
            return f"X{self.major}.{self.minor}"
        return f"{self.major}" if self.major >= 14 and self.minor == 0 else f"{self.major}.{self.minor}"

    def key(self) -> tuple[str, int, int, int]:
        return (self.family, self.major, self.minor, self.su)

    def __str__(self) -> str:
        return self.text or self.train + (f"SU{self.su}" if self.su else "")


def parse_release(value: object) -> Release:
    """A release from the inventory's `version:` (text, or a YAML number such as 12.5 or 15).

    Raises ValueError naming the known forms when the text is not one of them."""
    text = str(value).strip()
    compact = re.sub(r"[\s_]+", "", text).lower()
    match = _EXPRESSWAY.match(compact)
    if match:
        return Release("expressway", int(match["major"]), int(match["minor"] or 0), int(match["patch"] or 0), text)
    match = _VOS.match(compact)
    if match and not (match["dot"] and match["su"]):
        major, minor = int(match["major"]), int(match["minor"] or 0)
        # "12.5.1" is 12.5(1); a fourth dotted number would be a build ("12.5.1.12900-115"), rejected below.
        if 8 <= major <= 30:
            return Release("vos", major, minor, int(match["su"] or 0), text)
    raise ValueError(f"{text!r} is not a release dualcert can read; write it like {', '.join(KNOWN_FORMS)}")


@dataclass(frozen=True)
class ReleaseRange:
    """Releases a catalog fact holds for: bounds joined by spaces (all must hold), or one train."""

    text: str
    bounds: tuple[tuple[str, Release], ...]

    def __contains__(self, release: Release) -> bool:
        return all(_holds(release, op, bound) for op, bound in self.bounds)


def _holds(release: Release, op: str, bound: Release) -> bool:
    if release.family != bound.family:
        return False
    if op == "train":
        return (release.major, release.minor) == (bound.major, bound.minor)
    mine, theirs = release.key()[1:], bound.key()[1:]
    return {">=": mine >= theirs, ">": mine > theirs, "<=": mine <= theirs, "<": mine < theirs,
            "==": mine == theirs}[op]


def parse_range(text: str) -> ReleaseRange:
    """">=11.6", "<11.5", "11.5" (the whole 11.5 train), ">=14 <15SU2", "*" (every release)."""
    if text.strip() == "*":
        return ReleaseRange(text, ())
    bounds: list[tuple[str, Release]] = []
    for word in text.split():
        match = _BOUND.match(word)
        if match is None:
            raise ValueError(f"{word!r} is not a release bound")
        op = {"=": "==", None: "train"}.get(match["op"], match["op"])
        release = parse_release(match["release"])
        if op == "train" and release.su:
            op = "=="  # "15SU2" alone means that release exactly
        bounds.append((op, release))
    if not bounds:
        raise ValueError("an empty release range")
    return ReleaseRange(text, tuple(bounds))


def parse_upgrade(text: str) -> tuple[str, str]:
    """`--upgrade FROM:TO`: two releases; ValueError saying how to write it otherwise."""
    before, colon, after = text.partition(":")
    if not colon or not before.strip() or not after.strip():
        raise ValueError(f"--upgrade {text!r} is not FROM:TO; write e.g. --upgrade 11.5:12.5(1)")
    for release in (before, after):
        parse_release(release)
    return before.strip(), after.strip()
