from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection

from customers.models import Customer
from groups.models import Membership

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TABLES = ("customers_customer", "customers_historicalcustomer", "groups_membership")


def schema() -> list[tuple]:
    """Return every index and constraint definition of the loaded tables."""
    with connection.cursor() as cursor:
        sql = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
        cursor.execute(sql, [list(TABLES)])
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(%s)",
            [list(TABLES)],
        )
        return sorted(indexes + cursor.fetchall())


def test_large_loads_rebuild_exactly_the_indexes_and_constraints_they_dropped(monkeypatch, tmp_path):
    """seed_demo and import_customers drop indexes for big loads into small tables; all must come back."""
    before = schema()
    monkeypatch.setattr("billingengine.bulk.DEFER_INDEXES_MIN_ROWS", 1)

    call_command("seed_demo", customers=30, groups=3, stdout=io.StringIO())
    assert schema() == before
    assert Membership.objects.exists()

    Membership.objects.all().delete()
    Customer.objects.all().delete()
    path = tmp_path / "c.csv"
    path.write_text("name,external_id,address_country\nAcme,EXT-1,GB\nBeta,EXT-2,DE\n", encoding="utf-8")
    call_command("import_customers", str(path), stdout=io.StringIO())

    assert schema() == before
    assert Customer.objects.count() == 2
    assert Customer.history.filter(history_type="+").count() >= 2
