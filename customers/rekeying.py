"""Re-keying: changing customers' external ids in bulk, the one sanctioned way (e.g. after a CRM migration)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from billingengine.errors import ImportFailed, RowError
from customers.models import Customer
from customers.services import normalize_customer_value

CHANGE_REASON = "rekey_customers"
HEADER = ("old_external_id", "new_external_id")


@dataclass
class RekeyResult:
    rekeyed: int = 0
    already_done: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False


MappingLine = tuple[int, str | None, str | None]


def read_mapping(stream: IO[str]) -> Iterator[MappingLine | RowError]:
    """Yield (line, old, new) from a CSV with the header old_external_id,new_external_id (a RowError if malformed)."""
    reader = csv.reader(stream, strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        if tuple(header) != HEADER:
            raise ImportFailed(f"line 1: the header must be '{','.join(HEADER)}' (got '{','.join(header)}').")
        end = reader.line_num
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record:
                continue
            if len(record) != 2:
                yield RowError(start, None, f"has {len(record)} values; expected 2")
                continue
            yield (
                start,
                normalize_customer_value("external_id", record[0]),
                normalize_customer_value("external_id", record[1]),
            )
    except csv.Error as error:
        raise ImportFailed(f"line {reader.line_num}: not valid CSV ({error}).") from error


@transaction.atomic
def customers_rekey(
    mapping: Iterable[MappingLine | RowError],
    *,
    dry_run: bool = False,
    user: AbstractBaseUser | None = None,
) -> RekeyResult:
    """Give each customer named by an old external_id its new one, all or nothing, with a history row each.

    Refused (ImportFailed, nothing written): an unknown old id, a new id that another customer has, an id
    that appears twice in the mapping, and chains or swaps (a new id that is another line's old id: re-key in
    two runs). A line whose old id is gone and whose new id exists counts as already done, so running the
    same mapping twice changes nothing the second time.
    """
    result = RekeyResult(dry_run=dry_run)
    errors = result.errors
    external_id_field = Customer._meta.get_field("external_id")
    olds: dict[str, int] = {}
    news: dict[str, int] = {}
    rows = []
    for item in mapping:
        if isinstance(item, RowError):
            errors.append(item)
            continue
        line, old, new = item
        bad = False
        for column, value in (("old_external_id", old), ("new_external_id", new)):
            if value is None:
                errors.append(RowError(line, column, "is required"))
                bad = True
                continue
            try:
                external_id_field.run_validators(value)
            except ValidationError as error:
                errors.append(RowError(line, column, " ".join(error.messages)))
                bad = True
        if bad:
            continue
        if old == new:
            errors.append(RowError(line, "new_external_id", f"'{new}' is the same as the old external_id"))
            continue
        if old in olds:
            errors.append(RowError(line, "old_external_id", f"'{old}' is also re-keyed on line {olds[old]}"))
            continue
        if new in news:
            errors.append(RowError(line, "new_external_id", f"'{new}' is also the new id on line {news[new]}"))
            continue
        olds[old], news[new] = line, line
        rows.append((line, old, new))

    existing: dict[str, Customer] = {}
    wanted = [*olds, *news]
    for start in range(0, len(wanted), 500):
        for customer in Customer.objects.filter(external_id__in=wanted[start : start + 500]).select_for_update():
            existing[customer.external_id] = customer
    to_save: list[Customer] = []
    now = timezone.now()
    for line, old, new in rows:
        if new in olds:
            errors.append(
                RowError(
                    line,
                    "new_external_id",
                    f"'{new}' is re-keyed itself on line {olds[new]}; chains and swaps are refused, "
                    "re-key in two steps (e.g. via a temporary id)",
                )
            )
            continue
        customer, holder = existing.get(old), existing.get(new)
        if customer is None and holder is not None:
            result.already_done += 1
            continue
        if customer is None:
            errors.append(RowError(line, "old_external_id", f"no customer has external_id '{old}'"))
            continue
        if holder is not None:
            errors.append(
                RowError(line, "new_external_id", f"'{new}' is already the external_id of customer {holder.pk}")
            )
            continue
        customer.external_id = new
        customer.updated_at = now
        to_save.append(customer)
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportFailed(f"{len(errors)} bad line(s); nothing was re-keyed.", errors=errors)
    try:
        with transaction.atomic():
            bulk_update_with_history(
                to_save,
                Customer,
                ["external_id", "updated_at"],
                batch_size=500,
                default_user=user,
                default_change_reason=CHANGE_REASON,
                default_date=now,
            )
    except IntegrityError as error:
        raise ImportFailed(
            f"An external id was taken at the same time ({error}); nothing was re-keyed, run it again."
        ) from error
    result.rekeyed = len(to_save)
    if dry_run:
        transaction.set_rollback(True)
    return result
