"""Pricing benchmarks (PostgreSQL): the explanation endpoint and the resolver at scale.

1. `GET /api/v1/customers/{id}/rates` for a customer in 10 groups with 100 price lists (10 per group, 5 codes,
   3 rate versions each, plus 2 default lists and 2 of its own): latency p50/p95 through the whole request
   stack (API key authentication, permissions, middleware), in-process with Django's test client.
2. `resolver.rate_stretches` for 100,000 customers over one month, every code (codes=None): seconds, with the
   memberships of a realistic book (most customers joined their groups before the month, 10% join and 5%
   leave during it, rates change mid-month) and again with every customer's timeline distinct (each one joins
   a group at its own moment in the month), the resolver's worst case.

    .venv/bin/python bench/pricing.py [--customers 100000] [--requests 200] [--reuse]

BENCH_DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/be_pricing_bench; it is recreated unless
--reuse is given.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import recreate_database  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/be_pricing_bench")
MONTH_START = datetime(2026, 3, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 4, 1, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
CODES = ("SMS", "MMS", "CALL_MIN", "DATA_MB", "API_CALL")
GROUPS = 20


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def unit_rate(price_list, code: str, valid_from: datetime, price: str):
    from pricing.models import Rate

    return Rate(price_list=price_list, code=code, model="unit", valid_from=valid_from, unit_price=price)


# -- 1. the explanation endpoint -----------------------------------------------------------------------------------


def bench_explain(requests: int) -> None:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from billingengine.services import api_key_create
    from customers.models import Customer
    from groups.models import Group, Membership
    from pricing.models import PriceList, Rate

    customer = Customer.objects.create(name="Explained Ltd", external_id="EXT-EXPLAIN")
    lists, rates = [], []
    for g in range(10):
        group = Group.objects.create(name=f"Explain group {g}")
        Membership.objects.create(customer=customer, group=group, joined_at=LONG_AGO)
        for i in range(10):
            lists.append(PriceList(name=f"Explain {g}-{i}", currency="EUR", group=group, priority=10_000 + 10 * g + i))
    lists += [PriceList(name=f"Explain default {i}", currency="EUR", priority=10_000 + i) for i in range(2)]
    lists += [PriceList(name=f"Explain own {i}", currency="EUR", customer=customer, priority=i) for i in range(2)]
    PriceList.objects.bulk_create(lists)
    for n, pl in enumerate(lists):
        for c, code in enumerate(CODES):
            if (n + c) % 3 == 0:
                continue  # not every list prices every code: the walk meets no_rate, applied and shadowed
            for v in range(3):
                rates.append(unit_rate(pl, code, LONG_AGO + timedelta(days=30 * v), f"0.0{v + 1}"))
    Rate.objects.bulk_create(rates)
    user = get_user_model().objects.create_superuser("bench-explain", "bench@example.com", "x")
    _, key = api_key_create(user=user, name="bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/customers/{customer.pk}/rates"
    print(f"\n1. {url}: customer in 10 groups, {len(lists)} candidate lists, {len(rates)} rates")
    for label, params in (("every code", {}), ("one code", {"code": "SMS"})):
        for _ in range(10):  # warm up
            assert client.get(url, params).status_code == 200
        times = []
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get(url, params)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
        items = response.json()["items"]
        candidates = sum(len(item["candidates"]) for item in items)
        print(
            f"   {label}: {len(items)} item(s), {candidates} candidate rows; {requests} requests: "
            f"p50 {statistics.median(times):.1f} ms, p95 {percentile(times, 95):.1f} ms, max {max(times):.1f} ms"
        )


# -- 2. the resolver at scale --------------------------------------------------------------------------------------


def load_book(customers: int, distinct: bool) -> list:
    """Load *customers* customers with memberships of GROUPS groups; return their ids."""
    from django.db import connection

    from customers.models import Customer
    from groups.models import Group, Membership

    tag = "D" if distinct else "R"
    groups = [Group.objects.create(name=f"Segment {tag}{g}") for g in range(GROUPS)]
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO {Customer._meta.db_table} (id, name, external_id, created_at, updated_at)
            SELECT gen_random_uuid(), 'Customer ' || g, %s || g, now(), now() FROM generate_series(1, %s) AS g
            """,
            [f"EXT-{tag}-", customers],
        )
        cur.execute(f"SELECT id FROM {Customer._meta.db_table} WHERE external_id LIKE %s ORDER BY id", [f"EXT-{tag}-%"])
        ids = [row[0] for row in cur.fetchall()]
        group_ids = [str(g.pk) for g in groups]
        month = (MONTH_END - MONTH_START).total_seconds()
        if distinct:
            # Every customer joins one group at its own moment of the month: no two timelines alike.
            cur.execute(
                f"""
                INSERT INTO {Membership._meta.db_table} (id, customer_id, group_id, joined_at, left_at)
                SELECT gen_random_uuid(), c.id, (%s::uuid[])[1 + (c.n %% {GROUPS})],
                       %s::timestamptz + (c.n * %s / %s) * interval '1 second', NULL
                FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {Customer._meta.db_table}
                      WHERE external_id LIKE %s) AS c
                """,
                [group_ids, MONTH_START, month, customers + 1, f"EXT-{tag}-%"],
            )
        else:
            # Two groups each, joined long ago; 10% join a third group and 5% leave one during the month.
            cur.execute(
                f"""
                INSERT INTO {Membership._meta.db_table} (id, customer_id, group_id, joined_at, left_at)
                SELECT gen_random_uuid(), c.id, (%s::uuid[])[1 + ((c.n + k) %% {GROUPS})], %s,
                       CASE WHEN k = 0 AND c.n %% 20 = 0
                            THEN %s::timestamptz + (c.n %% 1000) * interval '37 minutes' END
                FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {Customer._meta.db_table}
                      WHERE external_id LIKE %s) AS c, generate_series(0, 1) AS k
                UNION ALL
                SELECT gen_random_uuid(), c.id, (%s::uuid[])[1 + ((c.n + 7) %% {GROUPS})],
                       %s::timestamptz + (c.n %% 997) * interval '41 minutes', NULL
                FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {Customer._meta.db_table}
                      WHERE external_id LIKE %s) AS c WHERE c.n %% 10 = 0
                """,
                [group_ids, LONG_AGO, MONTH_START, f"EXT-{tag}-%", group_ids, MONTH_START, f"EXT-{tag}-%"],
            )
        cur.execute(f"ANALYZE {Customer._meta.db_table}")
        cur.execute(f"ANALYZE {Membership._meta.db_table}")
    return ids, groups


