"""Writes on price lists and rates; the API, the admin and the import command all call these."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billingengine.errors import Conflict, InvalidInput
from billingengine.validators import normalize_text
from customers.models import Customer
from groups.models import Group
from pricing.currencies import normalize_currency
from pricing.errors import CurrencyImmutable, PriceListInUse, PriceListNameTaken, PriorityTaken, RateExists, RateInUse
from pricing.models import TERM_FIELDS, PriceList, Rate, check_rate_terms

#: Fields a price list is created and replaced with.
PRICE_LIST_FIELDS = ("name", "description", "currency", "group_id", "customer_id", "priority")


def price_list_in_use(price_list: PriceList) -> bool:
    """Return whether an issued bill was priced with a rate of *price_list*.

    There are no bills yet: billing plugs its check in here, so every door (API, admin, import) refuses then.
    """
    return False


def rate_in_use(rate: Rate) -> bool:
    """Return whether an issued bill was priced with *rate*.

    There are no bills yet: billing plugs its check in here, so every door (API, admin, import) refuses then.
    """
    return False


def _error(field: str, code: str, detail: str) -> dict[str, str]:
    return {"field": field, "code": code, "detail": detail}


def _raise_all(errors: list[dict[str, str]]) -> None:
    """Raise every problem at once: a 400 `invalid`, each problem with its own code in `errors`."""
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problem(s), listed in errors)" if len(errors) > 1 else ""
        raise InvalidInput(f"{first['field']}: {first['detail']}{more}", code="invalid", errors=errors)


def _check_scope(group_id: Any, customer_id: Any, errors: list[dict[str, str]]) -> None:
    if group_id is not None and customer_id is not None:
        errors.append(_error("customer_id", "group_and_customer", "A list is for a group or for a customer, not both."))
        return
    if group_id is not None and not Group.objects.filter(pk=group_id).exists():
        errors.append(_error("group_id", "unknown_group", f"No group with id '{group_id}'."))
    if customer_id is not None and not Customer.objects.filter(pk=customer_id).exists():
        errors.append(_error("customer_id", "unknown_customer", f"No customer with id '{customer_id}'."))


def _save_price_list(price_list: PriceList, *, creating: bool) -> PriceList:
    try:
        price_list.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        _raise_all(
            [
                _error(field, item.code or "invalid", message)
                for field, items in error.error_dict.items()
                for item in items
                for message in item.messages
            ]
        )
    try:
        with transaction.atomic():
            price_list.save(force_insert=creating)
    except IntegrityError as error:
        others = PriceList.objects.exclude(pk=price_list.pk)
        same_name = others.filter(name__iexact=price_list.name).values_list("id", flat=True).first()
        if same_name is not None:
            raise PriceListNameTaken(price_list.name, same_name) from error
        same_priority = _same_scope(others, price_list).filter(priority=price_list.priority)
        existing = same_priority.values_list("id", flat=True).first()
        if existing is not None:
            raise PriorityTaken(price_list.priority, price_list.scope, existing) from error
        raise Conflict("The price list conflicts with existing data.") from error
    return price_list


def _same_scope(queryset, price_list: PriceList):
    if price_list.scope == "customer":
        return queryset.filter(customer_id=price_list.customer_id)
    return queryset.of_scope(price_list.scope)


def _apply(price_list: PriceList, values: Mapping[str, Any]) -> list[dict[str, str]]:
    """Set *values* on *price_list* (normalised); return the problems found."""
    errors: list[dict[str, str]] = []
    for field, value in values.items():
        if field == "name":
            value = normalize_text(value) or ""
        elif field == "description":
            value = (value or "").strip()
        elif field == "currency":
            try:
                value = normalize_currency(value)
            except ValueError as error:
                errors.append(_error("currency", "unknown_currency", str(error)))
                continue
        elif field == "priority":
            value = 0 if value is None else value
        setattr(price_list, field, value)
    return errors


@transaction.atomic
def price_list_create(
    *,
    name: str,
    currency: str,
    description: str | None = "",
    group_id: UUID | None = None,
    customer_id: UUID | None = None,
    priority: int = 0,
) -> PriceList:
    """Create a price list: for everybody (neither group nor customer), for a group, or for one customer."""
    price_list = PriceList()
    values = {
        "name": name,
        "description": description,
        "currency": currency,
        "group_id": group_id,
        "customer_id": customer_id,
        "priority": priority,
    }
    errors = _apply(price_list, values)
    _check_scope(group_id, customer_id, errors)
    _raise_all(errors)
    return _save_price_list(price_list, creating=True)


@transaction.atomic
def price_list_update(*, price_list: PriceList, changes: Mapping[str, Any], replace: bool = False) -> PriceList:
    """Change *price_list*: the fields in *changes*, or with *replace* every field (omitted ones cleared:
    no description, no group or customer, priority 0). The currency cannot change once the list has a rate."""
    # Locked, so a rate added concurrently cannot slip in between the currency check and the change.
    locked = PriceList.objects.select_for_update().get(pk=price_list.pk)
    defaults = {"description": "", "group_id": None, "customer_id": None, "priority": 0}
    values = {}
    for field in PRICE_LIST_FIELDS:
        if field in changes:
            values[field] = changes[field]
        elif replace and field in defaults:
            values[field] = defaults[field]
    errors = _apply(price_list, values)
    _check_scope(price_list.group_id, price_list.customer_id, errors)
    _raise_all(errors)
    if price_list.currency != locked.currency and locked.rates.exists():
        raise CurrencyImmutable(locked.currency)
    return _save_price_list(price_list, creating=False)


@transaction.atomic
def price_list_delete(*, price_list: PriceList) -> None:
    """Delete *price_list* and its rates, unless an issued bill used them."""
    price_list = PriceList.objects.select_for_update().get(pk=price_list.pk)
    if price_list_in_use(price_list):
        raise PriceListInUse()
    price_list.delete()


@transaction.atomic
def rate_create(
    *,
    price_list: PriceList,
    code: str,
    model: str,
    valid_from: datetime,
    unit_price: Any = None,
    tiers: Any = None,
    package_size: Any = None,
    package_price: Any = None,
) -> Rate:
    """Add a rate to *price_list*: *code* costs this from *valid_from* on (until the code's next rate there).

    Prices are decimals, decimal strings or JSON numbers; only the fields of *model* may be given.
    """
    # Locking the list orders this insert after any currency change in flight (see price_list_update).
    PriceList.objects.select_for_update().filter(pk=price_list.pk).values_list("pk", flat=True).first()
    cleaned, problems = check_rate_terms(
        model=model, unit_price=unit_price, tiers=tiers, package_size=package_size, package_price=package_price
    )
    errors = [_error(p.path, p.code, p.detail) for p in problems]
    rate = Rate(price_list=price_list, code=code, model=model, valid_from=valid_from)
    for field in TERM_FIELDS:
        setattr(rate, field, cleaned.get(field))
    if not errors:
        try:
            rate.clean_fields(exclude=["price_list", *TERM_FIELDS])
        except ValidationError as error:
            errors += [
                _error(field, item.code or "invalid", message)
                for field, items in error.error_dict.items()
                for item in items
                for message in item.messages
            ]
    _raise_all(errors)
    try:
        with transaction.atomic():
            rate.save(force_insert=True)
    except IntegrityError as error:
        existing = (
            Rate.objects.filter(price_list=price_list, code=code, valid_from=valid_from)
            .values_list("id", flat=True)
            .first()
        )
        if existing is not None:
            raise RateExists(code, valid_from, existing) from error
        raise Conflict("The rate conflicts with existing data.") from error
    return rate


@transaction.atomic
def rate_delete(*, rate: Rate) -> None:
    """Delete *rate*, unless an issued bill used it (the previous rate of its code then runs on)."""
    if rate_in_use(rate):
        raise RateInUse()
    rate.delete()
