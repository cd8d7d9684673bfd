"""A customer's usage per code in a period, answered from the hourly rollup and the records at the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from uuid import UUID

from django.db import models

from records.models import DataRecord, UsageRollup
from records.querysets import hour_ceil, hour_floor

_MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class UsageItem:
    """A code's usage in a period."""

    code: str
    quantity: Decimal
    records: int


def usage_summary(customer_id: UUID | str, start: datetime, end: datetime) -> list[UsageItem]:
    """Return the usage per code of the records of *customer_id* whose time_from lies in [*start*, *end*).

    Whole UTC hours come from the hourly rollup (a few rows per hour, whatever the record count); the partial
    hours at either edge are summed from the records themselves, through the (customer_id, time_from) index.
    """
    totals: dict[str, tuple[Decimal, int]] = {}

    def add(parts: dict[str, tuple[Decimal, int]]) -> None:
        with localcontext(prec=60):
            for code, (quantity, count) in parts.items():
                q, n = totals.get(code, (Decimal(0), 0))
                totals[code] = (q + Decimal(quantity), n + int(count))

    if end > start:
        first_hour, last_hour = hour_ceil(start), hour_floor(end)
        records = DataRecord.objects.of_customer(customer_id)
        if first_hour < last_hour:
            add(
                UsageRollup.objects.filter(
                    customer_id=customer_id, hour__gte=first_hour, hour__lt=last_hour
                ).usage_by_code()
            )
            edges = models.Q(time_from__gte=start, time_from__lt=first_hour) | models.Q(
                time_from__gte=last_hour, time_from__lt=end
            )
            if start < first_hour or last_hour < end:
                add(records.filter(edges).usage_by_code())
        else:
            add(records.in_period(start, end).usage_by_code())
    with localcontext(prec=60):  # sums of 10**7 quantities of 24 digits exceed the default 28 digits
        return [UsageItem(code, totals[code][0].quantize(_MICRO), totals[code][1]) for code in sorted(totals)]
