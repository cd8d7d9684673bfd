"""Every filter and ordering of `GET /api/v1/customers` is served by an index on PostgreSQL.

The SQL is captured from real API requests (so it is exactly what the API runs) against a table of
20,000 customers with fresh statistics, and PostgreSQL's own plan must not scan the customer table.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from groups.models import Group

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CUSTOMERS = 20_000
GROUPS = 20


@pytest.fixture
def many_customers(db):
    """20,000 customers (varied names, countries and timestamps), each a current member of two of 20 groups."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO groups_group (id, name, description, created_at, updated_at)
            SELECT gen_random_uuid(), 'Group ' || g, '', now(), now() FROM generate_series(1, %s) AS g
            """,
            [GROUPS],
        )
        cursor.execute(
            """
            INSERT INTO customers_customer (id, name, external_id, tax_id, vat_id, address_country,
                                            created_at, updated_at)
            SELECT gen_random_uuid(),
                   (ARRAY['Acme','Northwind','Globex','Initech','Umbrella','Hooli','Vandelay','Stark'])[1 + n %% 8]
                       || ' ' || (ARRAY['Logistics','Telecom','Foods','Energy','Media'])[1 + (n / 8) %% 5]
                       || ' ' || n,
                   'EXT-' || lpad(n::text, 6, '0'),
                   'TX' || n, 'VAT' || n,
                   (ARRAY['GB','DE','FR','NL','US','IT','ES','SE','FI','AT'])[1 + n %% 10],
                   now() - n * interval '1 minute', now() - (n %% 5000) * interval '1 minute'
            FROM generate_series(1, %s) AS n
            """,
            [CUSTOMERS],
        )
        cursor.execute(
            """
            INSERT INTO groups_membership (id, group_id, customer_id, joined_at)
            SELECT gen_random_uuid(), g.id, c.id, c.created_at
            FROM (SELECT id, created_at, row_number() OVER (ORDER BY id) AS n FROM customers_customer) AS c
            JOIN (SELECT id, row_number() OVER (ORDER BY name) AS k FROM groups_group) AS g
              ON g.k IN (1 + c.n %% %s, 1 + (c.n + 7) %% %s)
            """,
            [GROUPS, GROUPS],
        )
        # As autovacuum does on a live table: move the rows just inserted from the GIN indexes' pending
        # lists into the indexes proper (the planner prices a long pending list as a full read).
        cursor.execute(
            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'customers_customer'::regclass AND a.amname = 'gin'"
        )
        cursor.execute("ANALYZE customers_customer")
        cursor.execute("ANALYZE groups_membership")
        cursor.execute("ANALYZE groups_group")


def _plans(api, url: str) -> tuple[list[str], dict]:
    """Request *url* and return the EXPLAIN output of each query it ran on the customer table, and the body."""
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if '"customers_customer"' not in sql or not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN " + sql)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans, f"{url} ran no query on the customer table"
    return plans, response.json()


def _assert_no_customer_seq_scan(api, url: str) -> dict:
    plans, body = _plans(api, url)
    for plan in plans:
        assert "Seq Scan on customers_customer" not in plan, f"{url} scans the whole customer table:\n{plan}"
    return body


def test_every_customer_filter_is_served_by_an_index(api, many_customers):
    group = Group.objects.order_by("name").first()
    filters = {
        "external_id": "EXT-000042",
        "external_id ": "EXT-000042,EXT-000043,EXT-019999",
        "q": "northwind",
        "q ": "EXT-012345",
        "q  ": "TX4711",
        "name": "vandelay foods",
        "group": str(group.pk),
        "address_country": "de",
        "created_after": "2000-01-01T00:00:00Z",
        "created_before": "2000-01-01T00:00:00Z",
        "updated_since": "2100-01-01T00:00:00Z",
    }
    for name, value in filters.items():
        body = _assert_no_customer_seq_scan(api, "/api/v1/customers?" + urlencode({name.strip(): value}))
        if name == "external_id":
            assert [c["external_id"] for c in body["results"]] == ["EXT-000042"]
    # Filters combined with an ordering, and their next pages.
    for params in (
        {"address_country": "FR", "ordering": "name"},
        {"group": str(group.pk), "ordering": "-created_at"},
        {"updated_since": "2000-01-01T00:00:00Z", "ordering": "updated_at"},
        {"q": "acme", "ordering": "-name"},
    ):
        body = _assert_no_customer_seq_scan(api, "/api/v1/customers?" + urlencode(params))
        if body["next"]:
            _assert_no_customer_seq_scan(api, body["next"])


def test_every_ordering_and_its_cursor_pages_are_served_by_an_index(api, many_customers):
    for ordering in ("created_at", "-created_at", "name", "-name", "updated_at", "-updated_at"):
        first = _assert_no_customer_seq_scan(api, f"/api/v1/customers?ordering={ordering}&page_size=100")
        assert first["next"], ordering
        second = _assert_no_customer_seq_scan(api, first["next"])
        assert second["previous"], ordering
        _assert_no_customer_seq_scan(api, second["previous"])
