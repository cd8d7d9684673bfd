"""Bill runs issuing several batches at once (`workers`, PostgreSQL): every customer billed exactly once, each
bill the customer's own summary, numbers without gaps or duplicates; a failing batch stops the run cleanly
and a re-run bills the rest; inside a transaction the run stays on the caller's connection."""

from __future__ import annotations

import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from billing import runs
from billing.models import Bill, BillNumber
from billing.runs import bill_run
from billing.summary import billing_summaries
from customers.models import Customer
from tests.billing.conftest import at, submit
from tests.factories import CustomerFactory
from tests.pricing.factories import PriceListFactory, RateFactory

MARCH = (at("2026-03-01T00:00"), at("2026-04-01T00:00"))


@pytest.fixture
def customers():
    """Eleven customers with March usage priced in two currencies, a rate change inside an hour, and one
    customer without usage."""
    eur = PriceListFactory(currency="EUR", priority=1)
    RateFactory(price_list=eur, code="SMS", unit_price=Decimal("0.5"))
    RateFactory(price_list=eur, code="SMS", unit_price=Decimal("0.7"), valid_from=at("2026-03-15T12:30:30"))
    RateFactory(price_list=PriceListFactory(currency="JPY", priority=2), code="CALL", unit_price=Decimal("3"))
    with_usage = [CustomerFactory() for _ in range(11)]
    for i, customer in enumerate(with_usage):
        submit(
            customer,
            [
                ("SMS", i + 1, at("2026-03-10T10:10")),
                ("SMS", 2 * i + 1, at("2026-03-15T12:30:29")),
                ("SMS", 3, at("2026-03-15T12:31")),
                ("CALL", i % 3, at("2026-03-31T23:59:59")),
            ],
        )
    CustomerFactory()
    yield with_usage
    connection.close()


def bills_by_customer() -> dict:
    return {customer_id: totals for customer_id, totals in Bill.objects.values_list("customer_id", "totals")}


def assert_numbers_without_gaps(count: int) -> None:
    numbers = sorted(int(number[-6:]) for number in Bill.objects.values_list("number", flat=True))
    assert numbers == list(range(1, count + 1))
    assert BillNumber.objects.get().last == count


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers", [2, 3])
def test_batches_issued_side_by_side_bill_everyone_once_with_their_own_summary(customers, workers):
    expected = {
        pk: [{"currency": t.currency, "amount": str(t.amount)} for t in summary.totals]
        for pk, summary in billing_summaries(customers=customers, start=MARCH[0], end=MARCH[1]).items()
    }
    threads = set()
    original = runs.bills_issue

    def recording(**kwargs):
        threads.add(threading.current_thread().name)
        return original(**kwargs)

    runs.bills_issue = recording
    try:
        report = bill_run(start=MARCH[0], end=MARCH[1], batch_size=2, workers=workers)
    finally:
        runs.bills_issue = original

    assert len(threads) == workers and threading.current_thread().name not in threads
    assert bills_by_customer() == expected
    assert_numbers_without_gaps(11)
    assert report.issued == 11 and report.customers == 12 and report.without_usage == 1 and not report.failed
    assert report.numbers == ("2026-000001", "2026-000011")
    assert dict(report.totals) == {
        currency: sum(Decimal(t["amount"]) for totals in expected.values() for t in totals if t["currency"] == currency)
        for currency in ("EUR", "JPY")
    }
    assert set(Customer.objects.filter(pk__in=[c.pk for c in customers]).values_list("billing_epoch", flat=True)) == {1}
    assert bill_run(start=MARCH[0], end=MARCH[1], batch_size=2, workers=workers).issued == 0  # a re-run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_failing_past_its_retries_stops_the_run_and_a_rerun_bills_the_rest(customers, monkeypatch):
    monkeypatch.setattr(runs, "RETRY_WAIT", 0)
    monkeypatch.setattr(runs, "RETRIES", 1)
    doomed = sorted(c.pk for c in customers)[4]
    original = runs.bills_issue

    def failing(**kwargs):
        if doomed in kwargs["customer_ids"]:
            raise OperationalError("connection refused")
        return original(**kwargs)

    monkeypatch.setattr(runs, "bills_issue", failing)
    with pytest.raises(OperationalError, match="connection refused"):
        bill_run(start=MARCH[0], end=MARCH[1], batch_size=2, workers=2)
    issued_before = Bill.objects.count()
    assert doomed not in bills_by_customer()
    assert 0 < issued_before < 11  # the batches before the failure and those in flight with it are complete
    assert_numbers_without_gaps(issued_before)

    monkeypatch.setattr(runs, "bills_issue", original)
    report = bill_run(start=MARCH[0], end=MARCH[1], batch_size=2, workers=2)
    assert report.issued == 11 - issued_before and report.already_billed == issued_before
    assert sorted(bills_by_customer()) == sorted(c.pk for c in customers)
    assert_numbers_without_gaps(11)


@pytest.mark.django_db
def test_inside_a_transaction_the_run_stays_on_the_callers_connection(customers):
    """Other connections could not see what the caller's transaction wrote (here: every customer and record)."""
    report = bill_run(start=MARCH[0], end=MARCH[1], batch_size=2, workers=2)
    assert report.issued == 11
    assert_numbers_without_gaps(11)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_command_issues_batches_side_by_side_by_default_on_postgresql(customers):
    out = StringIO()
    call_command("issue_bills", "--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z", stdout=out)
    assert "Issued 11 bills (numbers 2026-000001 to 2026-000011)" in out.getvalue()
    assert_numbers_without_gaps(11)


@pytest.mark.django_db
@pytest.mark.parametrize("workers", ["0", "17"])
def test_workers_out_of_range_is_a_clear_error_and_writes_nothing(customers, workers):
    with pytest.raises(CommandError, match=r"^--workers must be from 1 to 16\.$"):
        call_command(
            "issue_bills", "--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z", "--workers", workers
        )
    assert not Bill.objects.exists()


@pytest.mark.django_db
def test_several_workers_need_postgresql_and_on_sqlite_are_a_clear_error_that_writes_nothing(customers):
    args = ["issue_bills", "--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z", "--workers", "2"]
    if connection.vendor == "postgresql":
        call_command(*args, stdout=StringIO())
        assert Bill.objects.count() == 11
        return
    with pytest.raises(CommandError, match=r"^--workers above 1 needs PostgreSQL: SQLite takes one writer at a time"):
        call_command(*args)
    assert not Bill.objects.exists()
