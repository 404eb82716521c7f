"""YAML loading that remembers line numbers, so errors can point at the line to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dualcert.errors import UsageError


class Mapping(dict[str, Any]):
    """A YAML mapping that knows the 1-based line of itself and of each key."""

    line: int | None = None
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


# libyaml's parser when PyYAML has it (Debian's and the wheels do): ~10x faster on a
# 2,000-node inventory, with the same marks (line numbers) and errors as the pure-Python one.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_Base):  # type: ignore[valid-type,misc]
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Mapping:
    mapping = Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "a key must be plain text", key_node.start_mark)
        key = str(key)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Ansible's own tags, common in Ansible YAML inventories (vault-encrypted passwords): the text
# is kept as it is written, never decrypted; dualcert reads no variable that would need it.
def _ansible_tagged(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


for _tag in ("!vault", "!unsafe"):
    _LineLoader.add_constructor(_tag, _ansible_tagged)


def load_yaml(path: Path, *, what: str) -> Any:
    """Parse `path`; a missing file or a YAML syntax error becomes a UsageError."""
    return parse_yaml(load_text(path, what=what), path, what=what)


def load_text(path: Path, *, what: str) -> str:
    """The text of `path`; a missing or unreadable file becomes a UsageError."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} file not found", file=path,
                         fix=f"check the path; it is read relative to {Path.cwd()}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} file: {exc}", file=path,
                         fix="make the file readable UTF-8 text") from None


def parse_yaml(text: str, path: Path | str, *, what: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise UsageError(f"{what} is not valid YAML: {problem}", file=path, line=line,
                         fix="fix the YAML syntax at that line (indentation, quotes, colons)") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{what} is not valid YAML: {exc}", file=path,
                         fix="fix the YAML syntax") from None
    except RecursionError:
        # PyYAML's composer recurses per nesting level: thousands of '[' exhaust the stack.
        raise UsageError(f"{what} is nested too deeply to be read", file=path,
                         fix="a hand-written file needs a few levels of nesting; check for runaway brackets") from None


class Reader:
    """Typed access to one YAML mapping with errors that name file and line."""

    def __init__(self, data: Any, path: Path | str, context: str, line: int | None = None) -> None:
        self.path, self.context = path, context
        if not isinstance(data, dict):
            raise UsageError(f"{context} must be a mapping (key: value lines), got {_kind(data)}",
                             file=path, line=line, fix=f"write {context} as 'key: value' lines")
        self.data = data
        self.line = getattr(data, "line", line)

    def line_of(self, key: str) -> int | None:
        return self.data.line_of(key) if isinstance(self.data, Mapping) else self.line

    def error(self, key: str | None, what: str, fix: str) -> UsageError:
        line = self.line_of(key) if key else self.line
        return UsageError(what, file=self.path, line=line, fix=fix)

    def reject_unknown(self, allowed: set[str] | frozenset[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.error(key, f"unknown key {key!r} in {self.context}",
                                 f"use one of: {', '.join(sorted(allowed))}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False,
            hint: str = "") -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.error(None, f"{self.context} has no {key!r}", hint or f"add '{key}:' to {self.context}")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # YAML's true/false are ints to Python; only accept them where a boolean is wanted.
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            names = " or ".join(_type_name(k) for k in kinds)
            raise self.error(key, f"{self.context}: {key!r} must be {names}, got {_kind(value)} {value!r}",
                             hint or f"give {key!r} a {names} value")
        return value

    def child(self, key: str, value: Any, context: str) -> Reader:
        return Reader(value, self.path, context, self.line_of(key))


def _type_name(kind: type) -> str:
    return {str: "text", int: "a whole number", float: "a number", bool: "true/false",
            list: "a list", dict: "a mapping"}.get(kind, kind.__name__)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {str: "text", int: "a number", float: "a number", bool: "true/false", list: "a list",
            Mapping: "a mapping", dict: "a mapping"}.get(type(value), type(value).__name__)
