"""Bill runs: issue a period's bills for every customer with usage (or late usage), batch by batch.

Customers are walked in id order in batches; each batch is one transaction (`bills_issue`), so a run costs a
few queries per batch rather than per customer, and memory stays flat whatever the number of customers.
With *workers* > 1 (PostgreSQL), that many batches are issued at once, each on its own thread and database
connection: a batch's summaries (most of its work) run side by side with the others', and only taking the
numbers and writing the bills wait for each other (the number counter's row lock, held from the numbers'
taking to the commit), so the numbers stay gap-free. A run that is interrupted (killed, the database
restarting) loses at most the batches in flight, each of which rolls back whole (bills, lines, epochs and
the number counter together); running it again skips the customers already billed for the period, so every
customer ends up billed exactly once and the numbers stay gap-free.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import InterfaceError, OperationalError, close_old_connections, connection, reset_queries

from billing.periods import period_validate
from billing.services import IssueOutcome, bills_issue
from customers.models import Customer
from records.models import UsageRollup
from records.querysets import hour_ceil, hour_floor

logger = logging.getLogger("billingengine.billing")

BATCH_SIZE = 500
#: How often a step is retried when the database connection fails (e.g. PostgreSQL restarting), and the
#: waits between tries: RETRY_WAIT seconds, doubling up to RETRY_WAIT_MAX (1, 2, 4, 8, 15, 15, 15, 15:
#: a restart or a crash recovery of over a minute is ridden out).
RETRIES = 8
RETRY_WAIT = 1.0
RETRY_WAIT_MAX = 15.0


def retry_wait(attempt: int) -> float:
    """Return the seconds to wait before retry number *attempt* + 1 (attempts count from 0)."""
    return min(RETRY_WAIT * 2**attempt, RETRY_WAIT_MAX)


@dataclass
class RunReport:
    """What a bill run did: counts, totals per currency and the failures."""

    customers: int = 0
    issued: int = 0
    already_billed: int = 0
    without_usage: int = 0
    failed: list[tuple[UUID, str]] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    numbers: tuple[str, str] | None = None  # first and last number issued


def bill_run(
    *,
    start: datetime,
    end: datetime,
    customer_ids: list[UUID] | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    workers: int = 1,
) -> RunReport:
    """Issue the bills of [*start*, *end*) for every customer (or those of *customer_ids*) with usage in it.

    *on_batch(n)* is called after each batch with the number of customers it covered (progress). *workers*
    batches are issued at once, each on its own connection; inside a transaction the run stays on this
    thread's connection (another could not see what the transaction wrote).
    """
    period_validate(start=start, end=end, must_have_ended=True)
    report = RunReport()

    def issue(batch: list[tuple[UUID, int]]) -> tuple[int, int, IssueOutcome]:
        candidates = _retrying(_with_possible_usage, batch, start, end)
        outcome = _retrying(bills_issue, customer_ids=candidates, start=start, end=end, dry_run=dry_run)
        reset_queries()  # with DEBUG on, Django keeps every query's SQL: memory would grow with the run
        return len(batch), len(candidates), outcome

    def add(result: tuple[int, int, IssueOutcome]) -> None:
        _add(report, *result, dry_run=dry_run)
        if on_batch is not None:
            on_batch(result[0])

    batches = _batches(customer_ids, batch_size)
    if workers <= 1 or connection.in_atomic_block:
        for batch in batches:
            add(issue(batch))
    else:
        _issue_side_by_side(batches, issue, add, workers)
    return report


def _add(report: RunReport, customers: int, candidates: int, outcome: IssueOutcome, *, dry_run: bool) -> None:
    """Add one batch's outcome to *report*."""
    report.customers += customers
    report.without_usage += customers - candidates + len(outcome.empty)
    report.already_billed += len(outcome.already_billed)
    report.failed += outcome.failed
    issued = outcome.previews if dry_run else outcome.issued
    report.issued += len(issued)
    for item in issued:
        for total in item.totals:
            currency, amount = (total.currency, total.amount) if dry_run else (total["currency"], total["amount"])
            report.totals[currency] += Decimal(amount)
    if not dry_run and outcome.issued:
        numbers = [bill.number for bill in outcome.issued]
        if report.numbers:
            numbers += report.numbers
        report.numbers = (min(numbers, key=_number_order), max(numbers, key=_number_order))


