"""Ansible inventories (INI and YAML) read as dualcert inventories (docs/inventory.md, "Ansible inventories").

Ansible's own parser lives in ansible-core, far too heavy a dependency for this, and the
INI dialect is not configparser's (host lines carry `key=value` pairs, `[g:vars]`,
`[g:children]`), so the INI reader is a small one here. YAML goes through dualcert's
line-numbered loader. Both produce the same intermediate model (groups of hosts with
vars, each remembering its line), which becomes a dualcert inventory mapping whose lines
point back into the Ansible file, so errors name the line to fix there.

Mapping: a group whose name is a catalog role (uccx, socialminer, ...) gives its hosts that
role, or a `dualcert_role` var says it; `ansible_host` is the address (an IP) or the host
name; `dualcert_host` names the host the certificate must carry; `dualcert_cluster`,
`dualcert_sni` map to cluster and sni; `dualcert_version` (or plain `version`) is the node's
release, on the host or a group, and an error in it names the line that set it; `dualcert_labels`
its labels. `dualcert_site`, `dualcert_trust`, `dualcert_catalog` (usually in the `all` group's vars)
give the site name, the trust bundle and a catalog.
Hosts without a role are left out (an Ansible inventory lists more than appliances).
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dualcert.errors import UsageError
from dualcert.estate.labels import ansible_labels
from dualcert.estate.model import is_ip
from dualcert.estate.yamlfile import Mapping, parse_yaml

LABELS = "dualcert_labels"   # merged key by key along the precedence (estate/labels.py), unlike Ansible's dicts
_FIX_ROLE = "set 'dualcert_role=<role>' on the host or its group, or put it in one group named after its role"
# Ansible's host ranges: numeric with leading zeros kept (web[01:20]), alphabetic (web[a:f]), with a stride ([1:9:2]).
_RANGE = re.compile(r"\[(?:(\d+):(\d+)|([a-z]):([a-z])|([A-Z]):([A-Z]))(?::(\d+))?\]")
# Hosts that one pattern (web[01:99]-[a:z]: 2,574) and one file may expand to. Nested ranges multiply, so the
# count is known before anything is expanded; a real estate is thousands of hosts, not a hundred thousand.
MAX_HOSTS = 100_000


class _Budget:
    """The hosts one inventory file may still expand to (MAX_HOSTS in all)."""

    def __init__(self) -> None:
        self.left = MAX_HOSTS

    def take(self, count: int, pattern: str, path: Path, number: int) -> None:
        if count > self.left:
            raise UsageError(f"host pattern {pattern!r} brings the file past {MAX_HOSTS:,} hosts "
                             f"({MAX_HOSTS - self.left:,} before it, {count:,} from it)", file=path, line=number,
                             fix="split the estate into several inventories (or use --shard on one)")
        self.left -= count


@dataclass
class Host:
    name: str
    line: int
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class Group:
    name: str
    line: int
    hosts: dict[str, Host] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    var_lines: dict[str, int] = field(default_factory=dict)   # where each of `vars` was set, for errors


def detect_format(path: Path, text: str) -> tuple[str, Any]:
    """`ansible-ini`, `ansible-yaml` or `dualcert`, from the file name and its first lines, with the
    YAML document when it was parsed to tell (the caller reads it, not the text again: parsing a
    10,000-node inventory takes seconds); None for INI or a YAML error (reported by the reader)."""
    if path.suffix.lower() in (".ini", ".cfg"):
        return "ansible-ini", None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "---")):
            continue
        if line.startswith("[") and "]" in line and not line.startswith("[{"):
            return "ansible-ini", None
        break
    try:
        data = parse_yaml(text, path, what="inventory")
    except UsageError:
        return "dualcert", None  # let the dualcert reader report the YAML error with its line
    if not isinstance(data, dict) or "nodes" in data:
        return "dualcert", data
    groupish = [v for v in data.values() if isinstance(v, dict) and {"hosts", "children", "vars"} & set(v)]
    return ("ansible-yaml" if "all" in data or groupish else "dualcert"), data


def to_inventory_data(path: Path, text: str, fmt: str, roles_for: Callable[[str | None], set[str]],
                      parsed: Any = None) -> Mapping:
    """The Ansible inventory at `path` as a dualcert inventory mapping (with source lines).
    `roles_for(dualcert_catalog)` gives the role names of the catalog the inventory names (or
    of the shipped one), which decide which groups are roles. `parsed`: the YAML document of
    `text` when detect_format() already parsed it."""
    groups = _parse_ini(text, path) if fmt == "ansible-ini" else _parse_yaml(text, path, parsed)
    catalog = groups["all"].vars.get("dualcert_catalog")
    return _convert(groups, path, roles_for(None if catalog is None else str(catalog)))


# --- INI ------------------------------------------------------------------------------------

def _parse_ini(text: str, path: Path) -> dict[str, Group]:
    budget = _Budget()
    groups: dict[str, Group] = {"all": Group("all", 1), "ungrouped": Group("ungrouped", 1)}
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section, kind = _section(line, path, number)
            groups.setdefault(section, Group(section, number))
            continue
        group = groups[section]
        if kind == "vars":
            key, value = _assignment(line, path, number)
            group.vars[key] = value
            group.var_lines[key] = number
        elif kind == "children":
            child = line.split()[0]
            groups.setdefault(child, Group(child, number))
            group.children.append(child)
        else:
            for host in _host_line(line, path, number, budget):
                group.hosts[host.name] = host
    return groups


def _section(line: str, path: Path, number: int) -> tuple[str, str]:
    header, closed, rest = line.partition("]")
    if not closed or rest.strip()[:1] not in ("", "#", ";"):
        raise UsageError(f"section header {line!r} is not closed with ']'", file=path, line=number,
                         fix="write it as [group], [group:vars] or [group:children]")
    name, _, kind = header[1:].strip().partition(":")
    if kind not in ("", "vars", "children") or not name:
        raise UsageError(f"unknown section {line!r}", file=path, line=number,
                         fix="use [group], [group:vars] or [group:children]")
    return name, kind or "hosts"


def _words(line: str, path: Path, number: int) -> list[str]:
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split, lexer.commenters = True, "#;"  # Ansible's INI comments: '#' and ';'
    try:
        return list(lexer)
    except ValueError as exc:
        raise UsageError(f"cannot split this line: {exc}", file=path, line=number,
                         fix="close the quotes around the value") from None


def _assignment(text: str, path: Path, number: int) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"expected key=value, got {text!r}", file=path, line=number,
                         fix="write variables as name=value")
    words = _words(value, path, number)
    return key.strip(), " ".join(words)


def _host_line(line: str, path: Path, number: int, budget: _Budget) -> list[Host]:
    words = _words(line, path, number)
    if not words:
        return []
    host_vars = dict(_assignment(word, path, number) for word in words[1:])
    return [Host(name, number, dict(host_vars)) for name in _expand(words[0], path, number, budget)]


def _expand(pattern: str, path: Path, number: int, budget: _Budget) -> list[str]:
    """Ansible's host ranges, nested ones included (web[01:99]-[a:z]); other patterns are refused.
    The count is checked against MAX_HOSTS (one pattern, and the file so far) before expanding."""
    ranges = list(_RANGE.finditer(pattern))
    if "[" in _RANGE.sub("", pattern) or "]" in _RANGE.sub("", pattern):
        raise UsageError(f"host pattern {pattern!r} is not supported", file=path, line=number,
                         fix="use a range such as host[01:03] or host[a:c], or list the hosts one per line")
    if not ranges:
        budget.take(1, pattern, path, number)
        return [pattern]
    count = 1
    for match in ranges:
        count *= _range_size(match, path, number)
        if count > MAX_HOSTS:
            raise UsageError(f"host pattern {pattern!r} expands to more than {MAX_HOSTS:,} hosts", file=path,
                             line=number, fix="write smaller ranges, or split the estate into several inventories")
    budget.take(count, pattern, path, number)
    literals = [pattern[a.end():b.start()] for a, b in itertools.pairwise(ranges)]
    parts = [[pattern[:ranges[0].start()]]]
    for match, after in zip(ranges, [*literals, pattern[ranges[-1].end():]], strict=True):
        parts += [_range_values(match), [after]]
    return ["".join(combination) for combination in itertools.product(*parts)]


def _range_bounds(match: re.Match[str]) -> tuple[int, int, int, bool]:
    """(first, last, stride, numeric) of one range."""
    num_first, num_last, low_first, low_last, up_first, up_last, stride = match.groups()
    if num_first is not None:
        return int(num_first), int(num_last), int(stride or 1), True
    return ord(low_first or up_first), ord(low_last or up_last), int(stride or 1), False


def _range_size(match: re.Match[str], path: Path, number: int) -> int:
    first, last, stride, _ = _range_bounds(match)
    if last < first or stride < 1:
        raise UsageError(f"host range {match.group()} is empty", file=path, line=number,
                         fix="write the range as [first:last] or [first:last:stride] with first <= last, stride >= 1")
    return (last - first) // stride + 1


def _range_values(match: re.Match[str]) -> list[str]:
    first, last, stride, numeric = _range_bounds(match)
    if not numeric:
        return [chr(value) for value in range(first, last + 1, stride)]
    width = len(match.group(1)) if match.group(1).startswith("0") else 0  # Ansible keeps the leading zeros
    return [str(value).zfill(width) for value in range(first, last + 1, stride)]


# --- YAML -----------------------------------------------------------------------------------

def _parse_yaml(text: str, path: Path, parsed: Any = None) -> dict[str, Group]:
    data = parse_yaml(text, path, what="Ansible inventory") if parsed is None else parsed
    if not isinstance(data, dict):
        raise UsageError("an Ansible YAML inventory must be a mapping of groups (all: ...)", file=path,
                         fix="start the file with 'all:' and put hosts under 'hosts:' or 'children:'")
    groups: dict[str, Group] = {"all": Group("all", 1)}
    budget = _Budget()
    for name, body in data.items():
        _yaml_group(groups, name, body, path, _line(data, name), budget)
        if name != "all" and name not in groups["all"].children:
            groups["all"].children.append(name)
    return groups


def _line(mapping: Any, key: str) -> int:
    return (mapping.line_of(key) if isinstance(mapping, Mapping) else None) or 1


def _yaml_group(groups: dict[str, Group], name: str, body: Any, path: Path, line: int, budget: _Budget) -> None:
    group = groups.setdefault(name, Group(name, line))
    if body is None:
        return
    if not isinstance(body, dict):
        raise UsageError(f"group {name!r} must be a mapping with hosts, vars or children", file=path, line=line,
                         fix="write the group as 'name:' followed by indented 'hosts:' / 'vars:' / 'children:'")
    for key in body:
        if key not in ("hosts", "vars", "children"):
            raise UsageError(f"unknown key {key!r} in group {name!r}", file=path, line=_line(body, key),
                             fix="a group has only 'hosts:', 'vars:' and 'children:'")
    for host_name, host_vars in _mapping(body, "hosts", path).items():
        host_line = _line(body["hosts"], host_name)
        if host_vars is not None and not isinstance(host_vars, dict):
            raise UsageError(f"host {host_name!r} must have a mapping of vars or nothing", file=path,
                             line=host_line, fix="write 'hostname:' alone, or with indented 'var: value' lines")
        for expanded in _expand(str(host_name), path, host_line, budget):
            group.hosts[expanded] = Host(expanded, host_line, dict(host_vars or {}))
    group_vars = _mapping(body, "vars", path)
    group.vars.update(group_vars)
    group.var_lines.update({str(k): _line(group_vars, k) for k in group_vars})
    for child, child_body in _mapping(body, "children", path).items():
        group.children.append(child)
        _yaml_group(groups, child, child_body, path, _line(body["children"], child), budget)


def _mapping(body: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"'{key}:' must be a mapping", file=path, line=_line(body, key),
                         fix=f"indent the entries under '{key}:' as 'name:' lines")
    return value


# --- groups -> dualcert inventory -------------------------------------------------------------

def _ancestry(groups: dict[str, Group]) -> dict[str, list[str]]:
    """For each host: its groups, parents before children (Ansible's var precedence)."""
    parents: dict[str, set[str]] = {name: set() for name in groups}
    for group in groups.values():
        for child in group.children:
            parents.setdefault(child, set()).add(group.name)

    depths: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
        # Memoised: nested groups sharing parents (a diamond per level) made this exponential in the levels.
        if name not in depths:
            above = [p for p in parents.get(name, ()) if p not in seen]
            depths[name] = 1 + max((depth(p, seen | {name}) for p in above), default=0)
        return depths[name]

    def closure(name: str) -> set[str]:
        found, todo = {name}, [name]
        while todo:
            for parent in parents.get(todo.pop(), ()):
                if parent not in found:
                    found.add(parent)
                    todo.append(parent)
        return found

    member: dict[str, set[str]] = {}
    for group in groups.values():
        for host in group.hosts:
            member.setdefault(host, set()).update(closure(group.name) | {"all"})
    return {host: sorted(names, key=lambda g: (depth(g), g)) for host, names in member.items()}


def _convert(groups: dict[str, Group], path: Path, roles: set[str]) -> Mapping:
    hosts: dict[str, Host] = {}
    for group in groups.values():
        for name, host in group.hosts.items():
            if name in hosts:
                hosts[name].vars.update(host.vars)
            else:
                hosts[name] = Host(name, host.line, dict(host.vars))
    top_vars = groups["all"].vars
    out = Mapping()
    out.line, out.key_lines = 1, {}
    for key, var in (("site", "dualcert_site"), ("trust", "dualcert_trust"), ("catalog", "dualcert_catalog")):
        if top_vars.get(var) is not None:
            out[key] = str(top_vars[var])
            out.key_lines[key] = groups["all"].line
    nodes: list[Mapping] = []
    for host_name, member_of in _ancestry(groups).items():
        host = hosts[host_name]
        merged: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for group_name in member_of:
            merged.update(groups[group_name].vars)
            lines.update(groups[group_name].var_lines)
        merged.update(host.vars)
        lines.update(dict.fromkeys(host.vars, host.line))
        role = merged.get("dualcert_role") or _role_from_groups(host, member_of, roles, path)
        if role:
            levels = [(groups[g].vars[LABELS], groups[g].var_lines.get(LABELS, groups[g].line)) for g in member_of
                      if LABELS in groups[g].vars]
            levels += [(host.vars[LABELS], host.line)] if LABELS in host.vars else []
            nodes.append(_node(host, str(role), merged, lines, ansible_labels(levels, path) if levels else None))
    if not nodes:
        raise UsageError(f"no host of this Ansible inventory has a dualcert role (groups: "
                         f"{', '.join(sorted(g for g in groups if g not in ('all', 'ungrouped'))) or 'none'})",
                         file=path, fix=f"name a group after a role ({', '.join(sorted(roles))}), or {_FIX_ROLE}")
    out["nodes"] = nodes
    out.key_lines["nodes"] = 1
    return out


def _role_from_groups(host: Host, member_of: list[str], roles: set[str], path: Path) -> str | None:
    found = [g for g in member_of if g in roles and g != "generic"]
    if len(found) > 1:
        raise UsageError(f"host {host.name!r} is in groups named after several roles ({', '.join(found)})",
                         file=path, line=host.line, fix=_FIX_ROLE)
    return found[0] if found else None


def _node(host: Host, role: str, merged: dict[str, Any], lines: dict[str, int], labels: Mapping | None) -> Mapping:
    node = Mapping()
    node.line, node.key_lines = host.line, {}
    node["name"] = host.name
    ansible_host = merged.get("ansible_host")
    address = str(ansible_host) if ansible_host is not None and is_ip(str(ansible_host)) else None
    name_host = str(ansible_host) if ansible_host is not None and address is None else None
    node["host"] = str(merged.get("dualcert_host") or name_host or host.name)
    if address:
        node["address"] = address
    node["role"] = role
    for key in ("cluster", "sni"):
        if merged.get(f"dualcert_{key}") is not None:
            node[key] = str(merged[f"dualcert_{key}"])
    node.key_lines = dict.fromkeys(node, host.line)
    version_var = next((v for v in ("dualcert_version", "version") if merged.get(v) is not None), None)
    if version_var:
        node["version"] = str(merged[version_var])
        node.key_lines["version"] = lines.get(version_var, host.line)
    if labels is not None:
        node["labels"], node.key_lines["labels"] = labels, labels.line or host.line
    return node

