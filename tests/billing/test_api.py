"""The billing endpoints: the billing summary, issuing bills, reading them; every error with its code."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Bill, BillLine, BillNumber
from customers.models import Customer
from customers.services import customer_delete, customer_update
from pricing.models import PriceList, Rate
from tests.billing.conftest import at, submit
from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

MARCH = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}


@pytest.fixture
def priced(customer):
    """A customer with EUR usage in March 2026: 10 SMS at 0.10 and 3 MMS nothing prices."""
    RateFactory(price_list=PriceListFactory(currency="EUR", name="Standard"), unit_price=Decimal("0.10"))
    submit(
        customer,
        [("SMS", 4, at("2026-03-02T10:00")), ("SMS", 6, at("2026-03-30T10:00")), ("MMS", 3, at("2026-03-05T00:00"))],
    )
    return customer


def summary_url(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/billing-summary"


def bills_url(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/bills"


def test_billing_summary_answers_the_contract_shape(api, priced):
    response = api.get(summary_url(priced), MARCH)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["customer", "from", "to", "lines", "unpriced", "totals"]
    assert list(body["lines"][0]) == [
        "code",
        "from",
        "to",
        "quantity",
        "records",
        "currency",
        "amount",
        "rate",
        "tiers",
        "late",
    ]
    assert list(body["lines"][0]["rate"]) == ["id", "model", "price_list_id", "price_list_name", "scope", "group_id"]
    assert body["totals"] == [{"currency": "EUR", "amount": "1.00"}]
    assert body["unpriced"] == [{"code": "MMS", "quantity": "3.000000", "records": 1}]


def test_billing_summary_writes_nothing(api, priced):
    api.get(summary_url(priced), MARCH)
    assert not Bill.objects.exists() and not BillNumber.objects.exists()
    assert Customer.objects.get(pk=priced.pk).billing_epoch == 0


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "period_required"),
        ({"from": MARCH["from"]}, 400, "period_required"),
        ({"from": "yesterday", "to": MARCH["to"]}, 400, "invalid"),
        ({"from": "2026-03-01T00:00:00", "to": MARCH["to"]}, 400, "invalid"),  # no offset
        ({"from": MARCH["to"], "to": MARCH["from"]}, 400, "period_reversed"),
        ({"from": MARCH["from"], "to": MARCH["from"]}, 400, "period_reversed"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2027-01-03T00:00:00Z"}, 400, "period_too_long"),
    ],
)
def test_billing_summary_refuses_a_bad_period_with_a_stable_code(api, priced, params, status, code):
    response = api.get(summary_url(priced), params)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_a_366_day_period_is_accepted(api, priced):
    assert (
        api.get(summary_url(priced), {"from": "2026-01-01T00:00:00Z", "to": "2027-01-02T00:00:00Z"}).status_code == 200
    )


def test_billing_summary_of_an_unknown_or_malformed_customer_is_404(api):
    assert api.get("/api/v1/customers/00000000-0000-0000-0000-000000000000/billing-summary", MARCH).status_code == 404
    assert api.get("/api/v1/customers/not-a-uuid/billing-summary", MARCH).status_code == 404


def test_billing_endpoints_need_credentials_and_permissions(anon, readonly_api, priced):
    assert anon.get(summary_url(priced), MARCH).status_code == 401
    assert anon.get("/api/v1/bills").status_code == 401
    assert readonly_api.get(summary_url(priced), MARCH).status_code == 403
    assert readonly_api.post(bills_url(priced), MARCH, format="json").status_code == 403
    viewer = client_for(user_with_perms("billing.view_bill"))
    assert viewer.get(summary_url(priced), MARCH).status_code == 200
    assert viewer.post(bills_url(priced), MARCH, format="json").status_code == 403
    assert not Bill.objects.exists()


def test_issuing_freezes_the_summary_with_number_issue_time_and_status(api, priced):
    summary = api.get(summary_url(priced), MARCH).json()
    response = api.post(bills_url(priced), MARCH, format="json")
    assert response.status_code == 201
    bill_id = response.json()["id"]
    assert list(response.json()) == ["id"]
    assert response["Location"].endswith(f"/api/v1/bills/{bill_id}")
    bill = api.get(f"/api/v1/bills/{bill_id}").json()
    assert list(bill)[:4] == ["id", "number", "status", "issued_at"]
    assert bill["number"] == f"{timezone.now().year}-000001"
    assert bill["status"] == "issued"
    assert {k: v for k, v in bill.items() if k not in ("id", "number", "status", "issued_at")} == summary
    assert Customer.objects.get(pk=priced.pk).billing_epoch == 1
    assert BillLine.objects.get().rate_id == Rate.objects.get().pk


def test_a_bill_reads_back_in_the_contracts_key_order_like_its_summary(api, priced):
    """Bug: on PostgreSQL a bill's frozen JSON (jsonb) came back with its keys reordered, e.g. totals as
    {"amount", "currency"}: the bill's text no longer matched its summary's nor the contract's order."""
    summary = api.get(summary_url(priced), MARCH).json()
    bill_id = api.post(bills_url(priced), MARCH, format="json").json()["id"]
    bill = api.get(f"/api/v1/bills/{bill_id}").json()
    frozen = {k: v for k, v in bill.items() if k not in ("id", "number", "status", "issued_at")}
    assert json.dumps(frozen) == json.dumps(summary)  # same keys in the same order, all the way down
    assert list(bill["totals"][0]) == ["currency", "amount"]
    assert list(bill["unpriced"][0]) == ["code", "quantity", "records"]
    assert list(bill["customer"])[:3] == ["id", "name", "external_id"]


