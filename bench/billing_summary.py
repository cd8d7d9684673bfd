"""Billing summary benchmark: one customer with 10 million records in a month whose three rate stretches per
code are cut inside hours; the billing summary's p50 against the usage summary of the same period (goal:
within 3x), with the answers cross-checked (per code, the lines and unpriced usage add up to the usage).

    .venv/bin/python bench/billing_summary.py [--records 10000000] [--repeat 20] [--reuse]

BENCH_DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/be_billing_bench_summary (recreated unless
--reuse is given and it holds the records).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.billing_seed import CUTS, MONTH, seed_prices, seed_usage, setup_django  # noqa: E402
from bench.databases import recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/be_billing_bench_summary")


def p50(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()

    if not args.reuse:
        recreate_database(DATABASE_URL)
    setup_django(DATABASE_URL)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.summary import billing_summary
    from customers.models import Customer
    from records.models import DataRecord
    from records.usage import usage_summary

    if not Customer.objects.exists():
        print(f"seeding one customer with {args.records:,} records in {MONTH[0]:%B %Y} ...", flush=True)
        began = time.monotonic()
        seed_prices()
        seed_usage(customers=1, records=args.records, log=lambda m: print(m, flush=True))
        print(f"seeded in {time.monotonic() - began:.0f} s", flush=True)
    customer = Customer.objects.get()
    stored = DataRecord.objects.filter(customer_id=customer.pk).count()
    print(f"customer {customer.pk}: {stored:,} records; rates change at {CUTS[0]} and {CUTS[1]} (inside hours)")

    periods = [
        ("the month", MONTH[0], MONTH[1]),
        ("the month, ends off the hour", MONTH[0] + timedelta(minutes=7), MONTH[1] - timedelta(seconds=83)),
    ]
    worst = 0.0
    for label, start, end in periods:
        usage_ms, items = p50(lambda s=start, e=end: usage_summary(customer.pk, s, e), args.repeat)
        billing_ms, summary = p50(
            lambda s=start, e=end: billing_summary(customer=customer, start=s, end=e), args.repeat
        )
        with CaptureQueriesContext(connection) as queries:
            billing_summary(customer=customer, start=start, end=end)
        added: dict[str, list] = defaultdict(lambda: [Decimal(0), 0])
        for line in summary.lines:
            added[line.code][0] += line.quantity
            added[line.code][1] += line.records
        for item in summary.unpriced:
            added[item.code][0] += item.quantity
            added[item.code][1] += item.records
        same = {code: tuple(v) for code, v in added.items()} == {i.code: (i.quantity, i.records) for i in items}
        ratio = billing_ms / usage_ms
        worst = max(worst, ratio)
        print(
            f"  {label}: billing summary p50 {billing_ms:.1f} ms ({len(summary.lines)} lines, "
            f"{len(queries)} queries), usage summary p50 {usage_ms:.1f} ms: {ratio:.2f}x (goal <= 3x); "
            f"quantities add up: {same}",
            flush=True,
        )
        if not same:
            raise SystemExit("the billing summary's quantities differ from the usage summary")
    print(f"worst ratio {worst:.2f}x (goal <= 3x)")


if __name__ == "__main__":
    main()
