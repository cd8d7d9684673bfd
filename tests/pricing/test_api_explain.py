"""`GET /customers/{id}/rates`: which rate prices each code at a moment, and every candidate list of the walk."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import AUTH_QUERIES, client_for, user_with_perms
from tests.customers.test_api import problem
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory
from tests.pricing.factories import GRADUATED_TIERS, PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def url(customer) -> str:
    return f"/api/v1/customers/{getattr(customer, 'pk', customer)}/rates"


def brief(pl) -> dict:
    return {
        "id": str(pl.pk),
        "name": pl.name,
        "scope": pl.scope,
        "group_id": None if pl.group_id is None else str(pl.group_id),
        "priority": pl.priority,
        "currency": pl.currency,
    }


def test_explain_has_exactly_the_contracts_shape(api):
    customer, group = CustomerFactory(), GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=T0)
    default = PriceListFactory(name="Standard", priority=0)
    default_rate = RateFactory(price_list=default, valid_from=T0)
    vip = PriceListFactory(name="VIP", group=group, priority=1, currency="EUR")
    vip_rate = RateFactory(
        price_list=vip, model="graduated", unit_price=None, tiers=GRADUATED_TIERS, valid_from=T0 + timedelta(days=1)
    )
    RateFactory(price_list=vip, valid_from=T0 + timedelta(days=40))  # the next one: valid_to of vip_rate
    response = api.get(url(customer), {"at": "2026-01-10T12:00:00Z", "code": "SMS"})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "at": "2026-01-10T12:00:00Z",
        "items": [
            {
                "code": "SMS",
                "rate": {
                    "id": str(vip_rate.pk),
                    "price_list_id": str(vip.pk),
                    "code": "SMS",
                    "model": "graduated",
                    "valid_from": "2026-01-02T00:00:00Z",
                    "valid_to": "2026-02-10T00:00:00Z",
                    "unit_price": None,
                    "tiers": GRADUATED_TIERS,
                    "package_size": None,
                    "package_price": None,
                    "created_at": vip_rate.created_at.isoformat().replace("+00:00", "Z"),
                    "price_list": brief(vip),
                },
                "candidates": [
                    {"price_list": brief(vip), "rate_id": str(vip_rate.pk), "outcome": "applied"},
                    {"price_list": brief(default), "rate_id": str(default_rate.pk), "outcome": "shadowed"},
                ],
            }
        ],
    }


def test_the_fast_representation_is_exactly_the_serializers(api):
    """The view builds the explanation without DRF's per-field path; the documented serializer must agree."""
    from django.utils import timezone

    from pricing.api.serializers import ExplainSerializer, explain_representation
    from pricing.resolver import explain

    customer, group = CustomerFactory(), GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=T0)
    RateFactory(price_list=PriceListFactory(group=group), valid_from=T0)
    RateFactory(
        price_list=PriceListFactory(customer=customer),
        code="MMS",
        model="package",
        unit_price=None,
        package_size=10,
        package_price="2.5",
        valid_from=T0,
    )
    RateFactory(
        price_list=PriceListFactory(),
        code="DATA",
        model="volume",
        unit_price=None,
        tiers=GRADUATED_TIERS,
        valid_from=T0,
    )
    at = timezone.now()
    items = explain(customer_id=customer.pk, at=at) + explain(customer_id=customer.pk, at=at, code="FAX")
    assert len(items) == 4
    assert explain_representation(at, items) == ExplainSerializer({"at": at, "items": items}).data


def test_customer_lists_come_first_then_groups_then_defaults(api):
    customer, group = CustomerFactory(), GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=T0)
    default = PriceListFactory(priority=0)
    RateFactory(price_list=default, valid_from=T0)
    group_list = PriceListFactory(group=group, priority=0)
    own = PriceListFactory(customer=customer, priority=0)
    own_rate = RateFactory(price_list=own, valid_from=T0)
    (item,) = api.get(url(customer), {"at": "2026-02-01T00:00:00Z"}).json()["items"]
    assert item["rate"]["id"] == str(own_rate.pk)
    assert [(c["price_list"]["id"], c["outcome"]) for c in item["candidates"]] == [
        (str(own.pk), "applied"),
        (str(group_list.pk), "no_rate"),
        (str(default.pk), "shadowed"),
    ]


