"""Writes on customers; the API, the admin and the commands all call these, so every rule holds everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction

from billingengine.errors import Conflict, ExternalIdImmutable, ExternalIdTaken
from customers import _upsert_copy, _upsert_orm
from customers.importing.validation import ImportResult, ValidRow
from customers.models import CUSTOMER_FIELDS, Customer, normalize_customer_value
from customers.upserting import UpsertOutcome

__all__ = [
    "CUSTOMER_FIELDS",
    "customer_create",
    "customer_delete",
    "customer_update",
    "customers_upsert",
    "normalize_customer_value",
]

#: Fields a full replacement (PUT) leaves alone when they are omitted.
KEPT_WHEN_OMITTED = ("external_id",)


def _save(customer: Customer, *, creating: bool) -> Customer:
    customer.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            customer.save(force_insert=creating)
    except IntegrityError as error:
        if customer.external_id is not None:
            existing = (
                Customer.objects.filter(external_id=customer.external_id)
                .exclude(pk=customer.pk)
                .values_list("id", flat=True)
                .first()
            )
            if existing is not None:
                raise ExternalIdTaken(customer.external_id, existing) from error
        raise Conflict("The customer conflicts with existing data.") from error
    return customer


@transaction.atomic
def customer_create(**fields: Any) -> Customer:
    """Create a customer from CUSTOMER_FIELDS (its groups are set with `groups.services.customer_set_groups`)."""
    unknown = set(fields) - set(CUSTOMER_FIELDS)
    if unknown:
        raise TypeError(f"Unknown customer field(s): {', '.join(sorted(unknown))}")
    customer = Customer(**{f: normalize_customer_value(f, fields.get(f)) for f in CUSTOMER_FIELDS})
    return _save(customer, creating=True)


@transaction.atomic
def customer_update(*, customer: Customer, changes: Mapping[str, Any], replace: bool = False) -> Customer:
    """Change *customer*: the fields in *changes* (other keys are ignored); with *replace* (PUT) omitted fields
    are cleared, except external_id, which stays. A set external_id cannot change (see `customers_rekey`)."""
    before = {f: getattr(customer, f) for f in CUSTOMER_FIELDS}
    for field in CUSTOMER_FIELDS:
        if field in changes:
            value = normalize_customer_value(field, changes[field])
        elif replace and field not in KEPT_WHEN_OMITTED:
            value = normalize_customer_value(field, None)
        else:
            continue
        if field == "external_id" and before["external_id"] is not None and value != before["external_id"]:
            raise ExternalIdImmutable(before["external_id"])
        setattr(customer, field, value)
    if any(getattr(customer, f) != before[f] for f in CUSTOMER_FIELDS):
        _save(customer, creating=False)
    return customer


@transaction.atomic
def customer_delete(*, customer: Customer) -> None:
    """Delete *customer* and its memberships (its data records stay, for audit)."""
    customer.delete()


@transaction.atomic
def customers_upsert(
    *,
    rows: Iterable[ValidRow],
    result: ImportResult,
    skip_invalid: bool = False,
    user: AbstractBaseUser | None = None,
    reason: str = "",
    method: str = "auto",
    on_progress: Callable[[int], None] | None = None,
) -> UpsertOutcome:
    """Create or update customers by external_id from validated *rows*, with a history row for each change.

    A row creates a customer when its external_id is new (or absent) and updates the customer that has it
    otherwise; columns a row lacks stay as they are. Rows come from `customers.importing.validation`, which
    applies each field's normalisation and validators, as `customer_create` does through `full_clean`.
    An external_id on several rows is refused (recorded in *result*); ImportFailed is raised for bad rows
    unless *skip_invalid*. *method*: "copy" (PostgreSQL, set-based), "orm", or "auto".
    """
    if method == "auto":
        method = "copy" if connection.vendor == "postgresql" else "orm"
    upsert = _upsert_copy.upsert if method == "copy" else _upsert_orm.upsert
    return upsert(rows, result, skip_invalid=skip_invalid, user=user, reason=reason, on_progress=on_progress)
