"""Writes on customers; the API, the admin and the commands all call these, so every rule holds everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from billingengine.errors import Conflict, ExternalIdImmutable, ExternalIdTaken
from billingengine.validators import normalize_text
from customers.models import Customer

#: Fields a customer is created and replaced with (group_ids aside).
CUSTOMER_FIELDS = (
    "name",
    "external_id",
    "tax_id",
    "vat_id",
    "address_street",
    "address_city",
    "address_zip",
    "address_country",
)
#: Fields a full replacement (PUT) leaves alone when they are omitted.
KEPT_WHEN_OMITTED = ("external_id",)


def normalize_customer_value(field: str, value: Any) -> Any:
    """Return *value* as stored: trimmed, "" as None, the country upper-case."""
    value = normalize_text(value)
    if field == "address_country" and value is not None:
        value = value.upper()
    if field == "name" and value is None:
        value = ""
    return value


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
