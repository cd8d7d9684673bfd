"""Guards other apps call before changing something a bill depends on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from billing.errors import PeriodBilled
from billing.models import Bill


def assert_period_open(*, customer_ids: Iterable[UUID], at: datetime) -> None:
    """Raise `PeriodBilled` (409 `period_billed`) when *at* is earlier than the end of the latest bill issued
    to any of *customer_ids*: a change at *at* would alter a billed period."""
    bill = (
        Bill.objects.filter(customer_id__in=list(customer_ids), period_to__gt=at)
        .order_by("-period_to")
        .values_list("customer_id", "number", "period_to")
        .first()
    )
    if bill is not None:
        customer_id, number, period_to = bill
        raise PeriodBilled(
            f"Customer {customer_id} is billed up to {period_to.isoformat()} (bill {number}); "
            f"a change at {at.isoformat()} would alter a billed period.",
            customer_id=str(customer_id),
            bill_number=number,
        )