def test_numbers_are_sequential_across_customers(api, priced):
    other = CustomerFactory()
    submit(other, [("SMS", 1, at("2026-03-02T00:00"))])
    first = api.post(bills_url(priced), MARCH, format="json").json()["id"]
    second = api.post(bills_url(other), MARCH, format="json").json()["id"]
    year = timezone.now().year
    assert Bill.objects.get(pk=first).number == f"{year}-000001"
    assert Bill.objects.get(pk=second).number == f"{year}-000002"


def test_a_customer_without_usage_gets_an_empty_bill(api, customer):
    response = api.post(bills_url(customer), MARCH, format="json")
    assert response.status_code == 201
    bill = api.get(f"/api/v1/bills/{response.json()['id']}").json()
    assert (bill["lines"], bill["unpriced"], bill["totals"]) == ([], [], [])


def test_a_period_not_ended_is_400_and_writes_nothing(api, priced):
    later = (timezone.now() + timedelta(minutes=5)).isoformat()
    response = api.post(bills_url(priced), {"from": MARCH["from"], "to": later}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "period_not_ended"
    assert not Bill.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "period_required"),
        ({"from": MARCH["to"], "to": MARCH["from"]}, "period_reversed"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "period_too_long"),
        ({"from": 5, "to": MARCH["to"]}, "invalid"),
        ({**MARCH, "draft": True}, "invalid"),
    ],
)
def test_issuing_with_a_bad_period_is_400_and_writes_nothing(api, priced, body, code):
    response = api.post(bills_url(priced), body, format="json")
    assert response.status_code == 400 and response.json()["code"] == code
    assert not Bill.objects.exists() and not BillNumber.objects.exists()
    assert Customer.objects.get(pk=priced.pk).billing_epoch == 0


@pytest.mark.parametrize(
    "period",
    [
        MARCH,
        {"from": "2026-03-31T00:00:00Z", "to": "2026-04-02T00:00:00Z"},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-03-01T00:00:01Z"},
    ],
)
def test_a_period_overlapping_an_issued_bill_is_409_period_billed(api, priced, period):
    assert api.post(bills_url(priced), MARCH, format="json").status_code == 201
    response = api.post(bills_url(priced), period, format="json")
    assert response.status_code == 409 and response.json()["code"] == "period_billed"
    assert Bill.objects.count() == 1 and BillNumber.objects.get().last == 1


