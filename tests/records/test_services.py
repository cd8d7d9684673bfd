"""The records services take and return typed values; the HTTP shape lives in records/api only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import records
from records.models import DataRecord
from records.services import TransactionIdConflict, record_submit, records_ingest
from records.validation import RecordInput, RecordProblem, RecordsInvalid, records_parse
from tests.records.conftest import sms

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 31, 14, tzinfo=UTC)


def typed(**overrides) -> RecordInput:
    values = {
        "customer_id": None,
        "customer_external_id": "EXT-CU-0042",
        "code": "SMS",
        "quantity": Decimal(1500),
        "time_from": T,
    }
    return RecordInput(**{**values, **overrides})


def test_records_parse_returns_typed_inputs_in_order(customer):
    parsed = records_parse([sms(), sms(quantity="0.25", time_from="2026-03-31T16:00:00+02:00", transaction_id="t")])
    assert parsed == [typed(), typed(quantity=Decimal("0.25"), transaction_id="t")]


def test_records_parse_names_each_problem_by_position_and_field_with_unknown_customers_too(customer):
    with pytest.raises(RecordsInvalid) as raised:
        records_parse([sms(), sms(code="S MS"), sms(customer_external_id="EXT-NOPE", quantity="x"), "nope"])
    assert [(p.index, p.field, p.code) for p in raised.value.problems] == [
        (1, "code", "invalid_code"),
        (2, "quantity", "invalid"),
        (2, "customer_external_id", "unknown_customer"),
        (3, "", "invalid"),
    ]
    assert raised.value.code == "invalid"


def test_records_ingest_stores_typed_records_and_reports_retries_as_duplicates(customer):
    first = records_ingest(records=[typed(transaction_id="A"), typed(code="MMS")])
    again = records_ingest(records=[typed(transaction_id="A")])
    assert (first.created, first.duplicates) == (2, 0)
    assert (again.created, again.duplicate_ids) == (0, [first.created_ids[0]])
    stored = DataRecord.objects.get(transaction_id="A")
    assert (stored.customer_name, stored.quantity, stored.time_from) == ("End Customer Ltd", Decimal(1500), T)


def test_records_ingest_refuses_unknown_customers_naming_their_positions_and_writes_nothing(customer):
    with pytest.raises(RecordsInvalid) as raised:
        records_ingest(records=[typed(), typed(customer_external_id="EXT-NOPE")])
    assert raised.value.problems == [
        RecordProblem(1, "customer_external_id", "unknown_customer", "No customer with external_id 'EXT-NOPE'.")
    ]
    assert raised.value.code == "unknown_customer"
    assert not DataRecord.objects.exists()


def test_records_ingest_refuses_a_record_naming_no_customer(customer):
    with pytest.raises(RecordsInvalid) as raised:
        records_ingest(records=[typed(customer_external_id=None)])
    assert [(p.index, p.code) for p in raised.value.problems] == [(0, "required")]


def test_a_stored_transaction_id_with_other_content_is_a_conflict_naming_the_record(customer):
    record_id, created = record_submit(record=typed(transaction_id="A"))
    assert created
    with pytest.raises(TransactionIdConflict) as raised:
        records_ingest(records=[typed(code="MMS"), typed(transaction_id="A", quantity=Decimal(1))])
    assert [(p.index, p.field) for p in raised.value.problems] == [(1, "transaction_id")]
    assert raised.value.existing_id == record_id
    assert DataRecord.objects.count() == 1


def test_no_module_of_the_records_app_outside_its_api_knows_the_batch_envelope():
    """Regression: records/services.py built and parsed `records[3].code` paths (the HTTP shape)."""
    app = Path(records.__file__).parent
    for path in app.rglob("*.py"):
        if "api" in path.relative_to(app).parts or "migrations" in path.parts:
            continue
        assert "records[" not in path.read_text(), path
