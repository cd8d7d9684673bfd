"""The repository documents itself: no pointers outside it, and docs/api.md names every path and error code."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from billingengine import errors
from billingengine.api.exceptions import _CODES

ROOT = Path(__file__).resolve().parent.parent
API_GUIDE = ROOT / "docs" / "api.md"
APPS = ("billingengine", "customers", "groups", "records", "pricing")
# Codes only the management commands report (as a CommandError), never an API answer.
COMMAND_ONLY = {"import_failed"}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_readme_and_docs_point_nowhere_outside_the_repository():
    """Bug: the README named `../shared/spec/api-contract.md`, which is not part of the repository."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        assert "../shared" not in text and "shared/spec" not in text, path
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if not target.startswith(("http://", "https://")):
                assert not target.startswith(".."), (path, target)
                assert (path.parent / target).exists(), (path, target)


def test_api_guide_lists_every_stable_error_code():
    guide = API_GUIDE.read_text()
    # Import every module of the apps, so every DomainError subclass is defined whatever ran before.
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" not in parts and "management" not in parts:
                importlib.import_module(".".join(p for p in parts if p != "__init__"))
    codes = {cls.code for cls in _subclasses(errors.DomainError)} | set(_CODES.values())
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            codes |= _raised_codes(ast.parse(path.read_text()))
    codes -= COMMAND_ONLY
    assert {"external_id_taken", "throttled", "request_too_large", "group_not_empty", "not_a_member"} <= codes
    missing = sorted(code for code in codes if f"`{code}`" not in guide)
    assert not missing, f"docs/api.md does not explain: {missing}"


def _raised_codes(tree: ast.AST) -> set[str]:
    """Return the problem codes given literally in *tree*: `problem(status, detail, "code")` and
    `InvalidInput/Conflict/NotFound(..., code="code")`."""
    codes = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id == "problem" and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
            codes.add(node.args[2].value)
        if node.func.id in {"InvalidInput", "Conflict", "NotFound", "DomainError"}:
            codes |= {k.value.value for k in node.keywords if k.arg == "code" and isinstance(k.value, ast.Constant)}
    return codes


@pytest.mark.django_db
def test_api_guide_names_every_path_of_the_schema(api):
    guide = API_GUIDE.read_text()
    schema = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in schema["paths"]:
        assert path in guide or path.removeprefix("/api/v1") in guide, path
