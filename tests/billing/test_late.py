"""Late usage: a record submitted after its period was billed goes on the customer's next bill, marked late,
priced as at its own time; never lost, never billed twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Bill
from billing.representation import bill_representation, summary_representation
from billing.services import bill_issue
from billing.summary import billing_summary
from pricing.models import PriceList
from tests.billing.conftest import at, submit
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

MARCH = (at("2026-03-01T00:00"), at("2026-04-01T00:00"))
APRIL = (at("2026-04-01T00:00"), at("2026-05-01T00:00"))
MAY = (at("2026-05-01T00:00"), at("2026-06-01T00:00"))


@pytest.fixture
def billed_march(customer):
    """March billed at 1.00 EUR per SMS; from April 1 an SMS costs 2.00."""
    price_list = PriceListFactory(currency="EUR")
    RateFactory(price_list=price_list, unit_price=Decimal("1"))
    RateFactory(price_list=price_list, unit_price=Decimal("2"), valid_from=at("2026-04-01T00:00"))
    submit(customer, [("SMS", 5, at("2026-03-10T00:00"))])
    bill_issue(customer=customer, start=MARCH[0], end=MARCH[1])
    customer.refresh_from_db()
    return customer


def lines(body):
    return [(ln["code"], ln["from"], ln["to"], ln["quantity"], ln["amount"], ln["late"]) for ln in body["lines"]]


def test_a_late_record_goes_on_the_next_bill_marked_late_and_priced_as_at_its_own_time(billed_march):
    customer = billed_march
    submit(customer, [("SMS", 3, at("2026-03-31T23:30")), ("SMS", 7, at("2026-04-02T00:00"))])
    customer.refresh_from_db()
    bill = bill_issue(customer=customer, start=APRIL[0], end=APRIL[1])
    body = bill_representation(bill)
    assert lines(body) == [
        ("SMS", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", "3.000000", "3.00", True),
        ("SMS", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", "7.000000", "14.00", False),
    ]
    assert body["totals"] == [{"currency": "EUR", "amount": "17.00"}]


def test_the_preview_shows_the_late_lines_the_bill_will_carry(billed_march):
    customer = billed_march
    submit(customer, [("SMS", 3, at("2026-03-31T23:30")), ("SMS", 7, at("2026-04-02T00:00"))])
    customer.refresh_from_db()
    preview = summary_representation(billing_summary(customer=customer, start=APRIL[0], end=APRIL[1]))
    bill = bill_issue(customer=customer, start=APRIL[0], end=APRIL[1])
    frozen = bill_representation(bill)
    assert preview == {k: v for k, v in frozen.items() if k not in ("id", "number", "status", "issued_at")}
    assert [ln["late"] for ln in preview["lines"]] == [True, False]


def test_a_late_record_is_billed_once_the_bill_after_does_not_carry_it_again(billed_march):
    customer = billed_march
    submit(customer, [("SMS", 3, at("2026-03-15T00:00"))])
    customer.refresh_from_db()
    bill_issue(customer=customer, start=APRIL[0], end=APRIL[1])
    customer.refresh_from_db()
    may = bill_issue(customer=customer, start=MAY[0], end=MAY[1])
    assert bill_representation(may)["lines"] == []
    late_total = sum(line.quantity for bill in Bill.objects.all() for line in bill.lines.all() if line.late)
    assert late_total == Decimal(3)


def test_records_submitted_before_the_bill_are_never_late(billed_march):
    customer = billed_march
    customer.refresh_from_db()
    april = bill_issue(customer=customer, start=APRIL[0], end=APRIL[1])
    assert not any(line.late for line in april.lines.all())


def test_late_usage_in_a_gap_between_bills_waits_for_the_bill_of_its_period(billed_march):
    customer = billed_march
    bill_issue(customer=customer, start=MAY[0], end=MAY[1])  # April left unbilled
    customer.refresh_from_db()
    submit(customer, [("SMS", 1, at("2026-04-15T00:00"))])
    customer.refresh_from_db()
    preview = summary_representation(
        billing_summary(customer=customer, start=at("2026-06-01T00:00"), end=at("2026-07-01T00:00"))
    )
    assert preview["lines"] == []  # not late: its period was never billed
    april = bill_issue(customer=customer, start=APRIL[0], end=APRIL[1])
    assert [(ln["quantity"], ln["late"]) for ln in bill_representation(april)["lines"]] == [("1.000000", False)]


def test_late_unpriced_usage_is_reported_unpriced(billed_march):
    customer = billed_march
    submit(customer, [("MMS", 2, at("2026-03-15T00:00"))])
    customer.refresh_from_db()
    april = bill_representation(bill_issue(customer=customer, start=APRIL[0], end=APRIL[1]))
    assert april["unpriced"] == [{"code": "MMS", "quantity": "2.000000", "records": 1}]


def test_late_lines_of_two_billed_periods_are_priced_separately(customer):
    price_list = PriceListFactory(currency="EUR")
    RateFactory(price_list=price_list, unit_price=Decimal("1"))
    bill_issue(customer=customer, start=at("2026-01-01T00:00"), end=at("2026-02-01T00:00"))
    customer.refresh_from_db()
    bill_issue(customer=customer, start=at("2026-02-01T00:00"), end=MARCH[0])
    customer.refresh_from_db()
    submit(customer, [("SMS", 1, at("2026-01-15T00:00")), ("SMS", 2, at("2026-02-15T00:00"))])
    customer.refresh_from_db()
    body = bill_representation(bill_issue(customer=customer, start=MARCH[0], end=MARCH[1]))
    assert lines(body) == [
        ("SMS", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "1.000000", "1.00", True),
        ("SMS", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2.000000", "2.00", True),
    ]
    assert PriceList.objects.count() == 1
