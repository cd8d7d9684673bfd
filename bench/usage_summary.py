"""Usage summary benchmark: one customer with 10 million data records; the summary must answer in < 200 ms.

Loads the records set-based in PostgreSQL (generate_series; the secondary indexes are dropped for the load
and rebuilt with their migration definitions), builds the hourly and per-minute rollups with one
INSERT ... SELECT ... GROUP BY each, then times `usage_summary` for periods whose ends are not on the hour,
checks each answer against a plain SUM over the records, and prints the EXPLAIN (ANALYZE, BUFFERS) of the
summary's queries.

    .venv/bin/python bench/usage_summary.py [--records 10000000] [--repeat 20]

BENCH_DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/billingengine_bench_usage; it is recreated
unless --reuse is given and it already holds the records.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/billingengine_bench_usage")
CUSTOMER_ID = "0b5c7a1e-5d1f-4c53-9d4e-2a6f3e1b0c42"
START = "2025-04-01T00:00:00Z"  # the records spread evenly over one year from here
CHUNK = 1_000_000


def load(count: int) -> None:
    from django.db import connection

    from customers.models import Customer
    from records.models import DataRecord, UsageMinuteRollup, UsageRollup
    from records.rollup import rollup_from_records_sql

    Customer.objects.create(id=CUSTOMER_ID, name="Big Usage Ltd", external_id="EXT-BIG-0001")
    table, rollup, minutes = (m._meta.db_table for m in (DataRecord, UsageRollup, UsageMinuteRollup))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        seconds_per_record = 365 * 24 * 3600 / count
        began = time.monotonic()
        for offset in range(0, count, CHUNK):
            n = min(CHUNK, count - offset)
            # Time-ordered ids (UUIDv7 layout: 48-bit milliseconds, version 7, variant 8), as the API makes them.
            cur.execute(
                f"""
                INSERT INTO {table} (id, customer_id, customer_external_id, customer_name, code, quantity,
                                     time_from, time_to, transaction_id, created_at)
                SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
                        || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,
                       %s, 'EXT-BIG-0001', 'Big Usage Ltd',
                       (ARRAY['SMS', 'CALL_MIN', 'DATA_MB', 'API_CALL', 'STORAGE_GB'])[1 + g %% 5],
                       (1 + g %% 1000) / 4.0, t, NULL, NULL, now()
                FROM (SELECT g, %s::timestamptz + g * %s * interval '1 second' AS t, md5(g::text) AS h
                      FROM generate_series(%s::bigint, %s::bigint) AS g) AS s
                """,
                [CUSTOMER_ID, START, seconds_per_record, offset, offset + n - 1],
            )
            print(f"  {offset + n:,} records ({time.monotonic() - began:.0f} s)", flush=True)
        for name, definition in indexes:
            t = time.monotonic()
            cur.execute(definition)
            print(f"  rebuilt {name} ({time.monotonic() - t:.0f} s)", flush=True)
        t = time.monotonic()
        for statement in rollup_from_records_sql():
            cur.execute(statement)
        print(f"  rollup built set-based ({time.monotonic() - t:.0f} s)", flush=True)
        cur.execute(f"VACUUM ANALYZE {table}")
        cur.execute(f"VACUUM ANALYZE {rollup}")
        cur.execute(f"VACUUM ANALYZE {minutes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="Keep the database if it already holds the records.")
    args = parser.parse_args()

    os.environ.update(
        DATABASE_URL=DATABASE_URL, DEBUG="true", LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="billingengine.settings"
    )
    if not args.reuse:
        recreate_database(DATABASE_URL)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from records.models import DataRecord
    from records.usage import usage_summary

    call_command("migrate", verbosity=0)
    stored = DataRecord.objects.filter(customer_id=CUSTOMER_ID).count() if args.reuse else 0
    if stored != args.records:
        if stored:
            raise SystemExit(f"{stored:,} records stored, not {args.records:,}: run without --reuse")
        print(f"loading {args.records:,} records of one customer ...", flush=True)
        began = time.monotonic()
        load(args.records)
        print(f"loaded in {time.monotonic() - began:.0f} s", flush=True)

    periods = [
        (
            "whole year, ends off the hour",
            datetime(2025, 4, 1, 0, 17, 23, tzinfo=UTC),
            datetime(2026, 3, 31, 23, 41, 7, tzinfo=UTC),
        ),
        (
            "one month, ends off the hour",
            datetime(2025, 10, 1, 0, 0, 0, 1, tzinfo=UTC),
            datetime(2025, 10, 31, 23, 59, 59, tzinfo=UTC),
        ),
        ("one day, on the hour", datetime(2025, 12, 24, tzinfo=UTC), datetime(2025, 12, 25, tzinfo=UTC)),
        (
            "40 minutes inside one hour",
            datetime(2025, 6, 1, 10, 10, tzinfo=UTC),
            datetime(2025, 6, 1, 10, 50, tzinfo=UTC),
        ),
    ]
    print(f"\nusage_summary for customer {CUSTOMER_ID} ({args.records:,} records), {args.repeat} runs each:")
    worst = 0.0
    for label, start, end in periods:
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            items = usage_summary(CUSTOMER_ID, start, end)
            times.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        raw = DataRecord.objects.of_customer(CUSTOMER_ID).in_period(start, end).usage_by_code()
        raw_ms = (time.perf_counter() - t) * 1000
        same = {i.code: (i.quantity, i.records) for i in items} == {c: (q, n) for c, (q, n) in raw.items()}
        total = sum(i.records for i in items)
        worst = max(worst, max(times))
        print(
            f"  {label}: {total:,} records, median {statistics.median(times):.1f} ms, max {max(times):.1f} ms; "
            f"plain SUM over the records {raw_ms:,.0f} ms ({raw_ms / statistics.median(times):,.0f}x); "
            f"answers equal: {same}"
        )
        if not same:
            raise SystemExit("the rollup answer differs from the plain SUM")
    print(f"worst summary {worst:.1f} ms (goal < 200 ms)")

    label, start, end = periods[0]
    with CaptureQueriesContext(connection) as queries:
        usage_summary(CUSTOMER_ID, start, end)
    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the summary's {len(queries)} queries ({label}):")
    with connection.cursor() as cur:
        for query in queries.captured_queries:
            print("\n" + query["sql"])
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            for (line,) in cur.fetchall():
                print("   ", line)


if __name__ == "__main__":
    main()
