"""Writes on customers; the API, the admin and the commands all call these, so every rule holds everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from billingengine.errors import Conflict, ExternalIdTaken
from customers import _upsert_copy, _upsert_orm
from customers.importing.validation import ImportResult, RowValidator, ValidRow
from customers.models import CUSTOMER_FIELDS, Customer, normalize_customer_value
from customers.upserting import UpsertOutcome, counted

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


def customer_create(**fields: Any) -> Customer:
    """Create a customer from CUSTOMER_FIELDS (its groups are set with `groups.services.customer_set_groups`,
    with `new=True` in the same transaction).

    An external_id another customer has is ExternalIdTaken (409), also when both are created at the same time.
    Its writes (the customer and its history row) are one atomic block inside `_write_one`, so it needs no
    savepoint of its own: an error leaves the caller's transaction as it was.
    """
    unknown = set(fields) - set(CUSTOMER_FIELDS)
    if unknown:
        raise TypeError(f"Unknown customer field(s): {', '.join(sorted(unknown))}")
    return _write_one(Customer(), {f: fields.get(f) for f in CUSTOMER_FIELDS})


def customer_update(*, customer: Customer, changes: Mapping[str, Any], replace: bool = False) -> Customer:
    """Change *customer*: the fields in *changes* (other keys are ignored); with *replace* (PUT) omitted fields
    are cleared, except external_id, which stays. A set external_id cannot change (see `customers_rekey`).
    Atomic as `customer_create` is: its writes are one atomic block inside `_write_one`."""
    values = {f: changes[f] for f in CUSTOMER_FIELDS if f in changes}
    if replace:
        values.update({f: None for f in CUSTOMER_FIELDS if f not in changes and f not in KEPT_WHEN_OMITTED})
    return _write_one(customer, values)


def _write_one(customer: Customer, values: Mapping[str, Any]) -> Customer:
    """Validate and write one customer (a new, unsaved one or a stored one) the way `customers_upsert` writes
    rows: the importer's row validation (the model's validators) and the ORM upsert's writer, so a customer is
    validated and written by the same code whichever door it comes through."""
    stored = {f: _stored_value(customer, f) for f in CUSTOMER_FIELDS} if not customer._state.adding else {}
    row, errors = RowValidator(allow_missing_external_id=True).validate(0, {**stored, **values})
    if row is None:
        by_field: dict[str, list[str]] = {}
        for error in errors:
            by_field.setdefault(error.column or "__all__", []).append(error.message)
        raise ValidationError(by_field)
    try:
        # The one savepoint of a create or update: after an IntegrityError the transaction goes on, to name the
        # customer that has the external_id (409); everything this service writes is inside it.
        with transaction.atomic():
            _upsert_orm.write([(customer, row)], user=None, reason=None)  # user: the request's (history middleware)
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


def _stored_value(customer: Customer, field: str) -> Any:
    value = getattr(customer, field)
    if field == "address_country":  # a Country object once loaded
        return getattr(value, "code", value) or None
    return value


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
    applies each field's normalisation and validators; `customer_create`/`customer_update` validate their one
    row with it too, and write it with the ORM path's writer.
    An external_id on several rows is refused (recorded in *result*); ImportFailed is raised for bad rows
    unless *skip_invalid*. *method*: "copy" (PostgreSQL, set-based), "orm", or "auto".
    """
    if method == "auto":
        method = "copy" if connection.vendor == "postgresql" else "orm"
    upsert = _upsert_copy.upsert if method == "copy" else _upsert_orm.upsert
    return upsert(counted(rows, on_progress), result, skip_invalid=skip_invalid, user=user, reason=reason)
