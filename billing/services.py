"""Issuing bills: the billing summary of a period, frozen with a customer snapshot and a gap-free number.

Exactly-once late usage, without races: issuing locks the customer row (FOR UPDATE) before anything else.
Record ingestion reads its customers FOR SHARE and stamps each record with the customer's billing epoch, so
it waits for an issue in progress and an issue waits for ingestions in progress. The bill then takes every
record of its period, plus the records of the current epoch in earlier billed periods (late), and increments
the epoch: a record submitted later has the next epoch and goes on the next bill. On SQLite the issuing
transaction takes the database's write lock first, which serialises it with every ingestion.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import orjson
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, JSONField
from django.utils import timezone

from billing.errors import PeriodBilled
from billing.models import Bill, BillLine
from billing.numbering import bill_numbers_take
from billing.periods import period_validate
from billing.summary import Summary, billing_summaries
from billingengine.errors import NotFound
from customers.models import Customer

logger = logging.getLogger("billingengine.billing")


@dataclass
class IssueOutcome:
    """What one issuing run did, per customer."""

    issued: list[IssuedBill] = field(default_factory=list)
    already_billed: list[UUID] = field(default_factory=list)
    empty: list[UUID] = field(default_factory=list)
    failed: list[tuple[UUID, str]] = field(default_factory=list)
    #: The summaries a dry run would have issued.
    previews: list[Summary] = field(default_factory=list)


@transaction.atomic
def bill_issue(*, customer: Customer, start: datetime, end: datetime) -> Bill:
    """Issue *customer*'s bill for [*start*, *end*): 409 `period_billed` when it overlaps an issued bill."""
    now = timezone.now()
    period_validate(start=start, end=end, must_have_ended=True, now=now)
    customers = _lock([customer.pk])
    if not customers:  # deleted meanwhile
        raise NotFound("The customer does not exist.")
    billed = _overlapping(customers, start, end)
    if billed:
        number, lo, hi = billed[customer.pk]
        raise PeriodBilled(
            f"The period overlaps bill {number} ({lo.isoformat()} to {hi.isoformat()}) of this customer.",
            bill_number=number,
        )
    summaries = billing_summaries(customers=customers, start=start, end=end)
    issued = _write(customers, summaries, now)[0]
    return Bill.objects.get(pk=issued.id)


@transaction.atomic
def bills_issue(*, customer_ids: Sequence[UUID], start: datetime, end: datetime, dry_run: bool = False) -> IssueOutcome:
    """Issue the [*start*, *end*) bills of the customers with usage (or late usage) among *customer_ids*.

    One transaction for the whole batch (fast: a few queries for all of them); if anything in it fails,
    the batch is issued again bill by bill, each in its own savepoint, and the failures are reported per
    customer. Customers already billed for an overlapping period are skipped; so are customers with no usage.
    """
    now = timezone.now()
    period_validate(start=start, end=end, must_have_ended=True, now=now)
    outcome = IssueOutcome()
    customers = _lock(customer_ids) if not dry_run else list(Customer.objects.filter(pk__in=customer_ids))
    billed = _overlapping(customers, start, end)
    outcome.already_billed = sorted(billed, key=str)
    todo = [c for c in customers if c.pk not in billed]
    if dry_run:
        summaries = billing_summaries(customers=todo, start=start, end=end)
        for customer in todo:
            summary = summaries[customer.pk]
            (outcome.empty.append(customer.pk) if summary.is_empty else outcome.previews.append(summary))
        return outcome
    try:
        with transaction.atomic():
            summaries = billing_summaries(customers=todo, start=start, end=end)
            with_usage = [c for c in todo if not summaries[c.pk].is_empty]
            outcome.empty = [c.pk for c in todo if summaries[c.pk].is_empty]
            outcome.issued = _write(with_usage, summaries, now)
        return outcome
    except (OperationalError, InterfaceError):
        raise  # the database is gone: nothing of the batch was written; the caller decides
    except Exception:
        logger.warning("Batch of %d bills failed; issuing them one by one", len(todo), exc_info=True)
    outcome.empty, outcome.issued = [], []
    for customer in todo:
        try:
            with transaction.atomic():
                summaries = billing_summaries(customers=[customer], start=start, end=end)
                if summaries[customer.pk].is_empty:
                    outcome.empty.append(customer.pk)
                    continue
                outcome.issued += _write([customer], summaries, now)
        except (OperationalError, InterfaceError):
            raise
        except Exception as error:
            logger.exception("Bill of customer %s failed", customer.pk)
            outcome.failed.append((customer.pk, f"{type(error).__name__}: {error}"))
    return outcome


