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


@pytest.fixture
def vip(db):
    from tests.factories import GroupFactory

    return GroupFactory(name="VIP")


def test_a_membership_change_into_a_billed_period_is_409_period_billed_and_writes_nothing(api, billed, vip):
    """The guard is wired into the one membership write path: backdating a join or a leave into a billed
    period would change an issued bill, so the API refuses it."""
    from groups.models import Membership

    joined = api.post(
        f"/api/v1/groups/{vip.pk}/customers",
        {"customer_id": str(billed.pk), "joined_at": "2026-03-15T00:00:00Z"},
        format="json",
    )
    assert joined.status_code == 409, joined.content
    assert joined.json()["code"] == "period_billed"
    assert not Membership.objects.filter(customer=billed).exists()

    after = api.post(
        f"/api/v1/groups/{vip.pk}/customers",
        {"customer_id": str(billed.pk), "joined_at": "2026-04-01T00:00:00Z"},
        format="json",
    )
    assert after.status_code == 201, after.content

    left = api.delete(f"/api/v1/groups/{vip.pk}/customers/{billed.pk}?left_at=2026-03-20T00:00:00Z")
    assert left.status_code in (404, 409)  # no membership was open on 20 March: nothing to end either way
    left = api.delete(f"/api/v1/groups/{vip.pk}/customers/{billed.pk}?left_at=2026-05-01T00:00:00Z")
    assert left.status_code == 204, left.content
    assert Membership.objects.get(customer=billed).left_at == at("2026-05-01T00:00")


def test_ending_a_membership_inside_a_billed_period_is_409_period_billed(api, customer, vip):
    from groups.models import Membership

    api.post(
        f"/api/v1/groups/{vip.pk}/customers",
        {"customer_id": str(customer.pk), "joined_at": "2026-01-01T00:00:00Z"},
        format="json",
    )
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    bill_issue(customer=customer, start=at("2026-02-01T00:00"), end=at("2026-03-01T00:00"))

    response = api.delete(f"/api/v1/groups/{vip.pk}/customers/{customer.pk}?left_at=2026-02-10T00:00:00Z")

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "period_billed"
    assert Membership.objects.get(customer=customer).left_at is None
