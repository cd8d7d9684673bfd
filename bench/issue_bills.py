"""Bill run benchmark: `manage.py issue_bills` for 100,000 customers with 10 million records in a month (three
rate stretches per code, cut inside hours): customers billed per second (goal >= 1,000/s on PostgreSQL) and the
run's peak memory at two sizes (flat memory: the peak does not grow with the number of customers).

    .venv/bin/python bench/issue_bills.py [--customers 100000] [--records 10000000] [--batch-size 500]
                                          [--workers N] [--reuse]

BENCH_DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/be_billing_bench_run (recreated). With
--reuse, a database already seeded with as many customers is kept (seeding 10M records takes a while) and its
bills are deleted and billing epochs reset before the runs, so two checkouts can be measured on the same data.
Compare the totals per currency that the full run prints: a faster bill run must issue the same amounts.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.billing_seed import MONTH, seed_prices, seed_usage, setup_django  # noqa: E402
from bench.databases import recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/be_billing_bench_run")


def run(*args: str) -> tuple[str, float, int]:
    """Run issue_bills as in production (DEBUG off); return its last output line, seconds and peak RSS in MiB."""
    command = [
        sys.executable,
        "manage.py",
        "issue_bills",
        "--from",
        MONTH[0].isoformat(),
        "--to",
        MONTH[1].isoformat(),
        *args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    began = time.monotonic()
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": DATABASE_URL, "DEBUG": "false"},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - began
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode:
        raise SystemExit(f"issue_bills failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1], seconds, max(peak, before) // 1024


def seeded_customers(url: str) -> int:
    """Return the number of customers of the database of *url* (0 if it does not exist or is not migrated)."""
    import psycopg

    try:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]
    except psycopg.Error:
        return 0


def reset_bills(url: str) -> None:
    """Delete every bill of the database of *url*; reset the billing epochs and number counters (a fresh month).

    The customers table is vacuumed too: every run and every reset rewrites each customer row (the epoch), and
    without it the dead rows pile up run after run and make later runs slower than earlier ones."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE billing_billline, billing_bill, billing_billnumber")
        conn.execute("UPDATE customers_customer SET billing_epoch = 0 WHERE billing_epoch <> 0")
        conn.execute("VACUUM ANALYZE customers_customer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workers", type=int, help="issue_bills --workers (default: the command's, 2 on PostgreSQL)")
    parser.add_argument("--reuse", action="store_true", help="keep a database already seeded with --customers")
    args = parser.parse_args()

    if args.reuse and seeded_customers(DATABASE_URL) == args.customers:
        reset_bills(DATABASE_URL)
        setup_django(DATABASE_URL)
        print(f"reusing the seeded database ({args.customers:,} customers; bills deleted, epochs reset)", flush=True)
    else:
        recreate_database(DATABASE_URL)
        setup_django(DATABASE_URL)
        print(f"seeding {args.customers:,} customers and {args.records:,} records in {MONTH[0]:%B %Y} ...", flush=True)
        began = time.monotonic()
        seed_prices()
        seed_usage(customers=args.customers, records=args.records, log=lambda m: print(m, flush=True))
        print(f"seeded in {time.monotonic() - began:.0f} s", flush=True)

    # One customer first (the process's start-up footprint), then the whole run: compare their peak memory.
    from customers.models import Customer

    small = list(Customer.objects.order_by("pk").values_list("external_id", flat=True)[:1])
    line, seconds, peak_one = run("--customer", small[0], "--batch-size", str(args.batch_size))
    print(f"one customer: {seconds:.1f} s, peak {peak_one} MiB (start-up cost)")
    workers = ["--workers", str(args.workers)] if args.workers else []
    line, seconds, peak = run("--batch-size", str(args.batch_size), *workers)
    rate = re.search(r"\(([\d,]+)/s\)", line)
    print(line)
    print(
        f"issue_bills: {args.customers:,} customers, {args.records:,} records: {seconds:.1f} s wall "
        f"(including start-up), {rate.group(1) if rate else '?'} customers/s inside the run (goal >= 1,000/s); "
        f"peak RSS {peak} MiB vs {peak_one} MiB for one customer (flat memory: batches of {args.batch_size}); "
        f"workers: {args.workers or 'the default'}"
    )
    line, seconds, _ = run("--batch-size", str(args.batch_size), *workers)
    print(f"re-run (everyone already billed): {seconds:.1f} s: {line}")


if __name__ == "__main__":
    main()
