"""Set-based seeding for the billing benchmarks and the bill-run fault script (PostgreSQL only).

Customers, a month of data records spread over them (generate_series, secondary indexes dropped during the
load and rebuilt from their own definitions), the hourly and per-minute rollups built with one
INSERT ... SELECT ... GROUP BY each, and a default EUR price list whose rates change inside hours, so every
customer's month has rate stretches cut inside an hour.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


MONTH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
CODES = ("SMS", "CALL_MIN", "DATA_MB")
#: Rate changes inside hours: three stretches per code in the month.
CUTS = (datetime(2026, 3, 10, 10, 30, tzinfo=UTC), datetime(2026, 3, 20, 14, 45, 30, tzinfo=UTC))


def setup_django(url: str) -> None:
    """Point Django at *url*, set it up (DEBUG off, as in production) and migrate.

    With DEBUG on, Django keeps every statement's SQL in memory, which costs the side that runs more
    statements more and would skew the comparisons."""
    os.environ.update(
        DATABASE_URL=url, DEBUG="false", LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="billingengine.settings"
    )
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed_prices() -> None:
    """A default EUR price list: per code a rate from before the month and two more starting inside hours."""
    from pricing.models import PriceList, Rate

    price_list = PriceList.objects.create(name="Bench default", currency="EUR", priority=0)
    tiers = [
        {"up_to": "100", "unit_price": "0.05", "flat_price": "1"},
        {"up_to": "1000", "unit_price": "0.04", "flat_price": "0"},
        {"up_to": None, "unit_price": "0.03", "flat_price": "0"},
    ]
    terms = [
        {"model": "graduated", "tiers": tiers},
        {"model": "unit", "unit_price": Decimal("0.0125")},
        {"model": "volume", "tiers": tiers},
    ]
    for code, first in zip(CODES, terms, strict=True):
        Rate.objects.create(price_list=price_list, code=code, valid_from=datetime(2025, 1, 1, tzinfo=UTC), **first)
        Rate.objects.create(
            price_list=price_list,
            code=code,
            valid_from=CUTS[0],
            model="package",
            package_size=Decimal("10"),
            package_price=Decimal("0.35"),
        )
        Rate.objects.create(price_list=price_list, code=code, valid_from=CUTS[1], **first)


def customer_sql_id(expr: str) -> str:
    """SQL for the deterministic id of customer number *expr*."""
    return f"md5('bench-customer-' || ({expr})::text)::uuid"


def seed_usage(*, customers: int, records: int, chunk: int = 2_000_000, log=print) -> None:
    """Insert *customers* customers and *records* records spread evenly over them and over the month."""
    from django.db import connection

    from customers.models import Customer
    from records.models import DataRecord, UsageMinuteRollup, UsageRollup
    from records.rollup import rollup_from_records_sql

    table, rollup, minutes = (m._meta.db_table for m in (DataRecord, UsageRollup, UsageMinuteRollup))
    seconds = int((MONTH[1] - MONTH[0]).total_seconds())
    began = time.monotonic()
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {Customer._meta.db_table} (id, name, external_id, created_at, updated_at, billing_epoch)
            SELECT {customer_sql_id("g")}, 'Bench customer ' || g, 'EXT-B-' || lpad(g::text, 7, '0'), now(), now(), 0
            FROM generate_series(1, %s) AS g
            """,
            [customers],
        )
        log(f"  {customers:,} customers ({time.monotonic() - began:.0f} s)")
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        for offset in range(0, records, chunk):
            n = min(chunk, records - offset)
            # Record g belongs to customer 1 + g % customers, at a pseudo-random second of the month.
            cur.execute(
                f"""
                INSERT INTO {table} (id, customer_id, customer_external_id, customer_name, code, quantity,
                                     time_from, time_to, transaction_id, created_at, billing_epoch)
                SELECT gen_random_uuid(), {customer_sql_id("c")}, 'EXT-B-' || lpad(c::text, 7, '0'),
                       'Bench customer ' || c, (ARRAY['SMS', 'CALL_MIN', 'DATA_MB'])[1 + g %% 3],
                       (1 + g %% 1000) / 4.0, %s::timestamptz + ((g * 7919::bigint) %% %s) * interval '1 second',
                       NULL, NULL, now(), 0
                FROM (SELECT g, 1 + g %% %s AS c FROM generate_series(%s::bigint, %s::bigint) AS g) AS s
                """,
                [MONTH[0], seconds, customers, offset, offset + n - 1],
            )
            log(f"  {offset + n:,} records ({time.monotonic() - began:.0f} s)")
        for name, definition in indexes:
            cur.execute(definition)
            log(f"  rebuilt {name} ({time.monotonic() - began:.0f} s)")
        for statement in rollup_from_records_sql():
            cur.execute(statement)
        log(f"  rollup ({time.monotonic() - began:.0f} s)")
        cur.execute(f"VACUUM ANALYZE {table}")
        cur.execute(f"VACUUM ANALYZE {rollup}")
        cur.execute(f"VACUUM ANALYZE {minutes}")
        cur.execute(f"VACUUM ANALYZE {Customer._meta.db_table}")