def _lock(customer_ids: Sequence[UUID]) -> list[Customer]:
    """Lock the customers' rows for the issuing transaction and return them (in id order: no deadlocks)."""
    ids = list(customer_ids)
    if connection.vendor == "sqlite":
        # Take SQLite's write lock first (a no-op write), so the transaction cannot be overtaken by an
        # ingestion between its reads and its writes.
        Customer.objects.filter(pk__in=ids).update(billing_epoch=F("billing_epoch"))
    return list(Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk"))


def _overlapping(customers: Sequence[Customer], start: datetime, end: datetime) -> dict[UUID, tuple]:
    """Return {customer id: (number, from, to)} of an issued bill overlapping [start, end), per customer."""
    rows = Bill.objects.filter(
        customer_id__in=[c.pk for c in customers], period_from__lt=end, period_to__gt=start
    ).values_list("customer_id", "number", "period_from", "period_to")
    return {customer_id: (number, lo, hi) for customer_id, number, lo, hi in rows}


@dataclass(frozen=True)
class IssuedBill:
    """A bill a batch issued (what a bill run reports)."""

    id: UUID
    customer_id: UUID
    number: str
    totals: list[dict]


def _write(customers: Sequence[Customer], summaries: dict[UUID, Summary], now: datetime) -> list[IssuedBill]:
    """Write the bills of *customers* from their summaries, number them and move their billing epoch on."""
    if not customers:
        return []
    bills: list[dict] = []
    lines: list[dict] = []
    for customer in customers:
        summary = summaries[customer.pk]
        bill_id = uuid.uuid4()
        bills.append(
            {
                "id": bill_id,
                "customer_id": customer.pk,
                "customer_external_id": customer.external_id,
                "customer_name": customer.name,
                "customer_snapshot": summary.customer,
                "period_from": summary.start,
                "period_to": summary.end,
                "number": None,
                "issued_at": now,
                "status": Bill.Status.ISSUED.value,
                "epoch": summary.epoch,
                "totals": [{"currency": t.currency, "amount": str(t.amount)} for t in summary.totals],
                "unpriced": [
                    {"code": u.code, "quantity": str(u.quantity), "records": u.records} for u in summary.unpriced
                ],
            }
        )
        for position, line in enumerate(summary.lines):
            lines.append(
                {
                    "bill_id": bill_id,
                    "position": position,
                    "code": line.code,
                    "period_from": line.start,
                    "period_to": line.end,
                    "quantity": line.quantity,
                    "records": line.records,
                    "currency": line.currency,
                    "amount": line.amount,
                    "rate_id": line.rate_id,
                    "rate_snapshot": line.rate,
                    "tiers": [
                        {
                            "up_to": t.up_to,
                            "quantity": str(t.quantity),
                            "unit_price": t.unit_price,
                            "flat_price": t.flat_price,
                            "amount": t.amount,
                        }
                        for t in line.tiers
                    ],
                    "late": line.late,
                }
            )
    # The counter row is locked from here to the commit: as late as possible.
    for bill, number in zip(bills, bill_numbers_take(year=now.year, count=len(bills)), strict=True):
        bill["number"] = number
    _insert(bills, lines)
    Customer.objects.filter(pk__in=[c.pk for c in customers]).update(billing_epoch=F("billing_epoch") + 1)
    return [IssuedBill(b["id"], b["customer_id"], b["number"], b["totals"]) for b in bills]


def _insert(bills: list[dict], lines: list[dict]) -> None:
    """Insert the *bills* and *lines* rows: one COPY each on PostgreSQL (binding thousands of values one by one,
    or parsing them from one JSON parameter, cost more than the rest of a bill run)."""
    if connection.vendor != "postgresql":
        Bill.objects.bulk_create([Bill(**row) for row in bills])
        BillLine.objects.bulk_create([BillLine(**row) for row in lines], batch_size=500)
        return
    _copy(Bill, bills)
    _copy(BillLine, lines)


def _copy(model, rows: list[dict]) -> None:
    """COPY *rows* (dicts with the same keys, field names) into *model*'s table; JSON fields as JSON text."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in rows[0]]
    as_json = [i for i, f in enumerate(fields) if isinstance(f, JSONField)]
    qn = connection.ops.quote_name
    names = ", ".join(qn(f.column) for f in fields)
    # psycopg's own cursor, so its errors are turned into Django's here (a dropped connection must be Django's
    # OperationalError, which the bill run retries, as for every other statement).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {qn(model._meta.db_table)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            values = list(row.values())
            for i in as_json:
                values[i] = orjson.dumps(values[i], default=str).decode()
            copy.write_row(values)
