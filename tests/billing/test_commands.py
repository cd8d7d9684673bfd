"""manage.py issue_bills: a period's bills for every customer with (late) usage; a re-run issues nothing new."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing import services
from billing.models import Bill, BillNumber
from customers.models import Customer
from tests.billing.conftest import at, submit
from tests.factories import CustomerFactory
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

MARCH = ["--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z"]
_NOW = timezone.now()
APRIL = ["--from", "2026-04-01T00:00:00Z", "--to", "2026-05-01T00:00:00Z"]


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("issue_bills", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def customers(db):
    """Seven customers with March usage in EUR and JPY, one without usage, one with usage only in April."""
    RateFactory(price_list=PriceListFactory(currency="EUR", priority=1), code="SMS", unit_price=Decimal("0.5"))
    RateFactory(price_list=PriceListFactory(currency="JPY", priority=2), code="CALL", unit_price=Decimal("3"))
    with_usage = [CustomerFactory() for _ in range(7)]
    for i, customer in enumerate(with_usage):
        submit(customer, [("SMS", i + 1, at("2026-03-10T10:10")), ("CALL", 1, at("2026-03-31T23:59:59"))])
    CustomerFactory()
    submit(CustomerFactory(), [("SMS", 1, at("2026-04-01T00:00"))])
    return with_usage


def test_issues_a_bill_per_customer_with_usage_and_prints_counts_and_totals(customers):
    out, _ = run(*MARCH, "--batch-size", "3")
    assert Bill.objects.count() == 7
    assert sorted(Bill.objects.values_list("customer_id", flat=True), key=str) == sorted(
        (c.pk for c in customers), key=str
    )
    assert "Issued 7 bills" in out and "1 without usage" not in out
    assert "14.00 EUR" in out  # (1 + ... + 7) x 0.5
    assert "21 JPY" in out
    assert BillNumber.objects.get().last == 7


def test_a_rerun_issues_nothing_new(customers):
    run(*MARCH)
    out, _ = run(*MARCH)
    assert Bill.objects.count() == 7
    assert "Issued 0 bills" in out and "7 customers already billed" in out


def test_dry_run_reports_and_writes_nothing(customers):
    out, _ = run(*MARCH, "--dry-run")
    assert "Would issue 7 bills" in out and "14.00 EUR" in out
    assert not Bill.objects.exists() and not BillNumber.objects.exists()
    assert set(Customer.objects.values_list("billing_epoch", flat=True)) == {0}


def test_one_customer_by_external_id(customers):
    out, _ = run(*MARCH, "--customer", customers[2].external_id)
    assert list(Bill.objects.values_list("customer_id", flat=True)) == [customers[2].pk]
    assert "Issued 1 bills" in out


def test_customers_with_only_late_usage_are_billed(customers):
    run(*MARCH)
    late = customers[0]
    submit(Customer.objects.get(pk=late.pk), [("SMS", 10, at("2026-03-05T00:00"))])
    run(*APRIL)
    april = Bill.objects.filter(customer=late, period_from=at("2026-04-01T00:00")).get()
    assert [(line.quantity, line.late) for line in april.lines.all()] == [(Decimal(10), True)]


def test_a_failing_customer_is_reported_and_the_others_are_billed(customers, monkeypatch):
    original = services.billing_summaries
    broken = customers[3].pk

    def failing_batch(*, customers, start, end):
        if any(c.pk == broken for c in customers):
            raise ArithmeticError("boom")
        return original(customers=customers, start=start, end=end)

    monkeypatch.setattr(services, "billing_summaries", failing_batch)
    with pytest.raises(CommandError, match="1 customer"):
        run(*MARCH, "--batch-size", "4")
    assert Bill.objects.count() == 6
    assert not Bill.objects.filter(customer_id=broken).exists()
    numbers = sorted(int(n[-6:]) for n in Bill.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 7))  # no gap where the failed bill was attempted
    monkeypatch.setattr(services, "billing_summaries", original)
    out, _ = run(*MARCH)
    assert "Issued 1 bills" in out and Bill.objects.count() == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-04-01T00:00:00Z", "--to", "2026-03-01T00:00:00Z"], "must be later"),
        (["--from", "2020-01-01T00:00:00Z", "--to", "2026-03-01T00:00:00Z"], "at most 366 days"),
        (["--from", _NOW.isoformat(), "--to", (_NOW + timedelta(days=1)).isoformat()], "not ended"),
        (["--from", "March", "--to", "2026-04-01T00:00:00Z"], "RFC 3339"),
        ([*MARCH, "--customer", "NOBODY"], "No customer with external_id 'NOBODY'"),
        ([*MARCH, "--batch-size", "0"], "batch-size"),
    ],
)
def test_bad_arguments_are_clear_errors_and_write_nothing(customers, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not Bill.objects.exists()