def load_prices(groups, tag: str, own_for: list) -> None:
    from pricing.models import PriceList, Rate

    base = 20_000 if tag == "R" else 30_000
    lists = [PriceList(name=f"Default {tag}{i}", currency="EUR", priority=base + i) for i in range(2)]
    lists += [
        PriceList(name=f"Segment {tag}{g} prices", currency="EUR", group=group, priority=base + 10 + g)
        for g, group in enumerate(groups)
    ]
    lists += [PriceList(name=f"Own {tag}{i}", currency="EUR", customer_id=c, priority=0) for i, c in enumerate(own_for)]
    PriceList.objects.bulk_create(lists)
    rates = []
    for n, pl in enumerate(lists):
        for c, code in enumerate(CODES):
            if pl.group_id is not None and (n + c) % 2:
                continue  # group lists price some codes; the defaults price all
            rates.append(unit_rate(pl, code, LONG_AGO, "0.05"))
            if pl.group_id is not None and c == 0:
                rates.append(unit_rate(pl, code, MONTH_START + timedelta(days=14, hours=n), "0.06"))  # mid-month
    Rate.objects.bulk_create(rates)


def bench_stretches(customers: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pricing.resolver import rate_stretches

    for distinct in (False, True):
        tag = "D" if distinct else "R"
        began = time.monotonic()
        ids, groups = load_book(customers, distinct)
        load_prices(groups, tag, own_for=ids[:: max(1, customers // 1000)])
        label = "every timeline distinct (worst case)" if distinct else "realistic book"
        print(
            f"\n2. rate_stretches, {customers:,} customers, March 2026, every code — {label} "
            f"(loaded in {time.monotonic() - began:.0f} s)"
        )
        for run in range(3):
            with CaptureQueriesContext(connection) as queries:
                began, cpu = time.perf_counter(), time.process_time()
                result = rate_stretches(customer_ids=ids, start=MONTH_START, end=MONTH_END)
                seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
            database = sum(float(q["time"]) for q in queries.captured_queries)
            stretches = sum(len(v) for codes in result.values() for v in codes.values())
            unpriced = sum(1 for codes in result.values() for v in codes.values() for s in v if s.rate is None)
            print(
                f"   run {run + 1}: {seconds:.2f} s ({cpu:.2f} s CPU in Python, {database:.2f} s in queries), "
                f"{len(queries)} queries, {len(result):,} customers, "
                f"{stretches:,} stretches ({unpriced:,} unpriced), {customers / seconds:,.0f} customers/s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    os.environ.update(
        DATABASE_URL=DATABASE_URL,
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-" + "x" * 50),
        ALLOWED_HOSTS="testserver,localhost",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="billingengine.settings",
    )
    recreate_database(DATABASE_URL)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(
        f"PostgreSQL {DATABASE_URL.rsplit('/', 1)[-1]}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the start (other work on the machine slows every figure)"
    )
    bench_explain(args.requests)
    bench_stretches(args.customers)


if __name__ == "__main__":
    main()
