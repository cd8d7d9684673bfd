"""Records depend on customers, never the other way round, and no import hides inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Return (imported module, whether the import is inside a function) for every import in *path*."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def _modules(app: str) -> list[Path]:
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("path", _modules("customers"), ids=lambda p: str(p.relative_to(ROOT)))
def test_customers_never_import_records(path):
    """Regression: the customer API and admin imported records (the admin inside a function, to dodge
    the cycle records -> customers)."""
    assert [module for module, _ in _imports(path) if module.split(".")[0] == "records"] == []


@pytest.mark.parametrize("path", _modules("records"), ids=lambda p: str(p.relative_to(ROOT)))
def test_records_import_nothing_of_the_project_inside_a_function(path):
    hidden = [
        module
        for module, in_function in _imports(path)
        if in_function and module.split(".")[0] in {"billingengine", "customers", "groups", "records"}
    ]
    assert hidden == []
