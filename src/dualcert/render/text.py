"""Terminal text: the changes summary of a run, the diagnosis and tables `dualcert lab` prints.

Every line passes through `safe`: certificate and server text never reaches a terminal raw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dualcert.compare.comparison import Comparison
from dualcert.safetext import safe


def change_lines(comparison: Comparison, limit: int = 20) -> list[str]:
    lines = [safe(comparison.summary())]
    lines += [safe(f"  unexpected {c.kind}: {c.text()}") for c in comparison.unexpected[:limit]]
    return lines


def table_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart, indented by two."""
    table = [list(map(str, header)), *[list(map(str, row)) for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [safe("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))) for row in table]


def as_intended(diagnosis: Mapping[str, Any]) -> bool:
    """A results JSON diagnosis entry is as intended: its own flag when nodes intend different states
    (their releases'), else its state is the intended one."""
    return bool(diagnosis.get("as_intended", diagnosis["state"] == diagnosis["intended"]))


def diagnosis_lines(diagnoses: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each cluster's measured deployment state, what differs, what agents see and the fix, from the
    results JSON's `diagnosis` entries (rules.diagnosis.ClusterDiagnosis.to_json)."""
    if not diagnoses:
        return []
    lines = ["Deployment state per cluster (from the ECDSA-only and RSA-only probes):"]
    width = max(len(str(d["cluster"])) for d in diagnoses)
    pad = "".ljust(width)
    for d in diagnoses:
        nodes = ", ".join(f"{n} {s}" for n, s in d["nodes"].items())
        intended = as_intended(d)
        verdict = "as intended" if intended else f"intended {d['intended']}"
        if d.get("design"):
            verdict = f"{verdict} ({d['design']})"
        lines.append(f"  {str(d['cluster']).ljust(width)}  {str(d['state']).ljust(8)}  {verdict}: {nodes}")
        lines += [f"  {pad}  differs: {line}" for line in d["differs"]]
        if not intended:
            lines.append(f"  {pad}  agent experience: {d['agent_experience']}")
        lines += [f"  {pad}  fix: {step}" for step in d["remediation"]]
    return [safe(line) for line in lines]
