"""Rates REST API: created and deleted, never changed; every rule of the terms a 400 naming its element."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pricing.models import Rate
from tests.conftest import AUTH_QUERIES, client_for, user_with_perms
from tests.customers.test_api import fields_of, problem
from tests.pricing.factories import GRADUATED_TIERS, PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FIELDS = [
    "id",
    "price_list_id",
    "code",
    "model",
    "valid_from",
    "valid_to",
    "unit_price",
    "tiers",
    "package_size",
    "package_price",
    "created_at",
]


def url(price_list, rate=None) -> str:
    base = f"/api/v1/price-lists/{getattr(price_list, 'pk', price_list)}/rates"
    return base if rate is None else f"{base}/{getattr(rate, 'pk', rate)}"


@pytest.fixture
def price_list():
    return PriceListFactory()


def post(api, price_list, **payload):
    body = {"code": "SMS", "valid_from": "2026-01-01T00:00:00Z", **payload}
    return api.post(url(price_list), body, format="json")


@pytest.mark.parametrize(
    ("payload", "stored"),
    [
        ({"model": "unit", "unit_price": "0.0005"}, {"unit_price": "0.0005"}),
        ({"model": "unit", "unit_price": 0.05}, {"unit_price": "0.05"}),
        ({"model": "unit", "unit_price": 2}, {"unit_price": "2"}),
        (
            {
                "model": "graduated",
                "tiers": [{"up_to": 1000, "unit_price": "0.05"}, {"up_to": None, "unit_price": "0.04"}],
            },
            {
                "tiers": [
                    {"up_to": "1000", "unit_price": "0.05", "flat_price": "0"},
                    {"up_to": None, "unit_price": "0.04", "flat_price": "0"},
                ]
            },
        ),
        ({"model": "volume", "tiers": GRADUATED_TIERS}, {"tiers": GRADUATED_TIERS}),
        (
            {"model": "package", "package_size": "100", "package_price": "3.50"},
            {"package_size": "100", "package_price": "3.5"},
        ),
    ],
)
def test_create_each_model_and_read_it_back(api, price_list, payload, stored):
    response = post(api, price_list, **payload)
    assert response.status_code == 201, response.content
    assert list(response.json()) == ["id"]
    rate_id = response.json()["id"]
    assert response["Location"].endswith(url(price_list, rate_id))
    data = api.get(url(price_list, rate_id)).json()
    assert list(data) == FIELDS
    expected = {"unit_price": None, "tiers": None, "package_size": None, "package_price": None, **stored}
    assert {k: data[k] for k in expected} == expected
    assert (data["code"], data["model"], data["price_list_id"]) == ("SMS", payload["model"], str(price_list.pk))
    assert (data["valid_from"], data["valid_to"]) == ("2026-01-01T00:00:00Z", None)


def test_valid_to_is_the_next_rates_valid_from(api, price_list):
    first = RateFactory(price_list=price_list, valid_from=T0)
    second = post(api, price_list, model="unit", unit_price="1", valid_from="2026-02-01T00:00:00.000001Z").json()["id"]
    assert api.get(url(price_list, first)).json()["valid_to"] == "2026-02-01T00:00:00.000001Z"
    assert api.get(url(price_list, second)).json()["valid_to"] is None


def test_two_rates_of_a_code_with_the_same_valid_from_is_409(api, price_list):
    existing = RateFactory(price_list=price_list, valid_from=T0)
    body = problem(post(api, price_list, model="unit", unit_price="1"), 409, "rate_exists")
    assert body["existing_id"] == str(existing.pk)
    assert Rate.objects.count() == 1
    assert post(api, price_list, model="unit", unit_price="1", code="MMS").status_code == 201
    assert post(api, PriceListFactory(), model="unit", unit_price="1").status_code == 201


@pytest.mark.parametrize(
    ("payload", "errors", "code"),
    [
        (
            {
                "model": "graduated",
                "tiers": [
                    {"up_to": "10", "unit_price": "1"},
                    {"up_to": "10", "unit_price": "1"},
                    {"up_to": None, "unit_price": "1"},
                ],
            },
            {"tiers[1].up_to": "tiers_not_increasing"},
            "tiers_not_increasing",
        ),
        (
            {"model": "volume", "tiers": [{"up_to": "10", "unit_price": "1"}, {"up_to": "20", "unit_price": "1"}]},
            {"tiers[1].up_to": "last_tier_bounded"},
            "last_tier_bounded",
        ),
        ({"model": "unit", "unit_price": "1", "tiers": GRADUATED_TIERS}, {"tiers": "not_for_model"}, "not_for_model"),
        (
            {"model": "package", "package_size": "10", "package_price": "1", "unit_price": "1"},
            {"unit_price": "not_for_model"},
            "not_for_model",
        ),
        (
            {"model": "graduated", "tiers": GRADUATED_TIERS, "package_size": 1},
            {"package_size": "not_for_model"},
            "not_for_model",
        ),
        ({"model": "unit", "unit_price": "-0.01"}, {"unit_price": "invalid"}, "invalid"),
        ({"model": "package", "package_size": "10", "package_price": -1}, {"package_price": "invalid"}, "invalid"),
        ({"model": "package", "package_size": "0", "package_price": "1"}, {"package_size": "invalid"}, "invalid"),
        (
            {"model": "volume", "tiers": [{"up_to": None, "unit_price": "1", "flat_price": "-2"}]},
            {"tiers[0].flat_price": "invalid"},
            "invalid",
        ),
        ({"model": "unit", "unit_price": "0.00000000001"}, {"unit_price": "invalid"}, "invalid"),
        ({"model": "unit", "unit_price": "1234567890123456789"}, {"unit_price": "invalid"}, "invalid"),
        ({"model": "unit", "unit_price": True}, {"unit_price": "invalid"}, "invalid"),
        ({"model": "unit", "unit_price": {"amount": 1}}, {"unit_price": "invalid"}, "invalid"),
        ({"model": "unit"}, {"unit_price": "required"}, "required"),
        ({"model": "volume", "tiers": "[]"}, {"tiers": "invalid"}, "invalid"),
        ({"model": "flat", "unit_price": "1"}, {"model": "invalid_choice"}, "invalid"),
        ({"model": 1, "unit_price": "1"}, {"model": "invalid_choice"}, "invalid"),
        ({"model": "unit", "unit_price": "1", "code": "S M S"}, {"code": "invalid_code"}, "invalid"),
        ({"model": "unit", "unit_price": "1", "code": 42}, {"code": "invalid"}, "invalid"),
        ({"model": "unit", "unit_price": "1", "valid_from": "yesterday"}, {"valid_from": "invalid"}, "invalid"),
        ({"model": "unit", "unit_price": "1", "valid_from": 1767225600}, {"valid_from": "invalid"}, "invalid"),
        ({"model": "unit", "unit_price": "1", "valid_to": "2027-01-01T00:00:00Z"}, {}, None),  # read-only: ignored
        ({"model": "unit", "unit_price": "1", "price": "1"}, {"price": "unknown_field"}, "invalid"),
    ],
)
def test_bad_rates_are_400_naming_each_bad_element_and_write_nothing(api, price_list, payload, errors, code):
    response = post(api, price_list, **payload)
    if not errors:
        assert response.status_code == 201
        return
    body = problem(response, 400, "invalid")
    assert {e["field"]: e["code"] for e in body["errors"]} == errors
    assert not Rate.objects.exists()


def test_every_problem_is_listed_at_once(api, price_list):
    payload = {
        "code": "bad code",
        "model": "graduated",
        "tiers": [{"up_to": "5", "unit_price": "-1"}, {"up_to": "4", "unit_price": "1"}],
    }
    body = problem(api.post(url(price_list), payload, format="json"), 400, "invalid")
    assert fields_of(body) == {"code", "valid_from", "tiers[0].unit_price", "tiers[1].up_to"}


def test_rates_are_immutable(api, price_list):
    rate = RateFactory(price_list=price_list)
    problem(
        api.put(url(price_list, rate), {"model": "unit", "unit_price": "9"}, format="json"), 405, "method_not_allowed"
    )
    problem(api.patch(url(price_list, rate), {"unit_price": "9"}, format="json"), 405, "method_not_allowed")
    rate.refresh_from_db()
    assert rate.unit_price == rate.unit_price.__class__("0.05")


def test_delete_removes_the_rate(api, price_list):
    rate = RateFactory(price_list=price_list)
    assert api.delete(url(price_list, rate)).status_code == 204
    assert not Rate.objects.exists()


def test_delete_of_a_rate_used_by_an_issued_bill_is_409(api, price_list, monkeypatch):
    from pricing import services

    rate = RateFactory(price_list=price_list)
    monkeypatch.setattr(services, "rate_in_use", lambda r: r.pk == rate.pk)
    problem(api.delete(url(price_list, rate)), 409, "rate_in_use")
    assert Rate.objects.filter(pk=rate.pk).exists()


def test_a_rate_is_only_found_under_its_own_list(api, price_list):
    rate = RateFactory(price_list=price_list)
    other = PriceListFactory()
    problem(api.get(url(other, rate)), 404, "not_found")
    problem(api.delete(url(other, rate)), 404, "not_found")
    assert Rate.objects.filter(pk=rate.pk).exists()


@pytest.mark.parametrize("list_id", [uuid.uuid4(), "nope"])
def test_unknown_or_malformed_list_is_404(api, list_id):
    problem(api.get(url(list_id)), 404, "not_found")
    problem(api.post(url(list_id), {"model": "unit", "unit_price": "1"}, format="json"), 404, "not_found")


@pytest.mark.parametrize("rate_id", [uuid.uuid4(), "nope"])
def test_unknown_or_malformed_rate_is_404(api, price_list, rate_id):
    problem(api.get(url(price_list, rate_id)), 404, "not_found")


def test_list_filters_by_code_and_by_the_moment_in_force(api, price_list):
    old = RateFactory(price_list=price_list, valid_from=T0)
    new = RateFactory(price_list=price_list, valid_from=T0 + timedelta(days=31))
    mms = RateFactory(price_list=price_list, code="MMS", valid_from=T0 + timedelta(days=5))
    RateFactory(valid_from=T0)  # another list

    def ids(**params):
        response = api.get(url(price_list), params)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids() == [str(old.pk), str(mms.pk), str(new.pk)]  # by valid_from
    assert ids(code="SMS") == [str(old.pk), str(new.pk)]
    assert ids(at="2026-01-10T00:00:00Z") == [str(old.pk), str(mms.pk)]
    assert ids(at="2026-02-01T00:00:00Z", code="SMS") == [str(new.pk)]
    assert ids(at="2025-12-31T23:59:59.999999Z") == []
    results = api.get(url(price_list), {"code": "SMS"}).json()["results"]
    assert [r["valid_to"] for r in results] == ["2026-02-01T00:00:00Z", None]


@pytest.mark.parametrize("params", [{"at": "soon"}, {"code": "a b"}, {"ordering": "code"}])
def test_bad_rate_filters_are_400(api, price_list, params):
    problem(api.get(url(price_list), params), 400, "invalid")


def test_rate_list_costs_the_same_queries_whatever_the_page_size(price_list):
    client = client_for(user_with_perms("pricing.view_rate"))
    client.get(url(price_list))
    for i in range(3):
        RateFactory(price_list=price_list, valid_from=T0 + timedelta(days=i))
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(price_list)).status_code == 200
    for i in range(40):
        RateFactory(price_list=price_list, code=f"C{i}", model="graduated", unit_price=None, tiers=GRADUATED_TIERS)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url(price_list), {"page_size": 100}).json()["results"]) == 43
    assert len(few) == len(many) == AUTH_QUERIES + 2  # authentication, the list, the page (valid_to in it)


def test_rate_permissions_are_the_rate_models(price_list):
    viewer = client_for(user_with_perms("pricing.view_rate"))
    assert viewer.get(url(price_list)).status_code == 200
    problem(post(viewer, price_list, model="unit", unit_price="1"), 403, "permission_denied")
    adder = client_for(user_with_perms("pricing.add_rate"))
    assert post(adder, price_list, model="unit", unit_price="1").status_code == 201
    rate = Rate.objects.get()
    problem(adder.delete(url(price_list, rate)), 403, "permission_denied")
    assert client_for(user_with_perms("pricing.delete_rate")).delete(url(price_list, rate)).status_code == 204
