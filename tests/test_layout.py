"""The package's layout holds (docs/architecture.md): no import cycles, imports only down the pipeline,
short modules that say what they are for, and every rule the suites and the lab name is registered."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dualcert.lab.expected import NODE_RULE_FAILS, PREDICTED_FAILURES
from dualcert.rules.registry import RULES, Scope

from .conftest import REPO

SRC = REPO / "src" / "dualcert"
# The pipeline, upstream first: a module may import from its own stage and the stages before it.
STAGES = ("base", "estate", "policy", "probe", "facts", "rules", "run", "compare", "render", "pytest", "lab", "cli")
BASE = {"dualcert", "dualcert.errors", "dualcert.safetext", "dualcert.verdict", "dualcert.offers",
        "dualcert.signals"}
MAX_LINES, MAX_PLUGIN_LINES = 400, 200


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def stage(module: str) -> int:
    if module in BASE:
        return 0
    return STAGES.index(module.split(".")[1])


def imports(module: str) -> set[str]:
    """The dualcert modules `module` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dualcert":
            for alias in node.names:  # `from dualcert.pytest import items` imports a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "dualcert"}
    return {m for m in found if m in MODULES and m != module}


GRAPH = {module: imports(module) for module in MODULES}


def test_the_import_checker_sees_imports() -> None:
    """Guards the tests below against an empty graph: known edges must be found."""
    assert "dualcert.rules.presented" in GRAPH["dualcert.rules.diagnosis"]
    assert "dualcert.pytest.items" in GRAPH["dualcert.pytest.plugin"]   # `from dualcert.pytest import items`
    assert "dualcert.estate.trustbundle" in GRAPH["dualcert.estate.inventory"]  # imported inside a function


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_go_down_the_pipeline_only() -> None:
    upward = [f"{m} ({STAGES[stage(m)]}) imports {t} ({STAGES[stage(t)]})"
              for m, targets in GRAPH.items() for t in sorted(targets) if stage(t) > stage(m)]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_short_and_say_what_they_are_for(module: str) -> None:
    text = MODULES[module].read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text))
    assert doc and doc.splitlines()[0].strip(), f"{module} does not start with a line saying what it is for"
    limit = MAX_PLUGIN_LINES if module == "dualcert.pytest.plugin" else MAX_LINES
    lines = text.count("\n")
    assert lines <= limit or "longer than" in doc.lower(), f"{module}: {lines} lines (at most {limit}, or say why)"


def test_every_rule_named_is_registered() -> None:
    named = set()
    for suite in (REPO / "suites").glob("test_*.py"):
        named |= set(re.findall(r"\.require\(\"([a-z_]+)\"\)", suite.read_text(encoding="utf-8")))
    named |= {rule for failures in PREDICTED_FAILURES.values() for rule, _ in failures} | set(NODE_RULE_FAILS)
    assert named and named <= set(RULES), f"not registered: {sorted(named - set(RULES))}"
    # One suite test per registered rule, so that --dualcert-items rule reports each one.
    assert named >= set(RULES), f"no suite test for: {sorted(set(RULES) - named)}"
    assert {r.name for r in RULES.values() if r.scope is Scope.NODE} == set(NODE_RULE_FAILS)


def test_every_registered_rule_is_documented() -> None:
    """docs/checks.md lists each rule (as `rule` or `test_rule[...]`): the registry and the page agree."""
    page = (REPO / "docs" / "checks.md").read_text(encoding="utf-8")
    missing = [name for name in RULES if f"`{name}`" not in page and f"`test_{name}[" not in page]
    assert not missing, f"docs/checks.md does not describe: {missing}"
