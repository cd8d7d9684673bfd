#!/usr/bin/env python
"""Benchmark: what the no-overlap exclusion constraint costs a bulk insert of memberships on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/membership_overlap_constraint.py --rows 200000

In the database of DATABASE_URL (the tables are temporary), the same generated rows (customer, group, joined_at,
open-ended; three groups) are inserted with one INSERT ... SELECT into
(a) a table like groups_membership without the constraint (primary key and the (customer, joined_at) index), and
(b) the same table with `EXCLUDE USING gist (customer_id WITH =, group_id WITH =, tstzrange(joined_at, left_at)
    WITH &&)` (what migration groups/0003 adds; needs btree_gist),
and, for the bulk-load case, (c) (a) followed by adding the constraint afterwards. Prints seconds, rows/s and
the ratios. Single-row writes (the API) pay one GiST insert each; this shows the cost per row at volume.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import time

import psycopg

TABLE = """CREATE TEMP TABLE {name} (id uuid PRIMARY KEY, customer_id uuid NOT NULL, group_id uuid NOT NULL,
    joined_at timestamptz NOT NULL, left_at timestamptz)"""
CONSTRAINT = """ALTER TABLE {name} ADD CONSTRAINT {name}_no_overlap
    EXCLUDE USING gist (customer_id WITH =, group_id WITH =, tstzrange(joined_at, left_at, '[)') WITH &&)"""


def timed(cursor, sql: str) -> float:
    start = time.perf_counter()
    cursor.execute(sql)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="memberships to insert (default 200,000)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        cursor.execute(
            "CREATE TEMP TABLE src AS SELECT gen_random_uuid() AS id, gen_random_uuid() AS customer_id, "
            "(ARRAY[gen_random_uuid(), gen_random_uuid(), gen_random_uuid()])[1 + n %% 3] AS group_id, "
            "now() - n * interval '1 second' AS joined_at FROM generate_series(1, %s) AS n",
            [args.rows],
        )
        insert = "INSERT INTO {name} SELECT id, customer_id, group_id, joined_at, NULL FROM src"
        results = {}
        for name, with_constraint in (("plain", False), ("excl", True)):
            cursor.execute(TABLE.format(name=name))
            cursor.execute(f"CREATE INDEX ON {name} (customer_id, joined_at)")
            if with_constraint:
                cursor.execute(CONSTRAINT.format(name=name))
            results[name] = timed(cursor, insert.format(name=name))
        cursor.execute(TABLE.format(name="late"))
        cursor.execute("CREATE INDEX ON late (customer_id, joined_at)")
        results["late"] = timed(cursor, insert.format(name="late")) + timed(cursor, CONSTRAINT.format(name="late"))
    n = args.rows
    print(f"{n:,} memberships, one INSERT ... SELECT each")
    print(f"  (a) without the constraint        {results['plain']:7.2f} s  {n / results['plain']:10,.0f} rows/s")
    print(f"  (b) with the exclusion constraint {results['excl']:7.2f} s  {n / results['excl']:10,.0f} rows/s")
    print(f"  (c) insert, then add constraint   {results['late']:7.2f} s  {n / results['late']:10,.0f} rows/s")
    ratios = results["excl"] / results["plain"], results["late"] / results["plain"]
    print(f"  ratio (b)/(a): {ratios[0]:.2f}x   (c)/(a): {ratios[1]:.2f}x")


if __name__ == "__main__":
    main()
