"""Reusable reads on data records and the usage rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from django.db import models


def hour_floor(moment: datetime) -> datetime:
    """Return the start of *moment*'s UTC hour."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def minute_floor(moment: datetime) -> datetime:
    """Return the start of *moment*'s UTC minute."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def minute_ceil(moment: datetime) -> datetime:
    """Return *moment* if it starts a UTC minute, else the start of the next one."""
    floor = minute_floor(moment)
    return floor if floor == moment else floor + timedelta(minutes=1)


def hour_ceil(moment: datetime) -> datetime:
    """Return *moment* if it starts a UTC hour, else the start of the next one."""
    floor = hour_floor(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


class DataRecordQuerySet(models.QuerySet):
    """Data record reads."""

    def of_customer(self, customer_id: UUID | str) -> DataRecordQuerySet:
        """Return the records submitted for the customer with *customer_id* (also after it was deleted)."""
        return self.filter(customer_id=customer_id)

    def in_period(self, start: datetime, end: datetime) -> DataRecordQuerySet:
        """Return records whose time_from lies in [*start*, *end*)."""
        return self.filter(time_from__gte=start, time_from__lt=end)

    def usage_by_code(self) -> dict[str, tuple[Decimal, int]]:
        """Return {code: (quantity sum, record count)} of these records."""
        rows = self.order_by().values("code").annotate(q=models.Sum("quantity"), n=models.Count("id"))
        return {row["code"]: (row["q"], row["n"]) for row in rows}


class UsageRollupQuerySet(models.QuerySet):
    """Usage rollup reads (hourly and per minute)."""

    def usage_by_code(self) -> dict[str, tuple[Decimal, int]]:
        """Return {code: (quantity sum, record count)} of these rollup rows."""
        rows = self.order_by().values("code").annotate(q=models.Sum("quantity"), n=models.Sum("records"))
        return {row["code"]: (row["q"], row["n"]) for row in rows}
