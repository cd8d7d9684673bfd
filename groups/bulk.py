"""Bulk membership changes by external_id lists (the group_members command)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from billingengine.errors import ImportFailed, RowError
from customers.models import Customer
from groups.models import Group
from groups.services import memberships_end, memberships_start

CHANGE_REASON = "group_members"


@dataclass
class MembersResult:
    changed: int = 0
    unchanged: int = 0
    dry_run: bool = False


def read_external_ids(lines: Iterable[str]) -> list[tuple[int, str]]:
    """Return (line, external_id) for each non-blank line; '#' comments and an 'external_id' header are skipped."""
    result = []
    for number, text in enumerate(lines, start=1):
        value = text.strip()
        if not value or value.startswith("#") or (number == 1 and value == "external_id"):
            continue
        result.append((number, value))
    return result


@transaction.atomic
def group_members_change(
    *,
    group: Group,
    action: str,
    external_ids: list[tuple[int, str]],
    dry_run: bool = False,
    user: AbstractBaseUser | None = None,
) -> MembersResult:
    """Add (*action* "add") or remove ("remove") the listed customers to/from *group*, all or nothing.

    Adding a current member or removing a non-member changes nothing (so a second run is a no-op); an unknown
    external_id or one listed twice is refused with its line number. Removed memberships end now (they stay,
    for the history); each started or ended membership gets a change-history row.
    """
    if action not in ("add", "remove"):
        raise ValueError(action)
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for line, external_id in external_ids:
        if external_id in first_line:
            errors.append(RowError(line, "external_id", f"'{external_id}' is also on line {first_line[external_id]}"))
        else:
            first_line[external_id] = line
    customer_ids: dict[str, uuid.UUID] = {}
    wanted = list(first_line)
    for start in range(0, len(wanted), 500):
        customer_ids.update(
            Customer.objects.filter(external_id__in=wanted[start : start + 500]).values_list("external_id", "id")
        )
    errors += [
        RowError(line, "external_id", f"no customer has external_id '{e}'")
        for e, line in first_line.items()
        if e not in customer_ids
    ]
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportFailed(f"{len(errors)} bad line(s); no membership was changed.", errors=errors)

    ids = list(customer_ids.values())
    result = MembersResult(dry_run=dry_run)
    if action == "add":
        result.changed = len(memberships_start(group=group, customer_ids=ids, user=user, reason=CHANGE_REASON).started)
    else:
        result.changed = len(memberships_end(group=group, customer_ids=ids, user=user, reason=CHANGE_REASON))
    result.unchanged = len(ids) - result.changed
    if dry_run:
        transaction.set_rollback(True)
    return result
