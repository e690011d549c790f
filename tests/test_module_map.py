"""The package's import graph: no circles, and each layer imports only the layers below it.

docs/development.md draws the same map; this test keeps the two honest.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "airflow_provider_human"
PACKAGE = "airflow_provider_human"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """Modules of this package that ``name`` imports (``from pkg import submodule`` counts as the submodule)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            subs = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
            found.update(subs or {node.module})
            if len(subs) < len(node.names):
                found.add(node.module)
    return found & set(MODULES)


GRAPH = {name: _imports(name) - {name} for name in MODULES}


def _cycle_from(start: str) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in GRAPH[node]:
            if nxt == start:
                return [*path, start]
            if nxt not in path and len(path) < len(GRAPH):
                stack.append((nxt, [*path, nxt]))
    return None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.endswith("__init__")))
def test_no_module_imports_in_a_circle(name):
    # A package's __init__ re-exports its submodules: an edge into it from its own submodules is a circle.
    assert _cycle_from(name) is None, " -> ".join(_cycle_from(name) or [])


def test_the_exceptions_module_depends_on_nothing_of_ours():
    assert GRAPH[f"{PACKAGE}.exceptions"] == set()


@pytest.mark.parametrize(
    ("layer", "may_not_import"),
    [
        ("client", ("budget", "hooks", "operators", "reconciliation", "testing", "ui")),
        ("budget", ("hooks", "operators", "reconciliation", "testing", "ui")),
        ("reconciliation", ("hooks", "operators", "testing", "ui")),
        ("hooks", ("operators", "reconciliation", "testing", "ui")),
        ("operators", ("ui",)),
        ("ui", ("hooks", "operators", "testing")),  # the api-server's page reads the ledger, sends nothing
        # what a task says about itself (assets, lineage, links, its label): below the hook, above nothing
        *[
            (m, ("client", "budget", "hooks", "operators", "reconciliation", "testing", "ui"))
            for m in ("assets", "lineage", "links", "ui_links", "run_label")
        ],
        (
            "retry_policy",
            ("client", "budget", "hooks", "operators", "reconciliation", "testing", "notifications", "ui"),
        ),
        ("notifications", ("hooks", "operators", "testing", "ui")),
    ],
)
def test_layers_import_downwards_only(layer, may_not_import):
    bad = {
        (name, target)
        for name, targets in GRAPH.items()
        if name == f"{PACKAGE}.{layer}" or name.startswith(f"{PACKAGE}.{layer}.")
        for target in targets
        if any(target == f"{PACKAGE}.{other}" or target.startswith(f"{PACKAGE}.{other}.") for other in may_not_import)
    }
    assert bad == set()
