"""Ingestion cost: customers are resolved by one query per batch, not one per record."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from records.models import DataRecord
from tests.factories import CustomerFactory
from tests.records.conftest import ingest


def test_a_batch_resolves_all_its_customers_with_one_query(db):
    by_external = CustomerFactory.create_batch(50)
    by_id = CustomerFactory.create_batch(50, external_id=None)
    records = [
        {"customer_external_id": c.external_id, "code": "SMS", "quantity": 1, "time_from": "2026-03-31T14:00:00Z"}
        for c in by_external
    ] + [{"customer_id": str(c.pk), "code": "SMS", "quantity": 1, "time_from": "2026-03-31T14:00:00Z"} for c in by_id]
    table = Customer._meta.db_table

    with CaptureQueriesContext(connection) as queries:
        result = ingest(records * 3)  # 300 records of 100 customers

    assert result.created == 300
    customer_queries = [q["sql"] for q in queries.captured_queries if f'FROM "{table}"' in q["sql"]]
    assert len(customer_queries) == 1
    if connection.vendor == "postgresql":
        # The customers, then one statement that inserts the records and updates the rollup (and the
        # savepoint pair of the atomic block, as a test transaction surrounds it).
        statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        assert len(statements) == 2
        assert statements[1].lstrip().startswith("WITH inserted AS")
    assert DataRecord.objects.count() == 300


def test_the_query_count_of_a_batch_does_not_grow_with_its_size(db):
    customer = CustomerFactory()
    record = {"customer_external_id": customer.external_id, "code": "SMS", "quantity": 1}

    def batch(n, offset):
        return [
            {**record, "time_from": f"2026-03-31T14:{(i % 60):02d}:00Z", "transaction_id": f"t{offset + i}"}
            for i in range(n)
        ]

    with CaptureQueriesContext(connection) as small:
        ingest(batch(10, 0))
    with CaptureQueriesContext(connection) as large:
        ingest(batch(1000, 10))
    if connection.vendor == "postgresql":  # SQLite inserts row by row (a dev database, no network round trips)
        assert len(large) == len(small) == 4  # savepoint, customers, insert with rollup, release
    assert DataRecord.objects.count() == 1010
