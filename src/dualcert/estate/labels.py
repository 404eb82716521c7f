"""Node and cluster labels (`labels: {site: dc1}`; Ansible's `dualcert_labels`): read and checked, so that
`--select` can pick the part of an estate one runner reaches (docs/inventory.md, "Labels and --select")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dualcert.errors import UsageError
from dualcert.estate.yamlfile import Mapping, Reader, parse_yaml

# Keys and values go into --select, test ids (a split cluster's part) and report file names: no ',', '=', spaces.
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
LABEL_CHARS = "letters, digits, '.', '_' or '-' (at most 63, not starting with '.', '_' or '-')"
EXAMPLE = "labels: {site: dc1, zone: voice}"
SHOWN = 10   # names (values, nodes, clusters) one message lists; the rest are counted


def named(names: list[str]) -> str:
    """`a, b, c and 7 more`: a message stays readable at 10,000 nodes."""
    more = len(names) - SHOWN
    return ", ".join(names[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def label_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in labels.items())


def pairs(text: str) -> list[tuple[str, str]]:
    """`key=value,key=value` as (key, value) pairs, in order; ValueError says what is wrong with it."""
    found = []
    for item in text.split(","):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not LABEL.match(key) or not LABEL.match(value):
            raise ValueError(f"{item.strip()!r} is not KEY=VALUE with {LABEL_CHARS} on each side")
        found.append((key, value))
    return found


def read_labels(reader: Reader, key: str, owner: str) -> dict[str, str]:
    """The `labels:` mapping under `key` of `reader`'s mapping (a node, a cluster), checked."""
    labels = reader.child(key, reader.get(key, dict, {}, hint=f"write '{EXAMPLE}'"), f"labels of {owner}")
    read: dict[str, str] = {}
    for name, value in labels.data.items():
        if not LABEL.match(str(name)):
            raise labels.error(name, f"label {name!r} of {owner} has unusable characters", f"use {LABEL_CHARS}")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise labels.error(name, f"label {name!r} of {owner} must be one word, got {value!r}",
                               f"quote it ({name}: 'yes'): YAML reads yes, no, true and false as true/false"
                               if isinstance(value, bool) else f"write '{name}: <value>', e.g. '{name}: dc1'")
        if not LABEL.match(str(value)):
            raise labels.error(name, f"label {name}={value!r} of {owner} has unusable characters", f"use {LABEL_CHARS}")
        read[str(name)] = str(value)
    return read


def ansible_labels(levels: list[tuple[Any, int]], path: Path) -> Mapping:
    """`dualcert_labels` as set at each level of a host's Ansible precedence (all, parent groups, child
    groups, the host), merged key by key: a site group's labels and a zone group's add up, and a host
    overrides one of them. Each level is a mapping (YAML) or `key=value,...` text (INI). Each label
    remembers the line that set it, for the inventory reader's errors."""
    merged = Mapping()
    merged.line, merged.key_lines = (levels[-1][1] if levels else None), {}
    for value, line in levels:
        level = _ansible_level(value, path, line)
        merged.update(level)
        merged.key_lines.update(dict.fromkeys(level, line))
    return merged


def _ansible_level(value: Any, path: Path, line: int) -> dict[str, Any]:
    if isinstance(value, str) and value.lstrip().startswith("{"):
        value = parse_yaml(value, path, what="dualcert_labels")   # INI with a JSON or YAML mapping
    if isinstance(value, dict):
        return dict(value)
    try:
        return dict(pairs(str(value)))
    except ValueError as exc:
        raise UsageError(f"dualcert_labels: {exc}", file=path, line=line,
                         fix="write dualcert_labels=site=dc1,zone=voice (INI) or a mapping (YAML)") from None
