"""Concurrent issuing and ingestion on PostgreSQL (real threads): one bill per period, gap-free numbers, and
every record on exactly one bill even when it is submitted while a bill is being issued."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from billing.errors import PeriodBilled
from billing.models import Bill, BillLine
from billing.services import bill_issue
from customers.models import Customer
from records.models import DataRecord
from tests.billing.conftest import at, submit
from tests.factories import CustomerFactory
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MARCH = (at("2026-03-01T00:00"), at("2026-04-01T00:00"))


def in_threads(count: int, work) -> list:
    """Run work(i) in *count* threads started together; return each result or raised exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # the test inspects it
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _issue(customer_id, period=MARCH):
    return bill_issue(customer=Customer.objects.get(pk=customer_id), start=period[0], end=period[1])


def test_two_concurrent_issues_of_one_period_give_one_bill():
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    customer = CustomerFactory()
    submit(customer, [("SMS", 1, at("2026-03-02T00:00"))])
    for _ in range(3):
        Bill.objects.all().delete()
        Customer.objects.filter(pk=customer.pk).update(billing_epoch=0)
        results = in_threads(2, lambda i: _issue(customer.pk))
        assert sorted(type(r).__name__ for r in results) == ["Bill", "PeriodBilled"], results
        assert Bill.objects.count() == 1
        assert isinstance(next(r for r in results if not isinstance(r, Bill)), PeriodBilled)
        assert Customer.objects.get(pk=customer.pk).billing_epoch == 1


def test_concurrent_issuing_for_many_customers_numbers_bills_without_gaps_or_duplicates():
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    customers = [CustomerFactory() for _ in range(24)]
    for customer in customers:
        submit(customer, [("SMS", 1, at("2026-03-02T00:00"))])

    def work(i):
        return [_issue(c.pk) for c in customers[i::6]]

    results = in_threads(6, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    numbers = sorted(int(n.split("-")[1]) for n in Bill.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 25))


def test_records_submitted_while_bills_are_issued_land_on_exactly_one_bill():
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    customer = CustomerFactory()
    submit(customer, [("SMS", 1, at("2026-03-01T00:00"))])
    periods = [
        MARCH,
        (at("2026-04-01T00:00"), at("2026-05-01T00:00")),
        (at("2026-05-01T00:00"), at("2026-06-01T00:00")),
    ]
    stop = threading.Event()

    def work(i):
        if i == 0:  # keeps submitting March records
            sent = 0
            while not stop.is_set() or sent < 60:
                submit(Customer.objects.get(pk=customer.pk), [("SMS", 1, at("2026-03-15T12:00"))])
                sent += 1
            return sent
        try:
            for period in periods[:2]:  # issue while records arrive
                _issue(customer.pk, period)
        finally:
            stop.set()
        return None

    results = in_threads(2, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    _issue(customer.pk, periods[2])  # carries whatever arrived after the April bill
    submitted = DataRecord.objects.filter(customer_id=customer.pk).count()
    billed = sum(BillLine.objects.filter(bill__customer=customer).values_list("records", flat=True))
    assert billed == submitted == results[0] + 1
