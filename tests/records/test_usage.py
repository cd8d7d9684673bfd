"""The per-customer usage summary: rollup plus partial-hour edges equals the plain sum, from inclusive, to exclusive."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection

from records.models import DataRecord, UsageMinuteRollup, UsageRollup
from records.usage import usage_summary
from tests.factories import CustomerFactory
from tests.records.conftest import ingest, sms

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def usage(api, customer, start: str, end: str):
    response = api.get(f"/api/v1/customers/{customer.pk}/usage", {"from": start, "to": end})
    assert response.status_code == 200, response.json()
    return response.json()


def test_usage_sums_per_code_with_from_inclusive_and_to_exclusive(api, customer):
    ingest(
        [
            sms(code="SMS", quantity=1, time_from="2026-03-31T13:59:59.999999Z"),  # before from
            sms(code="SMS", quantity=10, time_from="2026-03-31T14:00:00Z"),  # at from: counted
            sms(code="SMS", quantity="0.5", time_from="2026-03-31T14:30:00Z"),
            sms(code="MMS", quantity=3, time_from="2026-03-31T15:59:59Z"),
            sms(code="MMS", quantity=100, time_from="2026-03-31T16:00:00Z"),  # at to: not counted
        ]
    )
    other = CustomerFactory(external_id="EXT-OTHER")
    ingest([sms(customer_external_id="EXT-OTHER", quantity=1000)])

    body = usage(api, customer, "2026-03-31T14:00:00Z", "2026-03-31T16:00:00Z")

    assert body == {
        "customer_id": str(customer.pk),
        "from": "2026-03-31T14:00:00Z",
        "to": "2026-03-31T16:00:00Z",
        "items": [
            {"code": "MMS", "quantity": "3.000000", "records": 1},
            {"code": "SMS", "quantity": "10.500000", "records": 2},
        ],
    }
    assert usage(api, other, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")["items"] == [
        {"code": "SMS", "quantity": "1000.000000", "records": 1}
    ]


def test_usage_of_a_period_without_records_has_no_items(api, customer):
    assert usage(api, customer, "2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z")["items"] == []


def test_usage_counts_by_time_from_not_time_to(api, customer):
    ingest([sms(time_from="2026-03-31T23:30:00Z", time_to="2026-04-01T01:00:00Z", quantity=5)])
    assert usage(api, customer, "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z")["items"] == []
    assert usage(api, customer, "2026-03-31T00:00:00Z", "2026-04-01T00:00:00Z")["items"][0]["quantity"] == "5.000000"


def test_usage_summary_equals_the_plain_sum_for_arbitrary_boundaries(customer):
    """The hourly rollup answers whole hours, the per-minute rollup the whole minutes of the partial hours and
    the records the seconds at the very edges; any split must add up exactly."""
    rng = random.Random(20260331)
    moments = [T0 + timedelta(seconds=rng.randrange(3 * 24 * 3600)) for _ in range(400)]
    # Records exactly on hour boundaries and one microsecond either side are where off-by-one errors live.
    moments += [T0 + timedelta(hours=h, microseconds=d) for h in range(0, 72, 5) for d in (-1, 0, 1)]
    moments += [T0 + timedelta(minutes=m, microseconds=d) for m in range(7, 72 * 60, 311) for d in (-1, 0, 1)]
    ingest(
        [
            sms(
                code=rng.choice(["SMS", "MMS", "DATA_MB"]),
                quantity=f"{rng.randrange(1, 10**6) / 1000:.3f}",
                time_from=moment.isoformat(),
            )
            for moment in moments
        ]
    )
    boundaries = [T0 + timedelta(hours=h, microseconds=d) for h in range(0, 73, 7) for d in (-1, 0, 1)]
    boundaries += [T0 + timedelta(minutes=m, microseconds=d) for m in range(7, 72 * 60, 622) for d in (-1, 0, 1)]
    boundaries += [T0 + timedelta(seconds=rng.randrange(3 * 24 * 3600)) for _ in range(15)]
    boundaries.sort()

    for start in boundaries[::2]:
        for end in boundaries[1::2]:
            if end <= start:
                continue
            plain = {
                code: (quantity, count)
                for code, (quantity, count) in DataRecord.objects.of_customer(customer.pk)
                .in_period(start, end)
                .usage_by_code()
                .items()
            }
            summary = {item.code: (item.quantity, item.records) for item in usage_summary(customer.pk, start, end)}
            assert summary == plain, (start, end)


def test_rollup_holds_one_row_per_customer_code_and_hour(customer):
    ingest(
        [
            sms(quantity=1, time_from="2026-03-31T14:00:00Z"),
            sms(quantity=2, time_from="2026-03-31T14:59:59Z"),
            sms(quantity=4, time_from="2026-03-31T15:00:00+01:00"),  # 14:00 UTC
            sms(quantity=8, time_from="2026-03-31T15:00:00Z"),
        ]
    )
    ingest([sms(quantity=16, time_from="2026-03-31T14:10:00Z")])

    rows = {(r.hour, r.code): (r.quantity, r.records) for r in UsageRollup.objects.filter(customer_id=customer.pk)}
    assert rows == {
        (datetime(2026, 3, 31, 14, tzinfo=UTC), "SMS"): (Decimal(23), 4),
        (datetime(2026, 3, 31, 15, tzinfo=UTC), "SMS"): (Decimal(8), 1),
    }


def test_minute_rollup_holds_one_row_per_customer_code_and_minute(customer):
    ingest(
        [
            sms(quantity=1, time_from="2026-03-31T14:00:00Z"),
            sms(quantity=2, time_from="2026-03-31T14:00:59.999999Z"),
            sms(quantity=4, time_from="2026-03-31T15:00:30+01:00"),  # 14:00:30 UTC
            sms(quantity=8, time_from="2026-03-31T14:01:00Z"),
            sms(code="MMS", quantity=16, time_from="2026-03-31T14:01:00Z"),
        ]
    )
    ingest([sms(quantity=32, time_from="2026-03-31T14:00:10Z", transaction_id="t-1")])
    ingest([sms(quantity=32, time_from="2026-03-31T14:00:10Z", transaction_id="t-1")])  # a retry: not counted

    rows = {
        (r.minute, r.code): (r.quantity, r.records) for r in UsageMinuteRollup.objects.filter(customer_id=customer.pk)
    }
    assert rows == {
        (datetime(2026, 3, 31, 14, 0, tzinfo=UTC), "SMS"): (Decimal(39), 4),
        (datetime(2026, 3, 31, 14, 1, tzinfo=UTC), "SMS"): (Decimal(8), 1),
        (datetime(2026, 3, 31, 14, 1, tzinfo=UTC), "MMS"): (Decimal(16), 1),
    }


def minute_sums_of_records() -> dict:
    sums: dict = {}
    for customer_id, code, quantity, moment in DataRecord.objects.values_list(
        "customer_id", "code", "quantity", "time_from"
    ):
        key = (customer_id, moment.replace(second=0, microsecond=0), code)
        q, n = sums.get(key, (Decimal(0), 0))
        sums[key] = (q + quantity, n + 1)
    return sums


def minute_rollup() -> dict:
    return {(r.customer_id, r.minute, r.code): (r.quantity, r.records) for r in UsageMinuteRollup.objects.all()}


def test_both_rollups_equal_the_records_summed_per_minute_and_hour_after_random_batches(db):
    rng = random.Random(7)
    customers = [CustomerFactory(external_id=f"EXT-M-{i}") for i in range(3)]
    for _ in range(4):
        ingest(
            [
                sms(
                    customer_external_id=rng.choice(customers).external_id,
                    code=rng.choice(["SMS", "MMS"]),
                    quantity=str(Decimal(rng.randrange(1, 10**6)) / 1000),
                    time_from=(T0 + timedelta(seconds=rng.randrange(3 * 3600))).isoformat(),
                )
                for _ in range(200)
            ]
        )
    sums = minute_sums_of_records()
    assert minute_rollup() == sums
    hours: dict = {}
    for (customer_id, minute, code), (quantity, count) in sums.items():
        key = (customer_id, minute.replace(minute=0), code)
        q, n = hours.get(key, (Decimal(0), 0))
        hours[key] = (q + quantity, n + count)
    assert {(r.customer_id, r.hour, r.code): (r.quantity, r.records) for r in UsageRollup.objects.all()} == hours


def test_the_migration_fills_the_minute_rollup_from_the_records_already_stored(customer):
    """Records stored before the per-minute rollup existed: migration 0004 sums them into it."""
    ingest([sms(quantity=i, time_from=(T0 + timedelta(seconds=17 * i)).isoformat()) for i in range(1, 40)])
    expected = minute_rollup()
    assert expected == minute_sums_of_records()
    UsageMinuteRollup.objects.all().delete()

    backfill = import_module("records.migrations.0004_usageminuterollup").backfill
    backfill(django_apps, SimpleNamespace(connection=connection))  # all it reads of the schema editor

    assert minute_rollup() == expected


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"from": "2026-03-01T00:00:00Z"},
        {"to": "2026-03-01T00:00:00Z"},
        {"from": "yesterday", "to": "2026-03-01T00:00:00Z"},
        {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
    ],
)
def test_usage_needs_a_valid_period(api, customer, query):
    response = api.get(f"/api/v1/customers/{customer.pk}/usage", query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_usage_of_an_unknown_customer_is_404(api, customer):
    response = api.get(
        "/api/v1/customers/5f0c1e1e-0000-4000-8000-000000000000/usage",
        {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
    )
    assert response.status_code == 404


def test_usage_needs_the_record_view_permission(readonly_api, record_viewer_api, customer):
    query = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    url = f"/api/v1/customers/{customer.pk}/usage"
    assert readonly_api.get(url, query).status_code == 403  # may view customers, not records
    assert record_viewer_api.get(url, query).status_code == 200


def test_timestamps_before_year_1000_are_written_as_valid_rfc3339(api, customer):
    """Regression (found by schemathesis): strftime's %Y does not pad years below 1000 on glibc, so
    `from=0188-08-30T23:52:27+12:14` came back as "188-08-30T11:38:27.000000Z", not a valid date-time."""
    from django.utils.dateparse import parse_datetime

    response = api.get(
        f"/api/v1/customers/{customer.pk}/usage", {"from": "0188-08-30T23:52:27+12:14", "to": "2026-01-01T00:00:00Z"}
    )
    assert response.status_code == 200
    assert response.json()["from"].startswith("0188-08-30T11:38:27")
    assert response.json()["from"].endswith("Z")
    assert parse_datetime(response.json()["from"]) is not None
