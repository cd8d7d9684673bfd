"""Memberships have one write path: `groups/services.py` (and its private helpers `groups/_*.py`).

These tests read the code: every module of the apps is parsed, and any statement that creates, changes or
deletes memberships outside the write path fails the test, naming the file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("billingengine", "customers", "groups", "records")
WRITE_METHODS = {
    "save",
    "delete",
    "create",
    "bulk_create",
    "bulk_update",
    "update",
    "get_or_create",
    "update_or_create",
    "add",
    "set",
    "remove",
    "clear",
}
BULK_HISTORY = {"bulk_create_with_history", "bulk_update_with_history"}
MEMBERSHIP_FIELDS = {"joined_at", "left_at"}
RAW_SQL_WRITE = re.compile(r"\b(insert\s+into|update|delete\s+from|copy)\s+\"?groups_(historical)?membership\b", re.I)


def _app_modules() -> list[Path]:
    modules = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                modules.append(path)
    return modules


def _may_write(path: Path) -> bool:
    relative = path.relative_to(ROOT)
    return (
        relative.parts[0] == "groups"
        and len(relative.parts) == 2
        and (relative.name == "services.py" or (relative.name.startswith("_") and relative.name != "__init__.py"))
    )


def _chain(node: ast.AST) -> list[str]:
    """Return the names along an attribute/call chain: `Membership.objects.filter(x).update()` gives
    ["Membership", "objects", "filter", "update"]."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            names.append(node.id)
            break
        else:
            break
    return names[::-1]


def _is_membership_chain(names: list[str]) -> bool:
    return "Membership" in names or "memberships" in names or "current_memberships" in names


def membership_writes(source: str) -> list[tuple[int, str]]:
    """Return (line, what) for each statement in *source* that writes memberships."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            names = _chain(node.func)
            if names[-1:] == ["Membership"]:
                found.append((node.lineno, "builds a Membership"))
            elif names and names[-1] in WRITE_METHODS and _is_membership_chain(names[:-1]):
                found.append((node.lineno, f"{'.'.join(names)}()"))
            elif names and names[-1] in BULK_HISTORY and any(_is_membership_chain(_chain(a)) for a in node.args):
                found.append((node.lineno, f"{names[-1]}(…, Membership)"))
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr in MEMBERSHIP_FIELDS:
                    found.append((node.lineno, f"sets .{target.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_SQL_WRITE.search(node.value):
            found.append((node.lineno, "raw SQL writing groups_membership"))
        elif isinstance(node, ast.Attribute) and node.attr == "db_table":
            names = _chain(node)
            if "Membership" in names:
                found.append((node.lineno, f"{'.'.join(names)} (raw SQL on the membership tables)"))
    return found


def test_only_the_membership_services_write_memberships():
    offenders = []
    for path in _app_modules():
        if _may_write(path):
            continue
        for line, what in membership_writes(path.read_text()):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert not offenders, "memberships written outside groups/services.py:\n" + "\n".join(offenders)


def test_the_write_path_is_where_memberships_are_written():
    """The scan finds the writes where they are (else it would pass by finding nothing anywhere)."""
    services = ROOT / "groups" / "services.py"
    assert _may_write(services)
    assert len(membership_writes(services.read_text())) >= 3
    assert not _may_write(ROOT / "groups" / "bulk.py")
    assert not _may_write(ROOT / "customers" / "services.py")


@pytest.mark.parametrize(
    "source",
    [
        "Membership(group=g, customer=c, joined_at=now).save()",
        "Membership.objects.create(group=g, customer=c, joined_at=now)",
        "Membership.objects.bulk_create(rows)",
        "Membership.objects.current().filter(group=g).update(left_at=now)",
        "Membership.objects.filter(group=g).delete()",
        "customer.memberships.create(group=g, joined_at=now)",
        "customer.memberships.current().update(left_at=now)",
        "membership.left_at = now",
        "bulk_create_with_history(rows, Membership)",
        "cursor.execute('INSERT INTO groups_membership (id) VALUES (%s)', [pk])",
        "cursor.execute('UPDATE groups_historicalmembership SET left_at = NULL')",
        "cursor.execute(f'DELETE FROM {Membership._meta.db_table}')",
        "table = Membership.history.model._meta.db_table",
    ],
)
def test_a_membership_write_outside_the_services_would_be_found(source):
    assert membership_writes(source), source


@pytest.mark.parametrize(
    "source",
    [
        "Membership.objects.current().filter(group=g).count()",
        "customer.memberships.current().values_list('group_id', flat=True)",
        "memberships_start(group=g, customer_ids=ids, user=user, reason='x')",
        "customer.save()",
        "bulk_create_with_history(rows, Customer)",
        "Customer.objects.filter(pk=pk).update(name='x')",
    ],
)
def test_reads_and_service_calls_are_not_writes(source):
    assert not membership_writes(source), source
