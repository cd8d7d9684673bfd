"""A whole price catalogue as JSON, for moving prices between installations (staging to production).

Lists are matched by name (ignoring case), groups by name (ignoring case) and customers by external_id, so a
file made on one installation applies to another. Import is all or nothing, reports every bad element with its
path (`price_lists[2].rates[0].tiers[1].up_to`), and is idempotent: importing the same file twice changes nothing
the second time. It adds and updates; lists and rates that are not in the file are left as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils.dateparse import parse_datetime

from billingengine.errors import DomainError
from billingengine.validators import no_control_characters, no_control_characters_except_line_breaks
from customers.models import Customer
from groups.models import Group
from pricing import services
from pricing.currencies import normalize_currency
from pricing.models import MODEL_FIELDS, TERM_FIELDS, PriceList, Rate, check_rate_terms, decimal_text
from records.models import CODE_PATTERN

FORMAT_VERSION = 1
LIST_KEYS = ("name", "description", "currency", "group", "customer", "priority", "rates")
RATE_KEYS = ("code", "model", "valid_from", *TERM_FIELDS)
INT32 = 2**31 - 1
_CODE = re.compile(CODE_PATTERN)


class CatalogueInvalid(Exception):
    """The catalogue cannot be imported (or exported); `errors` holds (path, message) of every problem."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors[:5]))
        self.errors = errors

    def listing(self, limit: int = 50) -> str:
        """Return the problems one per line (the first *limit* of them)."""
        lines = [f"{path or '(file)'}: {message}" for path, message in self.errors[:limit]]
        more = f"\n... and {len(self.errors) - limit} more" if len(self.errors) > limit else ""
        return f"{len(self.errors)} problem(s), nothing was written:\n" + "\n".join(lines) + more


@dataclass
class ImportSummary:
    """What an import did (or, dry, would do)."""

    lists_created: int = 0
    lists_updated: int = 0
    lists_unchanged: int = 0
    rates_created: int = 0
    rates_unchanged: int = 0


# -- export -------------------------------------------------------------------------------------------------------


def catalogue_export() -> dict[str, Any]:
    """Return every price list with its rates as a catalogue (lists by name, rates by code and valid_from)."""
    lists = PriceList.objects.select_related("group", "customer").order_by(Lower("name"), "id")
    rates: dict[Any, list[Rate]] = {}
    for rate in Rate.objects.order_by("code", "valid_from"):
        rates.setdefault(rate.price_list_id, []).append(rate)
    out, errors = [], []
    for index, pl in enumerate(lists):
        if pl.customer is not None and not pl.customer.external_id:
            errors.append(
                (f"price_lists[{index}]", f"'{pl.name}' belongs to a customer without external_id; give it one first.")
            )
        out.append(
            {
                "name": pl.name,
                "description": pl.description,
                "currency": pl.currency,
                "group": pl.group.name if pl.group else None,
                "customer": pl.customer.external_id if pl.customer else None,
                "priority": pl.priority,
                "rates": [_rate_out(rate) for rate in rates.get(pl.pk, [])],
            }
        )
    if errors:
        raise CatalogueInvalid(errors)
    return {"version": FORMAT_VERSION, "price_lists": out}


def _rate_out(rate: Rate) -> dict[str, Any]:
    data: dict[str, Any] = {"code": rate.code, "model": rate.model, "valid_from": rate.valid_from.isoformat()}
    for name in MODEL_FIELDS[Rate.Model(rate.model)]:
        value = getattr(rate, name)
        data[name] = value if name == "tiers" else decimal_text(value)
    return data


# -- import -------------------------------------------------------------------------------------------------------


@dataclass
class _RateIn:
    path: str
    code: str
    model: str
    valid_from: datetime
    terms: dict[str, Any]


@dataclass
class _ListIn:
    path: str
    values: dict[str, Any]
    rates: list[_RateIn] = field(default_factory=list)


