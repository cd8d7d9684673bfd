"""Load a benchmark data set into a migrated PostgreSQL database with set-based SQL (idempotent).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME .venv/bin/python bench/load_customers.py --customers 1000000

Customers get realistic company names (so `q` and `name` filters match a few rows, not all), unique
external ids `EXT-CU-0000001`..., upper-case ISO countries and increasing `created_at` over three
years; 100 groups; each customer is a current member of three distinct groups (3 memberships per
customer, at most one current per customer and group, as the database enforces). A run that finds
the wanted size already loaded does nothing; another size is loaded from scratch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GROUPS = 100
MEMBERSHIPS_PER_CUSTOMER = 3
# Distinct offsets modulo GROUPS, so a customer's three groups are always different.
GROUP_OFFSETS = (0, 31, 62)

WORDS_A = [
    "Acme", "Northwind", "Blue", "Silver", "Global", "Summit", "Pioneer", "Harbor", "Evergreen", "Atlas",
    "Crescent", "Falcon", "Granite", "Horizon", "Ivory", "Juniper", "Keystone", "Lighthouse", "Meridian", "Nova",
    "Orchard", "Pinnacle", "Quantum", "Redwood", "Sterling", "Titan", "Unity", "Vertex", "Willow", "Zenith",
    "Aurora", "Beacon", "Cobalt", "Delta", "Ember", "Fjord", "Golden", "Highland", "Indigo", "Jade",
]  # fmt: skip
WORDS_B = [
    "Logistics", "Telecom", "Energy", "Foods", "Health", "Systems", "Media", "Motors", "Pharma", "Textiles",
    "Software", "Analytics", "Retail", "Capital", "Robotics", "Airlines", "Shipping", "Labs", "Networks", "Foundry",
    "Brewing", "Mining", "Insurance", "Consulting", "Studios", "Dynamics", "Solar", "Water", "Security", "Travel",
    "Cloud", "Devices", "Farms", "Holdings", "Partners", "Ventures", "Works", "Outfitters", "Kitchens", "Print",
]  # fmt: skip
SUFFIXES = ["Ltd", "GmbH", "Inc", "SAS", "BV", "AG", "LLC", "SpA", "AB", "Oy", "plc", "SL"]
COUNTRIES = ["GB", "DE", "FR", "NL", "US", "IT", "ES", "SE", "FI", "AT", "CH", "BE", "IE", "DK", "PL", "CZ"]
CITIES = ["London", "Berlin", "Paris", "Amsterdam", "New York", "Milan", "Madrid", "Stockholm", "Helsinki", "Vienna"]


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def loaded_size(cursor) -> tuple[int, int, int]:
    cursor.execute(
        "SELECT (SELECT count(*) FROM customers_customer), (SELECT count(*) FROM groups_group), "
        "(SELECT count(*) FROM groups_membership)"
    )
    return cursor.fetchone()


def load(customers: int, *, force: bool = False, log=print) -> bool:
    """Load *customers* customers (and groups, memberships) unless exactly that is loaded; return whether it loaded."""
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0, interactive=False)
    # One transaction: a failed or interrupted load leaves the database as it was (indexes included).
    with transaction.atomic(), connection.cursor() as cursor:
        # The marker row tells a finished load from a partial one (or from data someone typed in).
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_loaded (customers bigint NOT NULL)")
        cursor.execute("SELECT customers FROM bench_loaded")
        marker = cursor.fetchone()
        current = loaded_size(cursor)
        if not force and marker and marker[0] == customers and current[0] >= customers:
            log(f"Already loaded: {current[0]:,} customers, {current[1]} groups, {current[2]:,} memberships.")
            return False
        started = time.monotonic()
        # Django's foreign keys are deferred; checked per row instead, the index builds below may run
        # inside this transaction (PostgreSQL refuses CREATE INDEX on a table with pending trigger events).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        log(
            f"Loading {customers:,} customers, {GROUPS} groups, "
            f"{customers * MEMBERSHIPS_PER_CUSTOMER:,} memberships ..."
        )
        cursor.execute("DELETE FROM bench_loaded")
        cursor.execute(
            "TRUNCATE customers_customer, groups_group, groups_membership, customers_historicalcustomer, "
            "groups_historicalgroup, groups_historicalmembership CASCADE"
        )
        # Secondary indexes are dropped during the bulk insert and built once afterwards (much faster);
        # the primary keys and unique constraints stay, so the data is checked as it goes in.
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.tablename IN ('customers_customer', 'groups_membership') AND i.schemaname = current_schema() "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        )
        secondary = cursor.fetchall()
        for name, _ in secondary:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            f"""
            INSERT INTO groups_group (id, name, description, created_at, updated_at)
            SELECT gen_random_uuid(), format('Segment %s', lpad(g::text, 3, '0')),
                   format('Benchmark group %s', g), now() - interval '4 years', now() - interval '4 years'
            FROM generate_series(1, {GROUPS}) AS g
            """
        )
        a, b, s, c, t = (_sql_array(x) for x in (WORDS_A, WORDS_B, SUFFIXES, COUNTRIES, CITIES))
        # created_at increases with n (one customer every ~95 s over three years), so the first list
        # page and a deep cursor page are at opposite ends of the created_at index.
        cursor.execute(
            f"""
            INSERT INTO customers_customer (id, name, external_id, tax_id, vat_id, address_street, address_city,
                                            address_zip, address_country, created_at, updated_at)
            SELECT gen_random_uuid(),
                   ({a})[1 + (n * 7919) % {len(WORDS_A)}] || ' ' || ({b})[1 + (n * 104729) % {len(WORDS_B)}]
                       || ' ' || n || ' ' || ({s})[1 + n % {len(SUFFIXES)}],
                   'EXT-CU-' || lpad(n::text, 7, '0'),
                   CASE WHEN n % 3 = 0 THEN NULL ELSE 'TX' || lpad((n * 37)::text, 9, '0') END,
                   CASE WHEN n % 2 = 0 THEN NULL ELSE ({c})[1 + n % {len(COUNTRIES)}] || lpad(n::text, 9, '0') END,
                   (1 + n % 200) || ' Example Street',
                   ({t})[1 + n % {len(CITIES)}],
                   lpad((n % 99999)::text, 5, '0'),
                   ({c})[1 + (n * 13) % {len(COUNTRIES)}],
                   ts, ts + (n % 1000) * interval '1 minute'
            FROM (SELECT n, now() - interval '3 years' + n * (interval '3 years' / {customers}) AS ts
                  FROM generate_series(1::bigint, {customers}) AS n) AS s
            """
        )
        log(f"  customers: {time.monotonic() - started:.0f} s")
        cursor.execute(
            f"""
            INSERT INTO groups_membership (id, group_id, customer_id, joined_at, left_at)
            SELECT gen_random_uuid(), g.id, c.id, c.created_at, NULL
            FROM (SELECT id, created_at, row_number() OVER (ORDER BY created_at, id) AS n
                  FROM customers_customer) AS c
            CROSS JOIN unnest(ARRAY{list(GROUP_OFFSETS)}) AS o(offset_)
            JOIN (SELECT id, row_number() OVER (ORDER BY name) - 1 AS k FROM groups_group) AS g
              ON g.k = (c.n * 7 + o.offset_) % {GROUPS}
            """
        )
        log(f"  memberships: {time.monotonic() - started:.0f} s")
        for _name, definition in secondary:
            cursor.execute(definition)
        log(f"  indexes: {time.monotonic() - started:.0f} s")
        cursor.execute("INSERT INTO bench_loaded (customers) VALUES (%s)", [customers])
    with connection.cursor() as cursor:
        for table in ("customers_customer", "groups_group", "groups_membership"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        current = loaded_size(cursor)
    log(f"Loaded {current[0]:,} customers, {current[1]} groups, {current[2]:,} memberships "
        f"in {time.monotonic() - started:.0f} s.")  # fmt: skip
    return True


def write_fixture(path: Path, *, samples: int = 2000) -> None:
    """Write what the load generator needs: an API key, sample customer and group ids, a deep cursor."""
    import json

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection

    from billingengine.api.pagination import KeysetPagination
    from billingengine.services import api_key_create
    from customers.models import Customer
    from groups.models import Group

    # An ordinary (non-superuser) integration user holding the model permissions it needs, as in production.
    user, _ = get_user_model().objects.get_or_create(username="bench-integration")
    wanted = ["view_customer", "add_customer", "change_customer", "view_group", "view_membership", "add_membership"]
    user.user_permissions.set(Permission.objects.filter(codename__in=wanted))
    _, key = api_key_create(user=user, name="bench")
    total = Customer.objects.count()
    percent = min(100.0, samples * 300 / max(total, 1))
    with connection.cursor() as cursor:
        # TABLESAMPLE picks random rows without scanning the table.
        cursor.execute(
            f"SELECT id FROM customers_customer TABLESAMPLE SYSTEM ({percent}) "
            "WHERE external_id LIKE 'EXT-CU-%%' LIMIT %s",
            [samples],
        )
        ids = [str(row[0]) for row in cursor.fetchall()]
    external_ids = list(Customer.objects.filter(id__in=ids).values_list("external_id", flat=True))
    middle = Customer.objects.order_by("created_at", "id")[total // 2]
    pagination = KeysetPagination()
    pagination.ordering = "created_at"
    pagination.field = Customer._meta.get_field("created_at")
    fixture = {
        "api_key": key,
        "customers": total,
        "customer_ids": ids,
        "external_ids": external_ids,
        "group_ids": [str(g) for g in Group.objects.values_list("id", flat=True)],
        "deep_cursor": pagination._encode_cursor(middle, reverse=False),
    }
    path.write_text(json.dumps(fixture))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="Number of customers (default 1,000,000).")
    parser.add_argument("--force", action="store_true", help="Reload even when that size is already loaded.")
    parser.add_argument("--fixture", type=Path, help="Also write an API key and sample ids to this JSON file.")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        parser.error("set DATABASE_URL to a PostgreSQL database (the loader uses PostgreSQL SQL)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingengine.settings")
    import django

    django.setup()
    load(args.customers, force=args.force)
    if args.fixture:
        write_fixture(args.fixture)


if __name__ == "__main__":
    main()
