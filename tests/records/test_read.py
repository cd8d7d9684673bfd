"""Reading data records: list with filters and cursor pages, detail, immutability, and customer deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from records.models import DataRecord
from tests.factories import CustomerFactory, DataRecordFactory
from tests.records.conftest import ingest, sms

T0 = datetime(2026, 3, 31, 14, tzinfo=UTC)


def submit(api, **overrides):
    response = api.post("/api/v1/records", sms(**overrides), format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_detail_has_the_contract_representation(api, customer):
    record_id = submit(api, quantity="0.25", time_to="2026-03-31T15:00:00Z", transaction_id="TX-1")

    response = api.get(f"/api/v1/records/{record_id}")

    assert response.status_code == 200
    body = response.json()
    assert body.pop("created_at")
    assert body == {
        "id": record_id,
        "customer_id": str(customer.pk),
        "customer_external_id": "EXT-CU-0042",
        "customer_name": "End Customer Ltd",
        "code": "SMS",
        "quantity": "0.250000",
        "time_from": "2026-03-31T14:00:00Z",
        "time_to": "2026-03-31T15:00:00Z",
        "transaction_id": "TX-1",
    }


@pytest.mark.parametrize("record_id", [str(uuid.UUID(int=7)), "not-a-uuid"])
def test_unknown_or_malformed_record_id_is_404(api, customer, record_id):
    response = api.get(f"/api/v1/records/{record_id}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_records_are_immutable_405_even_for_a_superuser(api, customer, method):
    record_id = submit(api)

    response = getattr(api, method)(f"/api/v1/records/{record_id}", sms(quantity=1), format="json")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"
    assert DataRecord.objects.get().quantity == 1500


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_records_are_immutable_405_for_a_key_without_change_permissions(record_submitter_api, customer, method):
    record_id = submit(record_submitter_api)
    response = getattr(record_submitter_api, method)(f"/api/v1/records/{record_id}", {}, format="json")
    assert response.status_code == 405


def test_put_on_the_record_list_and_get_on_batch_are_405(api, customer):
    assert api.put("/api/v1/records", {}, format="json").status_code == 405
    assert api.get("/api/v1/records/batch").status_code == 405


def test_reading_needs_a_key_and_the_view_permission(anon, readonly_api, record_viewer_api, customer):
    assert anon.get("/api/v1/records").status_code == 401
    assert readonly_api.get("/api/v1/records").status_code == 403  # may view customers, not records
    assert record_viewer_api.get("/api/v1/records").status_code == 200


def test_list_is_ordered_by_time_from_and_paginated_by_cursor(api, customer):
    for hour in (3, 1, 2, 0, 4):
        submit(api, time_from=(T0 + timedelta(hours=hour)).isoformat())

    first = api.get("/api/v1/records?page_size=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()

    times = [r["time_from"] for page in (first, second, third) for r in page["results"]]
    assert times == sorted(times)
    assert len(times) == 5
    assert third["next"] is None
    assert api.get(second["previous"]).json()["results"] == first["results"]


def test_list_filters(api, customer):
    other = CustomerFactory(external_id="EXT-OTHER")
    submit(api, code="SMS", time_from="2026-03-31T10:00:00Z")
    submit(api, code="MMS", time_from="2026-03-31T11:00:00Z")
    submit(api, customer_external_id="EXT-OTHER", code="SMS", time_from="2026-03-31T12:00:00Z")

    def codes(query):
        response = api.get(f"/api/v1/records?{query}")
        assert response.status_code == 200, response.json()
        return [(r["customer_external_id"], r["code"]) for r in response.json()["results"]]

    assert codes(f"customer={customer.pk}") == [("EXT-CU-0042", "SMS"), ("EXT-CU-0042", "MMS")]
    assert codes("customer_external_id=EXT-OTHER") == [("EXT-OTHER", "SMS")]
    assert codes(f"customer={other.pk}&code=SMS") == [("EXT-OTHER", "SMS")]
    assert codes("code=MMS") == [("EXT-CU-0042", "MMS")]
    assert codes("time_from_after=2026-03-31T11:00:00Z") == [("EXT-CU-0042", "MMS"), ("EXT-OTHER", "SMS")]
    assert codes("time_from_before=2026-03-31T11:00:00Z") == [("EXT-CU-0042", "SMS")]


@pytest.mark.parametrize("query", ["customer=nope", "time_from_after=yesterday", "ordering=code", "page_size=0"])
def test_bad_list_parameters_are_400(api, customer, query):
    response = api.get(f"/api/v1/records?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_list_costs_the_same_queries_whatever_the_page_size(api, customer, django_assert_num_queries):
    for i in range(30):
        DataRecordFactory(customer_id=customer.pk, time_from=T0 + timedelta(minutes=i))
    api.get("/api/v1/records?page_size=1")  # the key's last_used_at is written once, outside the counts

    with django_assert_num_queries(2):  # the API key, the page
        small = api.get("/api/v1/records?page_size=1")
    with django_assert_num_queries(2):
        large = api.get("/api/v1/records?page_size=30")
    assert (len(small.json()["results"]), len(large.json()["results"])) == (1, 30)


def test_deleting_the_customer_keeps_its_records_findable_with_their_submitted_customer_fields(api, customer):
    record_id = submit(api, transaction_id="TX-1")
    ingest([sms(code="MMS")] * 3)

    assert api.delete(f"/api/v1/customers/{customer.pk}").status_code == 204

    assert DataRecord.objects.count() == 4
    found = api.get("/api/v1/records?customer_external_id=EXT-CU-0042").json()["results"]
    assert len(found) == 4
    assert len(api.get(f"/api/v1/records?customer={customer.pk}").json()["results"]) == 4
    detail = api.get(f"/api/v1/records/{record_id}").json()
    assert (detail["customer_id"], detail["customer_external_id"], detail["customer_name"]) == (
        str(customer.pk),
        "EXT-CU-0042",
        "End Customer Ltd",
    )


def test_after_deletion_the_external_id_is_unknown_for_new_records_and_a_new_customer_may_take_it(api, customer):
    submit(api)
    api.delete(f"/api/v1/customers/{customer.pk}")

    response = api.post("/api/v1/records", sms(), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_customer"

    successor = CustomerFactory(external_id="EXT-CU-0042", name="Successor Ltd")
    submit(api)
    by_customer = api.get(f"/api/v1/records?customer={successor.pk}").json()["results"]
    assert [r["customer_name"] for r in by_customer] == ["Successor Ltd"]
    by_external = api.get("/api/v1/records?customer_external_id=EXT-CU-0042").json()["results"]
    assert sorted(r["customer_name"] for r in by_external) == ["End Customer Ltd", "Successor Ltd"]


def test_records_keep_the_name_at_submission_when_the_customer_is_renamed(api, customer):
    record_id = submit(api)
    api.patch(f"/api/v1/customers/{customer.pk}", {"name": "Renamed Ltd"}, format="json")

    assert api.get(f"/api/v1/records/{record_id}").json()["customer_name"] == "End Customer Ltd"
    submit(api, quantity=1)
    assert DataRecord.objects.filter(customer_name="Renamed Ltd").count() == 1