@transaction.atomic
def catalogue_import(*, data: Any, dry_run: bool = False) -> ImportSummary:
    """Create and update the price lists and rates of *data* (a parsed catalogue), all or nothing.

    Raise CatalogueInvalid with every problem found, each with its path; nothing is written then. With
    *dry_run*, everything is checked and applied, then rolled back.
    """
    lists = _parse(data)
    summary = ImportSummary()
    existing = {pl.name.lower(): pl for pl in PriceList.objects.all()}
    for item in lists:
        try:
            _apply(item, existing.get(item.values["name"].lower()), summary)
        except DomainError as error:
            transaction.set_rollback(True)
            paths = [f"{item.path}.{_key(e.get('field'))}" for e in error.extra.get("errors") or []] or [
                f"{item.path}.{_key(error.field)}" if error.field else item.path
            ]
            raise CatalogueInvalid([(path, error.detail) for path in paths]) from error
        except CatalogueInvalid:
            transaction.set_rollback(True)
            raise
    if dry_run:
        transaction.set_rollback(True)
    return summary


def _key(field_name: str | None) -> str:
    return {"group_id": "group", "customer_id": "customer"}.get(field_name or "", field_name or "")


def _apply(item: _ListIn, current: PriceList | None, summary: ImportSummary) -> None:
    if current is None:
        price_list = services.price_list_create(**item.values)
        summary.lists_created += 1
    else:
        changes = {k: v for k, v in item.values.items() if getattr(current, k) != v}
        if changes:
            price_list = services.price_list_update(price_list=current, changes=changes)
            summary.lists_updated += 1
        else:
            price_list = current
            summary.lists_unchanged += 1
    have = {(r.code, r.valid_from): r for r in price_list.rates.all()}
    for rate in item.rates:
        found = have.get((rate.code, rate.valid_from))
        if found is None:
            services.rate_create(
                price_list=price_list, code=rate.code, model=rate.model, valid_from=rate.valid_from, **rate.terms
            )
            summary.rates_created += 1
        elif found.model == rate.model and all(getattr(found, f) == rate.terms[f] for f in TERM_FIELDS):
            summary.rates_unchanged += 1
        else:
            raise CatalogueInvalid(
                [
                    (
                        rate.path,
                        f"The list already has a rate of {rate.code} from {rate.valid_from.isoformat()} with other "
                        "terms; rates are immutable, so a price change is a new rate with a later valid_from.",
                    )
                ]
            )


def _parse(data: Any) -> list[_ListIn]:
    """Check the whole catalogue's shape and values; return the lists, or raise CatalogueInvalid with every problem."""
    errors: list[tuple[str, str]] = []
    if not isinstance(data, dict) or not isinstance(data.get("price_lists"), list):
        raise CatalogueInvalid([("", 'Expected an object {"price_lists": [...]}.')])
    for key in data:
        if key not in ("version", "price_lists"):
            errors.append((str(key)[:64], "Unknown field."))
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        errors.append(("version", f"Unsupported version; this installation reads version {FORMAT_VERSION}."))
    raw_lists = data["price_lists"]
    group_names = {
        i["group"].strip().lower() for i in raw_lists if isinstance(i, dict) and isinstance(i.get("group"), str)
    }
    groups: dict[str, Group] = {}
    for group in Group.objects.annotate(lower=Lower("name")).filter(lower__in=group_names):
        groups[group.name.lower()] = group
    external_ids = {
        i["customer"].strip() for i in raw_lists if isinstance(i, dict) and isinstance(i.get("customer"), str)
    }
    customers = {c.external_id: c for c in Customer.objects.filter(external_id__in=external_ids)}
    lists: list[_ListIn] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_lists):
        path = f"price_lists[{index}]"
        item = _parse_list(path, raw, groups, customers, errors)
        if item is None:
            continue
        lowered = item.values["name"].lower()
        if lowered in names:
            errors.append((f"{path}.name", f"'{item.values['name']}' appears twice in the file (ignoring case)."))
        names.add(lowered)
        lists.append(item)
    if errors:
        raise CatalogueInvalid(errors)
    return lists


