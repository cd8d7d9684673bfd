"""Customer upserts with the ORM's bulk operations (any database): the private ORM path of `customers_upsert`,
and `write`, the ORM writer every customer create and update goes through (the API and admin included)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from billingengine.errors import ExternalIdImmutable
from customers.importing.validation import ImportResult, ValidRow, duplicate_error
from customers.models import Customer
from customers.upserting import GroupTarget, UpsertOutcome


def upsert(
    rows: Iterable[ValidRow],
    result: ImportResult,
    *,
    skip_invalid: bool,
    user: AbstractBaseUser | None,
    reason: str,
) -> UpsertOutcome:
    """Upsert *rows* by external_id with the ORM's bulk operations and history rows; see `customers_upsert`."""
    valid = list(rows)
    lines_by_external_id: dict[str, list[int]] = {}
    for row in valid:
        external_id = row.values.get("external_id")
        if external_id is not None:
            lines_by_external_id.setdefault(external_id, []).append(row.line)
    duplicated = {e: lines for e, lines in lines_by_external_id.items() if len(lines) > 1}
    if duplicated:
        kept = []
        for row in valid:
            external_id = row.values.get("external_id")
            if external_id in duplicated:
                result.rejected += 1
                result.add_error(duplicate_error(row.line, external_id, duplicated[external_id]))
            else:
                kept.append(row)
        valid = kept
    result.fail_if_invalid(skip_invalid)

    existing: dict[str, Customer] = {}
    external_ids = [r.values["external_id"] for r in valid if r.values.get("external_id") is not None]
    for start in range(0, len(external_ids), 500):
        for customer in Customer.objects.filter(external_id__in=external_ids[start : start + 500]):
            existing[customer.external_id] = customer
    return write([(existing.get(row.values.get("external_id")) or Customer(), row) for row in valid], user, reason)


def write(
    targets: Sequence[tuple[Customer, ValidRow]], user: AbstractBaseUser | None, reason: str | None
) -> UpsertOutcome:
    """Write each validated row's values to its customer, with a history row per change: a new (unsaved)
    customer is created, an existing one updated where the values differ (an unchanged one is not written).

    A set external_id never changes here (ExternalIdImmutable; operators re-key with `customers_rekey`).
    An IntegrityError (e.g. an external_id taken meanwhile) is left to the caller.
    """
    now = timezone.now()
    to_create: list[Customer] = []
    to_update: list[Customer] = []
    changed_fields: set[str] = set()
    group_targets: list[GroupTarget] = []
    for customer, row in targets:
        created = customer._state.adding
        if created:
            for f, v in row.values.items():
                setattr(customer, f, v)
            customer.created_at = customer.updated_at = now
            to_create.append(customer)
        else:
            if customer.external_id is not None and row.values.get("external_id", customer.external_id) != (
                customer.external_id
            ):
                raise ExternalIdImmutable(customer.external_id)
            changed = [f for f, v in row.values.items() if getattr(customer, f) != v]
            if changed:
                for f in changed:
                    setattr(customer, f, row.values[f])
                customer.updated_at = now
                changed_fields.update(changed)
                to_update.append(customer)
        if row.group_ids is not None:
            group_targets.append(GroupTarget(customer.pk, row.group_ids, created))
    history = {"default_user": user, "default_change_reason": reason or None, "default_date": now}
    if to_create:
        bulk_create_with_history(to_create, Customer, batch_size=500, **history)
    if to_update:
        bulk_update_with_history(
            to_update, Customer, [*sorted(changed_fields), "updated_at"], batch_size=500, **history
        )
    return UpsertOutcome(
        rows=len(targets),
        created=len(to_create),
        updated_ids={c.pk for c in to_update},
        group_targets=group_targets,
    )