def test_at_picks_the_groups_of_that_moment(api):
    customer, group = CustomerFactory(), GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=T0, left_at=T0 + timedelta(days=10))
    default_rate = RateFactory(price_list=PriceListFactory(), valid_from=T0)
    vip_rate = RateFactory(price_list=PriceListFactory(group=group), valid_from=T0)
    at = {"at": "2026-01-05T00:00:00Z", "code": "SMS"}
    assert api.get(url(customer), at).json()["items"][0]["rate"]["id"] == str(vip_rate.pk)
    after = {"at": "2026-01-11T00:00:00Z", "code": "SMS"}
    assert api.get(url(customer), after).json()["items"][0]["rate"]["id"] == str(default_rate.pk)


def test_without_at_it_is_now_and_without_code_every_priced_code(api):
    customer = CustomerFactory()
    pl = PriceListFactory()
    RateFactory(price_list=pl, code="SMS", valid_from=T0)
    RateFactory(price_list=pl, code="MMS", valid_from=T0)
    RateFactory(price_list=pl, code="FUTURE", valid_from=datetime(2999, 1, 1, tzinfo=UTC))
    before = datetime.now(UTC)
    data = api.get(url(customer)).json()
    assert before <= datetime.fromisoformat(data["at"]) <= datetime.now(UTC)
    assert [item["code"] for item in data["items"]] == ["MMS", "SMS"]


def test_an_unpriced_code_has_a_null_rate(api):
    customer = CustomerFactory()
    pl = PriceListFactory()
    RateFactory(price_list=pl, valid_from=T0)
    data = api.get(url(customer), {"code": "FAX"}).json()
    assert data["items"] == [
        {"code": "FAX", "rate": None, "candidates": [{"price_list": brief(pl), "rate_id": None, "outcome": "no_rate"}]}
    ]


@pytest.mark.parametrize("customer_id", [uuid.uuid4(), "nope"])
def test_unknown_or_malformed_customer_is_404(api, customer_id):
    problem(api.get(url(customer_id)), 404, "not_found")


@pytest.mark.parametrize("params", [{"at": "yesterday"}, {"code": "a b"}, {"at": "0001-01-01T00:00:00+14:00"}])
def test_bad_query_is_400(api, params):
    problem(api.get(url(CustomerFactory()), params), 400, "invalid")


def test_the_last_microsecond_of_time_is_answered(api):
    customer = CustomerFactory()
    RateFactory(price_list=PriceListFactory(), valid_from=T0)
    response = api.get(url(customer), {"at": "9999-12-31T23:59:59.999999Z"})
    assert response.status_code == 200
    assert [item["code"] for item in response.json()["items"]] == ["SMS"]


def test_explain_needs_view_permissions_on_customers_and_rates():
    customer = CustomerFactory()
    problem(client_for(user_with_perms("pricing.view_rate")).get(url(customer)), 403, "permission_denied")
    problem(client_for(user_with_perms("customers.view_customer")).get(url(customer)), 403, "permission_denied")
    both = client_for(user_with_perms("pricing.view_rate", "customers.view_customer"))
    assert both.get(url(customer)).status_code == 200


def test_explain_costs_the_same_queries_whatever_the_number_of_groups_lists_and_codes():
    client = client_for(user_with_perms("pricing.view_rate", "customers.view_customer"))
    customer = CustomerFactory()
    client.get(url(customer))
    RateFactory(price_list=PriceListFactory(), valid_from=T0)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(customer)).status_code == 200
    for i in range(10):
        group = GroupFactory()
        MembershipFactory(customer=customer, group=group, joined_at=T0)
        for j in range(3):
            pl = PriceListFactory(group=group, priority=100 + 10 * i + j)
            for code in ("SMS", "MMS", "DATA"):
                RateFactory(price_list=pl, code=code, valid_from=T0 + timedelta(days=j))
    with CaptureQueriesContext(connection) as many:
        response = client.get(url(customer))
    assert len(response.json()["items"]) == 3
    # authentication, the customer, memberships + lists + rates (one statement on PostgreSQL, three queries
    # elsewhere), valid_to of the applied rates
    catalogue = 1 if connection.vendor == "postgresql" else 3
    assert len(few) == len(many) == AUTH_QUERIES + 2 + catalogue
