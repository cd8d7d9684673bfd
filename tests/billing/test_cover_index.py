"""The records index the billing summary reads cut hours with covers code and quantity on PostgreSQL."""

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
