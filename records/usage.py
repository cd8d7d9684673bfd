"""A customer's usage per code in a period, answered from the usage rollups and the records at the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from functools import reduce
from operator import or_
from uuid import UUID

from django.db import models

from records.models import DataRecord, UsageMinuteRollup, UsageRollup
from records.querysets import hour_ceil, hour_floor, minute_ceil, minute_floor

_MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class UsageItem:
    """A code's usage in a period."""

    code: str
    quantity: Decimal
    records: int


def usage_ranges(
    start: datetime, end: datetime
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]]:
    """Return [start, end) as (whole UTC hours, whole UTC minutes, the rest), each a list of [from, to) ranges.

    The hours lie in the middle; the minutes are those of the partial hours at either edge; the rest is less
    than a minute at either edge (or the whole period, if it holds no whole minute)."""
    hours, minutes, rest = [], [], []
    first_hour, last_hour = hour_ceil(start), hour_floor(end)
    edges = [(start, end)]
    if first_hour < last_hour:
        hours.append((first_hour, last_hour))
        edges = [(start, first_hour), (last_hour, end)]
    for a, b in edges:
        if a >= b:
            continue
        first_minute, last_minute = minute_ceil(a), minute_floor(b)
        if first_minute < last_minute:
            minutes.append((first_minute, last_minute))
            rest += [(lo, hi) for lo, hi in ((a, first_minute), (last_minute, b)) if lo < hi]
        else:
            rest.append((a, b))
    return hours, minutes, rest


def usage_summary(customer_id: UUID | str, start: datetime, end: datetime) -> list[UsageItem]:
    """Return the usage per code of the records of *customer_id* whose time_from lies in [*start*, *end*).

    Whole UTC hours come from the hourly rollup (a few rows per hour, whatever the record count); the partial
    hours at either edge from the per-minute rollup (their whole minutes) and from the records themselves
    (the seconds at the very edges, through the (customer_id, time_from) index). At most three queries.
    """
    totals: dict[str, tuple[Decimal, int]] = {}

    def add(parts: dict[str, tuple[Decimal, int]]) -> None:
        with localcontext(prec=60):
            for code, (quantity, count) in parts.items():
                q, n = totals.get(code, (Decimal(0), 0))
                totals[code] = (q + Decimal(quantity), n + int(count))

    def within(field: str, ranges: list[tuple[datetime, datetime]]) -> models.Q:
        return reduce(or_, (models.Q(**{f"{field}__gte": lo, f"{field}__lt": hi}) for lo, hi in ranges))

    if end > start:
        hours, minutes, rest = usage_ranges(start, end)
        if hours:
            add(UsageRollup.objects.filter(within("hour", hours), customer_id=customer_id).usage_by_code())
        if minutes:
            add(UsageMinuteRollup.objects.filter(within("minute", minutes), customer_id=customer_id).usage_by_code())
        if rest:
            add(DataRecord.objects.of_customer(customer_id).filter(within("time_from", rest)).usage_by_code())
    with localcontext(prec=60):  # sums of 10**7 quantities of 24 digits exceed the default 28 digits
        return [UsageItem(code, totals[code][0].quantize(_MICRO), totals[code][1]) for code in sorted(totals)]
