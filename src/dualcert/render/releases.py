"""The release table of docs/releases.md, from the catalog: role x release -> what each service
presents, TLS 1.3, the intended state and the sources (tests/test_releases.py keeps the page in step)."""

from __future__ import annotations

from dualcert.estate.catalog import Role, load_catalog
from dualcert.estate.release import parse_release
from dualcert.estate.releases import Source, resolve


def _releases(role: Role) -> list[str]:
    """The role's trains, plus every SU a rule starts or stops at (15SU2, 15SU3)."""
    found = list(role.trains)
    for rule in role.releases:
        for _, bound in rule.when.bounds:
            if bound.su and str(bound) not in found:
                found.append(bound.text or str(bound))
    return sorted(found, key=lambda text: parse_release(text).key())


def release_rows(role: Role, sources: dict[Source, int]) -> list[list[str]]:
    rows: list[list[str]] = []
    parameters = {p.name: p.default for p in role.parameters.values()}
    for text in _releases(role):
        view, specs = resolve(role.name, parse_release(text), role.releases, dict(role.services), parameters)
        dual: list[str] = []
        rsa_only: list[str] = []
        tls13: dict[str, list[str]] = {"required": [], "absent": []}
        for name, spec in specs.items():
            release = view.services.get(name)
            if spec.ecdsa_unit is None or (release is not None and release.rsa_only_by_design):
                rsa_only.append(f"{name} ({spec.rsa_unit})")
            else:
                dual.append(f"{name} ({spec.rsa_unit} / {spec.ecdsa_unit})")
            level = release.tls13 if release is not None else None
            if level in tls13:
                tls13[level].append(name)
        tls = "; ".join(f"{level}: {', '.join(names) if len(names) < len(specs) else 'all'}"
                        for level, names in tls13.items() if names) or "measured"
        cited: dict[str, list[str]] = {}
        for rule in view.matched:
            notes = cited.setdefault(rule.confidence, [])
            notes += [f"[{sources.setdefault(s, len(sources) + 1)}]" for s in rule.sources]
        facts = "; ".join(f"{level} {''.join(dict.fromkeys(notes))}" for level, notes in cited.items())
        every = len(specs)
        row = [role.name, text, _listed(dual, every), _listed(rsa_only, every), tls,
               view.intended or "measured", view.design or "", facts or "no release rule: measured"]
        if rows and rows[-1][2:] == row[2:]:  # consecutive releases that present the same: one row
            rows[-1][1] = f"{rows[-1][1].split(' to ')[0]} to {text}"
        else:
            rows.append(row)
    return rows


def _listed(services: list[str], every: int) -> str:
    if not services:
        return "-"
    units = {s.split(" ", 1)[1] for s in services}
    if len(services) == every and len(units) == 1:
        return f"all {units.pop()}"
    return ", ".join(services)


def markdown() -> str:
    """The table and its numbered sources, as docs/releases.md embeds them."""
    sources: dict[Source, int] = {}
    header = ["role", "release", "RSA and ECDSA (unit / unit)", "RSA only", "TLS 1.3", "intended", "behaviour",
              "confidence, sources"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for role in load_catalog().values():
        if role.releases:
            lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |"
                      for row in release_rows(role, sources)]
    lines.append("")
    lines += [f"{number}. {source.title}" + (f" <{source.url}>" if source.url else "")
              for source, number in sources.items()]
    return "\n".join(lines) + "\n"