def test_adjacent_periods_can_be_billed(api, priced):
    assert api.post(bills_url(priced), MARCH, format="json").status_code == 201
    april = {"from": "2026-04-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}
    assert api.post(bills_url(priced), april, format="json").status_code == 201


def test_issuing_for_an_unknown_customer_is_404(api):
    response = api.post("/api/v1/customers/00000000-0000-0000-0000-000000000000/bills", MARCH, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_bills_cannot_be_changed_or_deleted(api, priced, method):
    bill_id = api.post(bills_url(priced), MARCH, format="json").json()["id"]
    response = getattr(api, method)(f"/api/v1/bills/{bill_id}", {"number": "x"}, format="json")
    assert response.status_code == 405
    assert Bill.objects.get().number.endswith("-000001")


def test_an_issued_bill_never_changes_after_price_customer_or_membership_changes(api, priced):
    bill_id = api.post(bills_url(priced), MARCH, format="json").json()["id"]
    before = api.get(f"/api/v1/bills/{bill_id}").json()
    RateFactory(price_list=PriceList.objects.get(), unit_price=Decimal("9"), valid_from=at("2026-03-15T00:00"))
    customer_update(customer=priced, changes={"name": "Renamed", "address_city": "Paris"})
    assert api.get(f"/api/v1/bills/{bill_id}").json() == before
    customer_delete(customer=Customer.objects.get(pk=priced.pk))
    after = api.get(f"/api/v1/bills/{bill_id}").json()
    assert after == before
    assert Bill.objects.get().customer_id is None


def test_a_rate_that_priced_a_bill_cannot_be_deleted(api, priced):
    from django.db.models import ProtectedError

    api.post(bills_url(priced), MARCH, format="json")
    with pytest.raises(ProtectedError):
        Rate.objects.get().delete()


def test_bill_list_filters(api, priced):
    other = CustomerFactory(external_id="EXT-OTHER")
    submit(other, [("SMS", 1, at("2026-03-02T00:00"))])
    mine = api.post(bills_url(priced), MARCH, format="json").json()["id"]
    theirs = api.post(bills_url(other), MARCH, format="json").json()["id"]

    def ids(params):
        response = api.get("/api/v1/bills", params)
        assert response.status_code == 200, response.json()
        return [b["id"] for b in response.json()["results"]]

    assert ids({}) == [mine, theirs]
    assert ids({"customer": str(priced.pk)}) == [mine]
    assert ids({"customer_external_id": "EXT-OTHER"}) == [theirs]
    assert ids({"number": Bill.objects.get(pk=theirs).number}) == [theirs]
    now = timezone.now()
    assert ids({"issued_after": (now - timedelta(minutes=1)).isoformat()}) == [mine, theirs]
    assert ids({"issued_before": (now - timedelta(minutes=1)).isoformat()}) == []
    assert api.get("/api/v1/bills", {"customer": "nope"}).status_code == 400
    assert api.get("/api/v1/bills", {"issued_after": "nope"}).status_code == 400


def test_bill_list_is_cursor_paginated_at_a_constant_number_of_queries(api, django_assert_max_num_queries):
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    for _ in range(5):
        customer = CustomerFactory()
        submit(customer, [("SMS", 1, at("2026-03-02T00:00")), ("SMS", 1, at("2026-03-20T00:00"))])
        api.post(bills_url(customer), MARCH, format="json")
    first = api.get("/api/v1/bills", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"] and first["previous"] is None
    second = api.get(first["next"]).json()
    assert [b["id"] for b in second["results"]] != [b["id"] for b in first["results"]]
    with django_assert_max_num_queries(6):
        api.get("/api/v1/bills", {"page_size": 5})


def test_deleting_a_rate_or_price_list_that_priced_a_bill_is_409_and_deletes_nothing(api, priced):
    """Bug guarded: pricing's in-use checks answered "not in use" for billed rates, so the delete reached the
    database's PROTECT and failed with a 500 instead of a 409."""
    api.post(bills_url(priced), MARCH, format="json")
    rate = Rate.objects.get()
    response = api.delete(f"/api/v1/price-lists/{rate.price_list_id}/rates/{rate.pk}")
    assert response.status_code == 409 and response.json()["code"] == "rate_in_use"
    response = api.delete(f"/api/v1/price-lists/{rate.price_list_id}")
    assert response.status_code == 409 and response.json()["code"] == "price_list_in_use"
    assert Rate.objects.filter(pk=rate.pk).exists()


def test_an_unbilled_rate_can_still_be_deleted(api, priced):
    rate = RateFactory(price_list=PriceList.objects.get(), unit_price=Decimal("1"), valid_from=at("2026-05-01T00:00"))
    api.post(bills_url(priced), MARCH, format="json")
    assert api.delete(f"/api/v1/price-lists/{rate.price_list_id}/rates/{rate.pk}").status_code == 204