def _number_order(number: str) -> tuple[int, int]:
    """Sort key of a bill number "YYYY-NNNNNN": year, then sequence (the sequence may outgrow six digits)."""
    year, _, sequence = number.partition("-")
    return int(year), int(sequence)


def _issue_side_by_side(batches, issue: Callable, add: Callable, workers: int) -> None:
    """Run issue(batch) for every batch on *workers* threads (each its own connection), at most one batch
    per thread at a time, and add(result) each result on this thread as it comes in.

    The first failure stops the feeding: the batches in flight finish (each commits or rolls back whole),
    then the error is raised here. So does an interruption of this thread (Ctrl-C).
    """
    todo: queue.Queue = queue.Queue()
    done: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            while (batch := todo.get()) is not None:
                try:
                    done.put((True, issue(batch)))
                except BaseException as error:  # handed to the feeding thread, which raises it
                    done.put((False, error))
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, name=f"bill-run-{i + 1}", daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    in_flight = 0
    failure: BaseException | None = None
    try:
        for batch in batches:
            if in_flight == workers:
                failure = _take(done, add)
                in_flight -= 1
                if failure is not None:
                    break
            todo.put(batch)
            in_flight += 1
        while in_flight:
            failure = _take(done, add) or failure
            in_flight -= 1
    finally:
        for _ in threads:
            todo.put(None)
        for thread in threads:
            thread.join()
    if failure is not None:
        raise failure


def _take(done: queue.Queue, add: Callable) -> BaseException | None:
    """Wait for the next batch's result and add it; return the batch's error instead, if it failed."""
    ok, result = done.get()
    if not ok:
        return result
    add(result)
    return None


def _batches(customer_ids: list[UUID] | None, size: int):
    """Yield lists of (id, billing_epoch) of the customers, in id order, *size* at a time (keyset paging)."""
    queryset = Customer.objects.order_by("pk")
    if customer_ids is not None:
        queryset = queryset.filter(pk__in=customer_ids)
    last = None
    while True:
        page = queryset.filter(pk__gt=last) if last is not None else queryset
        rows = _retrying(list, page.values_list("pk", "billing_epoch")[:size])  # lazy: evaluated per attempt
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _with_possible_usage(batch: list[tuple[UUID, int]], start: datetime, end: datetime) -> list[UUID]:
    """Return the customers of *batch* that may have usage to bill: records in the period's hours (rollup),
    or a bill already (late usage is possible). The summary then decides exactly."""
    ids = [pk for pk, _ in batch]
    with_records = set(
        UsageRollup.objects.filter(customer_id__in=ids, hour__gte=hour_floor(start), hour__lt=hour_ceil(end))
        .order_by()
        .values_list("customer_id", flat=True)
        .distinct()
    )
    return [pk for pk, epoch in batch if pk in with_records or epoch > 0]


def _retrying(query, *args, **kwargs):
    """Return query(*args, **kwargs); when the database connection fails (PostgreSQL restarting, the backend
    terminated), reconnect and retry, up to RETRIES times, waiting longer each time (`retry_wait`). Every
    query of a run goes through here: the connection may drop between batches as well as inside one. A
    batch's issuing is one transaction, so it rolled back whole before it is retried."""
    for attempt in range(RETRIES + 1):
        try:
            return query(*args, **kwargs)
        except (OperationalError, InterfaceError) as error:
            if attempt == RETRIES:
                raise
            reason = " ".join(str(error).split()) or type(error).__name__
            wait = retry_wait(attempt)
            logger.warning(
                "Database connection failed (%s); reconnecting and retrying in %.0f s (attempt %d of %d)",
                reason,
                wait,
                attempt + 1,
                RETRIES,
            )
            connection.close()
            close_old_connections()
            time.sleep(wait)
    raise AssertionError("unreachable")
