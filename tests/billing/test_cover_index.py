"""The indexes the bill run relies on, on PostgreSQL: the records index the billing summary reads cut hours with
covers code and quantity; bill lines are found by bill through their position index."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_records_customer_time_index_includes_code_and_quantity():
    """records_billing_cover_idx is (customer_id, time_from) INCLUDE (code, quantity), so the pieces of cut
    hours are index-only scans; the plain index of the same key it replaced is gone."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'records_datarecord'")
        indexes = dict(cursor.fetchall())
    assert indexes["records_billing_cover_idx"].endswith("(customer_id, time_from) INCLUDE (code, quantity)")
    assert "records_customer_time_idx" not in indexes


def test_bill_lines_are_found_by_bill_through_the_position_index_alone():
    """Bill lines have no index of their own on bill_id (one index less to update per line a bill run writes):
    the unique (bill_id, position) index, whose first column is bill_id, serves the lookups by bill."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'billing_billline'")
        definitions = list(dict(cursor.fetchall()).values())
        cursor.execute("SET LOCAL enable_seqscan = off")  # the test table is empty: a scan would be cheaper
        cursor.execute("EXPLAIN SELECT * FROM billing_billline WHERE bill_id = '00000000-0000-0000-0000-000000000001'")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    keys = [d[d.index("USING btree (") + len("USING btree (") : -1] for d in definitions]
    assert sorted(keys) == ['bill_id, "position"', "id", "rate_id"]
    assert "billing_billline_position_unique" in plan
