"""The apps depend one way (README, "Layout"): read every import of the apps' own modules and find no cycle.

Imports inside functions count too (hiding an import in a function does not remove the dependency). The doors
(`api/`, `admin.py`, `management/`) and the project's URL configuration sit on top of every app and may
import any of them, so they are not part of the graph.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("billingengine", "customers", "groups", "records", "pricing")


def _is_door(relative: Path) -> bool:
    parts = relative.parts
    return (
        "api" in parts[1:-1]
        or "management" in parts
        or parts[-1] in ("admin.py", "urls.py", "settings.py", "wsgi.py", "asgi.py")
    )


def _imported_apps(path: Path) -> set[str]:
    apps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        apps.update(name.split(".")[0] for name in names if name.split(".")[0] in APPS)
    return apps


def app_dependencies() -> dict[str, dict[str, list[str]]]:
    """Return {app: {app it imports: [modules importing it]}} over the apps' own (non-door) modules."""
    graph: dict[str, dict[str, list[str]]] = {app: {} for app in APPS}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or _is_door(relative):
                continue
            for other in _imported_apps(path) - {app}:
                graph[app].setdefault(other, []).append(relative.as_posix())
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """Return a cycle of apps (first app repeated at the end), or None."""
    state: dict[str, str] = {}

    def visit(app: str, path: list[str]) -> list[str] | None:
        state[app] = "active"
        for other in graph.get(app, {}):
            if state.get(other) == "active":
                return [*path[path.index(other) :], other] if other in path else [*path, other]
            if other not in state and (cycle := visit(other, [*path, other])):
                return cycle
        state[app] = "done"
        return None

    for app in graph:
        if app not in state and (cycle := visit(app, [app])):
            return cycle
    return None


def test_the_apps_import_each_other_without_a_cycle():
    graph = app_dependencies()
    cycle = find_cycle(graph)
    where = "" if cycle is None else "; ".join(f"{a} -> {b}: {graph[a][b]}" for a, b in itertools.pairwise(cycle))
    assert cycle is None, f"import cycle {' -> '.join(cycle or [])}: {where}"


def test_customers_do_not_import_groups():
    """groups depends on customers (a membership belongs to a customer), so never the reverse."""
    assert "groups" not in app_dependencies()["customers"]


def test_a_cycle_is_found():
    assert find_cycle({"a": {"b": ["a.py"]}, "b": {"a": ["b.py"]}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b": ["a.py"]}, "b": {}}) is None
