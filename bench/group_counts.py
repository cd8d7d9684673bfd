"""Time the customer-group list with member counts on a big membership table (run against PostgreSQL).

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/be_counts_bench
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_demo --customers 1000000 --groups 100
    .venv/bin/python bench/group_counts.py

Times three things, each warmed up once then --runs times, and prints the median / max milliseconds and the
ratio to the 50 ms goal: the admin's customer-group list page, the API's GET /api/v1/groups?page_size=50 (with
an API key), both through Django's test client (the whole stack in-process, no network), and the SQL of each
page's groups query with `customer_count` alone (executed and fetched). "CPU ms" is this process's CPU time
(Python: middleware, serializers, templates), which excludes the database's work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billingengine.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from billingengine.services import api_key_create  # noqa: E402
from groups.models import Group, Membership  # noqa: E402

GOAL_MS = 50.0


def timed(run, runs: int) -> tuple[float, float, float]:
    """Return the median and max wall-clock ms and the median ms of this process's CPU (no database time)."""
    run()
    timings, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(timings), max(timings), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per item (default 9)")
    args = parser.parse_args()

    memberships = Membership.objects.order_by().count()
    groups = Group.objects.order_by().count()
    print(
        f"database: {connection.vendor} {connection.settings_dict['NAME']}, {groups} groups, "
        f"{memberships:,} memberships"
    )

    user = get_user_model().objects.filter(username="bench-admin").first() or get_user_model().objects.create_superuser(
        "bench-admin", "bench@example.com", None
    )
    admin_client = Client(HTTP_HOST="localhost")
    admin_client.force_login(user)
    _, key = api_key_create(user=user, name="bench group counts")
    api_client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")

    def get(client: Client, url: str):
        def run():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return run

    def page_sql(size: int):
        def run():
            groups = Group.objects.with_customer_count().order_by("name", "id")
            list(groups.values("id", "name", "customer_count")[:size])

        return run

    items = {
        "admin customer-group list": get(admin_client, reverse("admin:groups_group_changelist")),
        "API GET /api/v1/groups?page_size=50": get(api_client, "/api/v1/groups?page_size=50"),
        "SQL of the API page (50 groups with customer_count)": page_sql(50),
        "SQL of the admin page (100 groups with customer_count)": page_sql(100),
    }
    print(f"{'item':<55} {'median ms':>10} {'max ms':>8} {'CPU ms':>7} {'vs 50 ms':>9}")
    worst = 0.0
    for label, run in items.items():
        median, most, cpu = timed(run, args.runs)
        worst = max(worst, median)
        print(f"{label:<55} {median:>10.1f} {most:>8.1f} {cpu:>7.1f} {median / GOAL_MS:>8.2f}x")
    print(f"slowest median: {worst:.1f} ms ({'within' if worst <= GOAL_MS else 'OVER'} the {GOAL_MS:.0f} ms goal)")
    return 0 if worst <= GOAL_MS else 2


if __name__ == "__main__":
    raise SystemExit(main())
