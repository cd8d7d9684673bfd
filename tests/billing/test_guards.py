"""The billed-period guard the membership write path calls."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.errors import PeriodBilled
from billing.guards import assert_period_open
from billing.services import bill_issue
from tests.billing.conftest import at
from tests.factories import CustomerFactory
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def billed(customer):
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    bill_issue(customer=customer, start=at("2026-02-01T00:00"), end=at("2026-03-01T00:00"))
    bill_issue(customer=customer, start=at("2026-03-01T00:00"), end=at("2026-04-01T00:00"))
    return customer


def test_a_change_before_the_end_of_the_latest_bill_is_period_billed(billed):
    with pytest.raises(PeriodBilled) as raised:
        assert_period_open(customer_ids=[billed.pk, CustomerFactory().pk], at=at("2026-03-31T23:59"))
    assert raised.value.code == "period_billed"
    assert raised.value.status == 409
    assert raised.value.extra["customer_id"] == str(billed.pk)
    assert raised.value.extra["bill_number"].endswith("-000002")


def test_a_change_at_or_after_the_end_of_the_latest_bill_is_allowed(billed):
    assert_period_open(customer_ids=[billed.pk], at=at("2026-04-01T00:00"))
    assert_period_open(customer_ids=[billed.pk], at=at("2026-06-01T00:00"))


def test_customers_without_bills_are_open_at_any_time(db):
    assert_period_open(customer_ids=[CustomerFactory().pk], at=at("2000-01-01T00:00"))
