"""Submitting data records: single and batch, by customer_external_id or customer_id, retries and conflicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from records.models import DataRecord, UsageRollup
from tests.factories import CustomerFactory
from tests.records.conftest import sms

PROBLEM = "application/problem+json"


def post(api, body, path="/api/v1/records"):
    return api.post(path, body, format="json")


# -- single submission --------------------------------------------------------------------------------------


def test_record_by_external_id_is_201_with_id_and_location_and_snapshots_the_customer(api, customer):
    response = post(api, sms())

    assert response.status_code == 201
    assert set(response.json()) == {"id"}
    record = DataRecord.objects.get()
    assert response.json()["id"] == str(record.pk)
    assert response["Location"].endswith(f"/api/v1/records/{record.pk}")
    assert (record.customer_id, record.customer_external_id, record.customer_name) == (
        customer.pk,
        "EXT-CU-0042",
        "End Customer Ltd",
    )
    assert (record.code, record.quantity, record.time_from, record.time_to, record.transaction_id) == (
        "SMS",
        Decimal("1500"),
        datetime(2026, 3, 31, 14, tzinfo=UTC),
        None,
        None,
    )


def test_record_by_customer_id_is_201(api, customer):
    response = post(api, sms(customer_external_id=..., customer_id=str(customer.pk)))

    assert response.status_code == 201
    assert DataRecord.objects.get().customer_external_id == "EXT-CU-0042"


def test_record_of_customer_without_external_id_by_customer_id(api):
    customer = CustomerFactory(external_id=None, name="No Ext Ltd")
    response = post(api, sms(customer_external_id=..., customer_id=str(customer.pk)))

    assert response.status_code == 201
    record = DataRecord.objects.get()
    assert (record.customer_external_id, record.customer_name) == (None, "No Ext Ltd")


def test_external_id_is_matched_after_trimming_like_the_customer_stores_it(api, customer):
    assert post(api, sms(customer_external_id="  EXT-CU-0042 ")).status_code == 201


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (1500, Decimal("1500")),
        ("0.25", Decimal("0.25")),
        (0.1, Decimal("0.1")),
        ("-3", Decimal("-3")),
        # SQLite keeps decimals as 8-byte floats (15 significant digits); the full range needs PostgreSQL.
        pytest.param("999999999999999999.999999", Decimal("999999999999999999.999999"), marks=pytest.mark.postgres),
        ("1.500000000", Decimal("1.5")),
        ("1e3", Decimal("1000")),
    ],
)
def test_quantity_is_a_finite_decimal_number_or_string(api, customer, value, stored):
    assert post(api, sms(quantity=value)).status_code == 201
    assert DataRecord.objects.get().quantity == stored


def test_time_to_and_offsets_are_stored_in_utc(api, customer):
    body = sms(time_from="2026-03-31T16:00:00+02:00", time_to="2026-03-31T14:30:00Z", transaction_id="T-1")
    assert post(api, body).status_code == 201
    record = DataRecord.objects.get()
    assert record.time_from == datetime(2026, 3, 31, 14, tzinfo=UTC)
    assert record.time_to == datetime(2026, 3, 31, 14, 30, tzinfo=UTC)
    assert record.transaction_id == "T-1"


def test_time_to_equal_to_time_from_is_allowed(api, customer):
    assert post(api, sms(time_to="2026-03-31T14:00:00Z")).status_code == 201


@pytest.mark.parametrize(
    ("override", "field", "code"),
    [
        ({"code": ...}, "code", "required"),
        ({"code": "S MS"}, "code", "invalid_code"),
        ({"code": ""}, "code", "invalid_code"),
        ({"code": "SMS\n"}, "code", "invalid_code"),
        ({"code": "X" * 65}, "code", "invalid_code"),
        ({"code": 5}, "code", "invalid_code"),
        ({"quantity": ...}, "quantity", "required"),
        ({"quantity": "NaN"}, "quantity", "invalid"),
        ({"quantity": "Infinity"}, "quantity", "invalid"),
        ({"quantity": "1_000"}, "quantity", "invalid"),
        ({"quantity": "12abc"}, "quantity", "invalid"),
        ({"quantity": ""}, "quantity", "invalid"),
        ({"quantity": True}, "quantity", "invalid"),
        ({"quantity": [1]}, "quantity", "invalid"),
        ({"quantity": "0.0000001"}, "quantity", "invalid"),
        ({"quantity": "1000000000000000000"}, "quantity", "invalid"),
        ({"quantity": 1e19}, "quantity", "invalid"),
        ({"time_from": ...}, "time_from", "required"),
        ({"time_from": "2026-03-31T14:00:00"}, "time_from", "invalid"),
        ({"time_from": "yesterday"}, "time_from", "invalid"),
        ({"time_from": "2026-13-01T00:00:00Z"}, "time_from", "invalid"),
        ({"time_from": 1743429600}, "time_from", "invalid"),
        ({"time_from": "0001-01-01T00:30:00+01:00"}, "time_from", "invalid"),
        ({"time_from": "9999-12-31T23:30:00-01:00"}, "time_from", "invalid"),
        ({"time_to": "2026-03-31T13:59:59Z"}, "time_to", "time_to_before_time_from"),
        ({"time_to": "soon"}, "time_to", "invalid"),
        ({"transaction_id": ""}, "transaction_id", "blank"),
        ({"transaction_id": "x" * 256}, "transaction_id", "max_length"),
        ({"transaction_id": "a\x00b"}, "transaction_id", "control_characters"),
        ({"transaction_id": 7}, "transaction_id", "invalid"),
        ({"customer_external_id": ...}, "customer_external_id", "required"),
        ({"customer_external_id": 42}, "customer_external_id", "invalid"),
        ({"customer_id": str(uuid.uuid4())}, "customer_id", "ambiguous_customer"),
        ({"customer_external_id": ..., "customer_id": "not-a-uuid"}, "customer_id", "invalid"),
        ({"price": 3}, "price", "unknown_field"),
    ],
)
def test_invalid_record_is_400_naming_the_field_and_writes_nothing(api, customer, override, field, code):
    response = post(api, sms(**override))

    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert body["detail"].startswith(f"{field}: ")
    assert not DataRecord.objects.exists()
    assert not UsageRollup.objects.exists()


def test_unknown_external_id_is_400_unknown_customer_naming_the_value(api, customer):
    response = post(api, sms(customer_external_id="EXT-NOPE"))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unknown_customer"
    assert body["errors"] == [
        {
            "field": "customer_external_id",
            "code": "unknown_customer",
            "detail": "No customer with external_id 'EXT-NOPE'.",
        }
    ]
    assert not DataRecord.objects.exists()


def test_unknown_customer_id_is_400_unknown_customer(api, customer):
    missing = uuid.uuid4()
    response = post(api, sms(customer_external_id=..., customer_id=str(missing)))

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_customer"
    assert response.json()["errors"][0]["field"] == "customer_id"
    assert str(missing) in response.json()["detail"]


@pytest.mark.parametrize("body", [[], "SMS", 5, None])
def test_a_body_that_is_not_an_object_is_400(api, customer, body):
    response = api.post("/api/v1/records", body, format="json")
    assert response.status_code == 400
    assert not DataRecord.objects.exists()


def test_malformed_json_is_400_and_non_json_is_415(api, customer):
    for body in ("{nope", '{"quantity": NaN}', b"\xff\xfe", ""):
        response = api.post("/api/v1/records", body, content_type="application/json")
        assert response.status_code == 400, body
        assert response["Content-Type"] == PROBLEM
    assert api.post("/api/v1/records/batch", "[1,", content_type="application/json").json()["code"] == "malformed_json"
    assert api.post("/api/v1/records", "a=b", content_type="application/x-www-form-urlencoded").status_code == 415


# -- retries by transaction_id --------------------------------------------------------------------------------


def test_same_transaction_id_and_content_again_is_200_with_the_stored_id(api, customer):
    first = post(api, sms(transaction_id="TX-1"))
    again = post(api, sms(transaction_id="TX-1", quantity="1500.000"))

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert DataRecord.objects.count() == 1
    assert UsageRollup.objects.get().records == 1


def test_a_retry_by_customer_id_of_a_record_sent_by_external_id_is_the_same_record(api, customer):
    first = post(api, sms(transaction_id="TX-1"))
    again = post(api, sms(transaction_id="TX-1", customer_external_id=..., customer_id=str(customer.pk)))

    assert again.status_code == 200
    assert again.json() == first.json()


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 1501},
        {"code": "MMS"},
        {"time_from": "2026-03-31T14:00:01Z"},
        {"time_to": "2026-03-31T15:00:00Z"},
        {"customer_external_id": "EXT-OTHER"},
    ],
)
def test_same_transaction_id_with_other_content_is_409_conflict(api, customer, change):
    CustomerFactory(external_id="EXT-OTHER")
    first = post(api, sms(transaction_id="TX-1"))
    response = post(api, sms(transaction_id="TX-1", **change))

    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "transaction_id_conflict"
    assert body["existing_id"] == first.json()["id"]
    assert body["errors"][0]["field"] == "transaction_id"
    assert DataRecord.objects.count() == 1


# -- batches ------------------------------------------------------------------------------------------------


def test_batch_is_201_with_created_count_and_stores_every_record(api, customer):
    other = CustomerFactory(external_id=None, name="Other Ltd")
    records = [sms(transaction_id=f"B-{i}", quantity=i + 1) for i in range(3)]
    records.append(sms(customer_external_id=..., customer_id=str(other.pk), code="CALL_MIN"))

    response = post(api, {"records": records}, "/api/v1/records/batch")

    assert response.status_code == 201
    assert response.json() == {"created": 4, "duplicates": 0}
    assert DataRecord.objects.filter(customer_id=customer.pk).count() == 3
    assert DataRecord.objects.get(customer_id=other.pk).customer_name == "Other Ltd"


def test_batch_path_with_trailing_slash_works(api, customer):
    response = post(api, {"records": [sms()]}, "/api/v1/records/batch/")
    assert response.status_code == 201


def test_batch_reports_every_problem_with_its_index_and_writes_nothing(api, customer):
    records = [
        sms(),
        sms(code="BAD CODE"),
        sms(),
        sms(quantity="NaN", time_from="2026-03-31T14:00:00"),
        sms(customer_external_id="EXT-NOPE"),
        "not a record",
        sms(customer_external_id="EXT-NOPE-2", quantity=...),
    ]

    response = post(api, {"records": records}, "/api/v1/records/batch")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("records[1].code", "invalid_code"),
        ("records[3].quantity", "invalid"),
        ("records[3].time_from", "invalid"),
        ("records[4].customer_external_id", "unknown_customer"),
        ("records[5]", "invalid"),
        ("records[6].quantity", "required"),
        ("records[6].customer_external_id", "unknown_customer"),
    ]
    assert "EXT-NOPE" in body["errors"][3]["detail"]
    assert not DataRecord.objects.exists()
    assert not UsageRollup.objects.exists()


def test_batch_of_only_unknown_customers_has_code_unknown_customer(api, customer):
    response = post(
        api, {"records": [sms(customer_external_id="A"), sms(customer_external_id="B")]}, "/api/v1/records/batch"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_customer"
    assert [e["field"] for e in response.json()["errors"]] == [
        "records[0].customer_external_id",
        "records[1].customer_external_id",
    ]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({}, "records", "required"),
        ({"records": []}, "records", "batch_size"),
        ({"records": {"a": 1}}, "records", "invalid"),
        ({"records": [sms()], "extra": 1}, "extra", "unknown_field"),
        ([sms()], "records", "invalid"),
    ],
)
def test_malformed_batch_is_400(api, customer, body, field, code):
    response = post(api, body, "/api/v1/records/batch")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert response.json()["errors"][0]["code"] == code
    assert not DataRecord.objects.exists()


def test_batch_of_more_than_10000_records_is_400_and_10000_are_accepted(api, customer):
    too_many = post(api, {"records": [sms()] * 10_001}, "/api/v1/records/batch")
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["code"] == "batch_size"

    response = post(api, {"records": [sms()] * 10_000}, "/api/v1/records/batch")
    assert response.status_code == 201
    assert response.json() == {"created": 10_000, "duplicates": 0}


def test_batch_retry_counts_stored_transaction_ids_as_duplicates(api, customer):
    records = [sms(transaction_id=f"B-{i}") for i in range(3)]
    assert post(api, {"records": records}, "/api/v1/records/batch").json() == {"created": 3, "duplicates": 0}

    records.append(sms(transaction_id="B-3"))
    records.append(sms())  # no transaction_id: always a new record
    response = post(api, {"records": records}, "/api/v1/records/batch")

    assert response.status_code == 201
    assert response.json() == {"created": 2, "duplicates": 3}
    assert DataRecord.objects.count() == 5
    assert UsageRollup.objects.get().records == 5


def test_batch_with_a_stored_transaction_id_of_other_content_is_409_naming_the_index_and_writes_nothing(api, customer):
    post(api, sms(transaction_id="TX-9"))
    records = [sms(transaction_id="NEW-1"), sms(transaction_id="TX-9", quantity=2), sms(transaction_id="NEW-2")]

    response = post(api, {"records": records}, "/api/v1/records/batch")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "transaction_id_conflict"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("records[1].transaction_id", "transaction_id_conflict")
    ]
    assert set(DataRecord.objects.values_list("transaction_id", flat=True)) == {"TX-9"}
    assert UsageRollup.objects.get().records == 1


def test_repeated_transaction_id_inside_a_batch_is_one_record_when_identical(api, customer):
    response = post(api, {"records": [sms(transaction_id="R"), sms(transaction_id="R")]}, "/api/v1/records/batch")

    assert response.json() == {"created": 1, "duplicates": 1}
    assert DataRecord.objects.count() == 1


def test_repeated_transaction_id_inside_a_batch_with_other_content_is_409(api, customer):
    records = [sms(transaction_id="R"), sms(), sms(transaction_id="R", quantity=7)]
    response = post(api, {"records": records}, "/api/v1/records/batch")

    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "records[2].transaction_id"
    assert "records[0]" not in response.json()["errors"][0]["field"]
    assert not DataRecord.objects.exists()


# -- authentication and permissions ---------------------------------------------------------------------------


def test_submitting_needs_a_key(anon, customer):
    assert post(anon, sms()).status_code == 401
    assert post(anon, {"records": [sms()]}, "/api/v1/records/batch").status_code == 401


def test_submitting_needs_the_add_permission(record_viewer_api, customer):
    assert post(record_viewer_api, sms()).status_code == 403
    assert post(record_viewer_api, {"records": [sms()]}, "/api/v1/records/batch").status_code == 403
    assert not DataRecord.objects.exists()


def test_a_key_with_add_permission_on_records_only_can_submit(record_submitter_api, customer):
    assert post(record_submitter_api, sms()).status_code == 201