def _string(path: str, raw: Any, errors: list, *, required: bool, limit: int = 255) -> str | None:
    if raw is None:
        if required:
            errors.append((path, "Required."))
        return None
    if not isinstance(raw, str):
        errors.append((path, "Must be a string."))
        return None
    value = raw.strip()
    if required and not value:
        errors.append((path, "Must not be blank."))
    elif len(value) > limit:
        errors.append((path, f"At most {limit} characters."))
    else:
        try:
            (no_control_characters_except_line_breaks if limit > 255 else no_control_characters)(value)
        except ValidationError as error:
            errors.append((path, error.messages[0]))
    return value


def _parse_list(path: str, raw: Any, groups: dict, customers: dict, errors: list) -> _ListIn | None:
    if not isinstance(raw, dict):
        errors.append((path, "Must be an object."))
        return None
    before = len(errors)
    for key in raw:
        if key not in LIST_KEYS:
            errors.append((f"{path}.{str(key)[:64]}", "Unknown field."))
    name = _string(f"{path}.name", raw.get("name"), errors, required=True)
    description = _string(f"{path}.description", raw.get("description"), errors, required=False, limit=10000)
    currency = None
    try:
        currency = normalize_currency(raw.get("currency"))
    except ValueError as error:
        errors.append((f"{path}.currency", str(error)))
    group = customer = None
    group_name = _string(f"{path}.group", raw.get("group"), errors, required=False)
    if group_name:
        group = groups.get(group_name.lower())
        if group is None:
            errors.append((f"{path}.group", f"No group named '{group_name}'."))
    external_id = _string(f"{path}.customer", raw.get("customer"), errors, required=False)
    if external_id:
        customer = customers.get(external_id)
        if customer is None:
            errors.append((f"{path}.customer", f"No customer with external_id '{external_id}'."))
    if group_name and external_id:
        errors.append((f"{path}.customer", "A list is for a group or for a customer, not both."))
    priority = raw.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not -INT32 - 1 <= priority <= INT32:
        errors.append((f"{path}.priority", "Must be a whole number (32-bit)."))
    rates_raw = raw.get("rates", [])
    rates: list[_RateIn] = []
    if not isinstance(rates_raw, list):
        errors.append((f"{path}.rates", "Must be a list."))
    else:
        moments: set[tuple[str, datetime]] = set()
        for index, rate_raw in enumerate(rates_raw):
            rate = _parse_rate(f"{path}.rates[{index}]", rate_raw, errors)
            if rate is not None:
                if (rate.code, rate.valid_from) in moments:
                    errors.append((f"{rate.path}.valid_from", f"A second rate of {rate.code} from the same moment."))
                moments.add((rate.code, rate.valid_from))
                rates.append(rate)
    if len(errors) > before:
        return None
    values = {
        "name": name,
        "description": description or "",
        "currency": currency,
        "group_id": group.pk if group else None,
        "customer_id": customer.pk if customer else None,
        "priority": priority,
    }
    return _ListIn(path, values, rates)


def _parse_rate(path: str, raw: Any, errors: list) -> _RateIn | None:
    if not isinstance(raw, dict):
        errors.append((path, "Must be an object."))
        return None
    before = len(errors)
    for key in raw:
        if key not in RATE_KEYS:
            errors.append((f"{path}.{str(key)[:64]}", "Unknown field."))
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        errors.append((f"{path}.code", "1 to 64 characters of letters, digits and _ . : - are allowed."))
    valid_from = None
    raw_from = raw.get("valid_from")
    try:
        valid_from = parse_datetime(raw_from) if isinstance(raw_from, str) else None
    except ValueError:
        valid_from = None
    if valid_from is None or valid_from.tzinfo is None:
        errors.append((f"{path}.valid_from", "An RFC 3339 timestamp with an offset, e.g. 2026-03-01T00:00:00Z."))
        valid_from = None
    model = raw.get("model")
    terms: dict[str, Any] = {}
    if not isinstance(model, str) or model not in Rate.Model.values:
        errors.append((f"{path}.model", f"One of {', '.join(Rate.Model.values)}."))
    else:
        cleaned, problems = check_rate_terms(model=model, **{f: raw.get(f) for f in TERM_FIELDS})
        errors.extend((f"{path}.{p.path}", p.detail) for p in problems)
        terms = {f: cleaned.get(f) for f in TERM_FIELDS}
    if len(errors) > before:
        return None
    return _RateIn(path, code, model, valid_from, terms)
