#!/usr/bin/env python
"""Benchmark: `manage.py import_customers` versus a raw psycopg COPY of the same CSV, side by side.

    .venv/bin/python bench/import_vs_copy.py --rows 1000000

Steps (in a dedicated database, dropped and re-created, default `billingengine_bench_import`):
1. Generate a realistic CSV of N customers (name, external_id, tax/VAT ids, address, country).
2. (a) COPY the file with psycopg into `bench_plain`, a plain table with the same columns, types and
   constraints (uuid primary key, NOT NULL name, UNIQUE external_id) and no other index; and
   (a') into `bench_like`, a copy of customers_customer with all its indexes (LIKE ... INCLUDING ALL: the
   btree indexes and the four trigram GIN indexes), i.e. exactly the index work the import must do.
3. (b) Run `manage.py import_customers FILE` (full validation, upsert, history rows) into the empty customers
   table of the same database, in a subprocess, and record its peak RSS.
4. Repeat (b) with a file of N/10 rows in a fresh database to show peak memory does not grow with the file.
Prints rows/s for each and the ratios import / COPY. Not part of the test run.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = (
    "name",
    "external_id",
    "tax_id",
    "vat_id",
    "address_street",
    "address_city",
    "address_zip",
    "address_country",
)
RSS_WRAPPER = """
import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path("manage.py", run_name="__main__")
finally:
    print(f"PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
"""


def generate_csv(path: Path, rows: int, seed: int = 1) -> None:
    """Write *rows* realistic customers (pools from the seed_demo generator's Faker values)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingengine.settings")
    import django

    django.setup()
    from groups.demo import _build_pools

    pools = _build_pools()
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        for n in range(rows):
            pool = pools[n % len(pools)]
            writer.writerow(
                (
                    rnd.choice(pool.names),
                    f"CRM-{n:09d}",
                    f"{rnd.randrange(10**9, 10**10)}" if n % 3 else "",
                    f"{pool.code}{rnd.randrange(10**8, 10**9)}",
                    rnd.choice(pool.streets),
                    rnd.choice(pool.cities),
                    rnd.choice(pool.zips),
                    pool.code.lower() if n % 7 == 0 else pool.code,  # some lower-case codes, normalised on import
                )
            )


def recreate_database(server_url: str, name: str) -> str:
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{server_url}/{name}"
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return url


def raw_copy(url: str, path: Path, table: str, create_sql: list[str]) -> float:
    """COPY *path* into *table* (created by *create_sql*); return the seconds the COPY took (commit included)."""
    with psycopg.connect(url) as conn:
        for sql in create_sql:
            conn.execute(sql)
        conn.commit()
        started = time.perf_counter()
        sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        with conn.cursor() as cursor, path.open("rb") as stream, cursor.copy(sql) as cp:
            while block := stream.read(1 << 20):
                cp.write(block)
        conn.commit()
        elapsed = time.perf_counter() - started
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    assert count > 0
    return elapsed


def run_import(url: str, path: Path) -> tuple[float, int, str]:
    """Run import_customers in a subprocess; return (seconds, peak RSS in KiB, summary line)."""
    env = {**os.environ, "DATABASE_URL": url}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, "manage.py", "import_customers", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"import failed:\n{proc.stdout}\n{proc.stderr}")
    rss = int(next(line for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KB=")).split("=")[1])
    return elapsed, rss, proc.stdout.strip()


# Below this, process start-up, schema setup and index builds dominate the timings.
MEANINGFUL_ROWS = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows in the CSV (default 1000000).")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL.")
    parser.add_argument("--database", default="billingengine_bench_import", help="Scratch database (re-created).")
    parser.add_argument("--skip-small", action="store_true", help="Skip the N/10 memory comparison run.")
    args = parser.parse_args()
    if args.rows < MEANINGFUL_ROWS:
        print(
            f"WARNING: {args.rows:,} rows is too few for meaningful figures (start-up and fixed costs dominate); "
            f"use --rows {MEANINGFUL_ROWS:,} or more (default 1,000,000) to compare throughput.",
            file=sys.stderr,
        )

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "customers.csv"
        t = time.perf_counter()
        generate_csv(big, args.rows)
        print(f"generated {args.rows} rows ({big.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s")

        url = recreate_database(args.server, args.database)
        plain = raw_copy(
            url,
            big,
            "bench_plain",
            [
                """CREATE TABLE bench_plain (
                    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                    name varchar(255) NOT NULL CHECK (name <> ''),
                    external_id varchar(255) UNIQUE CHECK (external_id <> ''),
                    tax_id varchar(64), vat_id varchar(64),
                    address_street varchar(255), address_city varchar(255), address_zip varchar(32),
                    address_country varchar(2),
                    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()
                )"""
            ],
        )
        like = raw_copy(
            url,
            big,
            "bench_like",
            [
                "CREATE TABLE bench_like (LIKE customers_customer INCLUDING ALL)",
                "ALTER TABLE bench_like ALTER id SET DEFAULT gen_random_uuid(), "
                "ALTER created_at SET DEFAULT now(), ALTER updated_at SET DEFAULT now()",
            ],
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE bench_plain")
            conn.execute("DROP TABLE bench_like")
        imported, rss_big, summary = run_import(url, big)

        n = args.rows
        print(f"(a)  raw COPY into a plain table (PK, UNIQUE external_id): {plain:7.1f}s  {n / plain:10,.0f} rows/s")
        print(f"(a') raw COPY into a table with customers' indexes:       {like:7.1f}s  {n / like:10,.0f} rows/s")
        print(
            f"(b)  manage.py import_customers (validated, history):     {imported:7.1f}s  {n / imported:10,.0f} rows/s"
        )
        print(f"     {summary}")
        print(f"ratio import / plain COPY:   {plain / imported:.2f}  (goal >= 0.5)")
        print(f"ratio import / indexed COPY: {like / imported:.2f}")
        print(f"peak RSS of the import at {n} rows: {rss_big / 1024:.0f} MiB")

        if not args.skip_small:
            small = Path(tmp) / "small.csv"
            with big.open(encoding="utf-8") as src, small.open("w", encoding="utf-8") as dst:
                for index, line in enumerate(src):
                    if index > n // 10:
                        break
                    dst.write(line)
            url = recreate_database(args.server, args.database)
            _t, rss_small, _s = run_import(url, small)
            print(
                f"peak RSS of the import at {n // 10} rows: {rss_small / 1024:.0f} MiB "
                f"(x{rss_big / rss_small:.2f} for 10x the rows)"
            )
        with psycopg.connect(f"{args.server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
