"""Time the admin's customer pages on a big table (run against PostgreSQL with ~1,000,000 customers).

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/billingengine_admin
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_demo --customers 1000000 --groups 100
    .venv/bin/python bench/admin_pages.py

(bench/admin_seed.sql is the older, plain-SQL way to load 1M customers without groups.)
The customer list pages by position (keyset): "page 50" is the page after the 2,450th customer and "row
900,000" the page after the 900,000th, reached with `?after=<position>` as the list's Next link does.

Signs in a (created if missing) superuser with Django's test client, requests each page once to warm
up, then --runs times, and prints median / max milliseconds per page and the ratio to the 300 ms goal.
The client runs the whole Django stack (middleware, admin, templates) in-process, without a network.
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
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from billingengine.admin import encode_cursor  # noqa: E402
from customers.models import Customer  # noqa: E402
from groups.models import Group  # noqa: E402

GOAL_MS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed requests per page (default 7)")
    args = parser.parse_args()

    total = Customer.objects.order_by().count()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}, customers: {total:,}")
    if total < 100_000:
        print("warning: fewer than 100,000 customers; load bench/admin_seed.sql first", file=sys.stderr)

    User = get_user_model()
    user = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench@example.com", None
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)

    middle = Customer.objects.order_by("created_at", "id")[total // 2 : total // 2 + 1].get()
    group = Group.objects.order_by("name").first()
    changelist = reverse("admin:customers_customer_changelist")

    def after(row_number: int, order: str = "created_at") -> str:
        """The list's URL of the page after the *row_number*-th customer (newest first), as its Next link gives."""
        ordering = ("-created_at", "-id") if order == "created_at" else ("name", "id")
        row = Customer.objects.order_by(*ordering).only(order)[row_number - 1 : row_number].get()
        sort = "" if order == "created_at" else "o=1&"
        return f"{changelist}?{sort}after={encode_cursor(getattr(row, order), row.pk)}"

    pages = {
        "admin index": reverse("admin:index"),
        "customer list (unfiltered, page 1)": changelist,
        "customer list, page 50 (after row 2,450)": after(2450),
        "customer list, after row 900,000": after(min(900_000, total - 1)),
        "customer list by name, after row 500,000": after(min(500_000, total - 1), "name"),
        f"search exact external_id {middle.external_id}": f"{changelist}?q={middle.external_id}",
        "search name contains 'customer 12345'": f"{changelist}?q=customer+12345",
        "customer change page": reverse("admin:customers_customer_change", args=[middle.pk]),
        "customer history page": reverse("admin:customers_customer_history", args=[middle.pk]),
        "customer list filtered by country DE": f"{changelist}?address_country=DE",
    }
    if group is not None:
        pages[f"customer list filtered by group '{group.name}'"] = f"{changelist}?group={group.pk}"
        pages["customer group list (with member counts)"] = reverse("admin:groups_group_changelist")
    pages["membership list"] = reverse("admin:groups_membership_changelist")
    if group is not None:
        pages["membership list filtered by group"] = f"{reverse('admin:groups_membership_changelist')}?group={group.pk}"
    pages["data record list"] = reverse("admin:records_datarecord_changelist")
    pages["API key list"] = reverse("admin:billingengine_apikey_changelist")

    print(f"{'page':<55} {'median ms':>10} {'max ms':>8} {'queries':>8} {'vs 300 ms':>10}")
    worst = 0.0
    for label, url in pages.items():
        response = client.get(url)
        if response.status_code != 200:
            print(f"{label:<55} HTTP {response.status_code}", file=sys.stderr)
            return 1
        timings = []
        for _ in range(args.runs):
            reset_queries()
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        queries = len(connection.queries) if connection.queries_logged else "-"
        median = statistics.median(timings)
        worst = max(worst, median)
        print(f"{label:<55} {median:>10.1f} {max(timings):>8.1f} {queries!s:>8} {median / GOAL_MS:>9.2f}x")
    print(f"slowest median: {worst:.1f} ms ({'within' if worst < GOAL_MS else 'OVER'} the {GOAL_MS:.0f} ms goal)")
    return 0 if worst < GOAL_MS else 2


if __name__ == "__main__":
    raise SystemExit(main())
