"""Fill the database with realistic demo customers, groups and memberships."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from billingengine.bulk import vacuum_analyze
from billingengine.progress import progress_bar
from groups.demo import DEMO_PREFIX, seed_demo


class Command(BaseCommand):
    help = (
        "Create realistic demo data: groups, customers (company names, addresses, ISO countries, VAT-like ids) "
        "and their current memberships, in one transaction. Fast: PostgreSQL COPY in chunks; seeding writes no "
        "change-history rows (it is demo data, not anyone's change). External ids continue after the highest "
        "existing one with the same prefix, so seeding again adds customers. A large seed (100k+) into smaller "
        "tables drops their secondary indexes and rebuilds them once at the end, which locks the tables until it "
        "commits. "
        "Example: manage.py seed_demo --customers 1000000 --groups 100 --memberships-per-customer 3"
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000, help="Number of customers to create (default 1000).")
        parser.add_argument(
            "--groups",
            type=int,
            default=10,
            help="Number of demo groups to use; existing groups with the demo names are reused (default 10).",
        )
        parser.add_argument(
            "--memberships-per-customer",
            type=float,
            default=3.0,
            help="Average current memberships per customer, spread from 0 to twice this and capped at --groups; "
            "popular groups get more members (default 3).",
        )
        parser.add_argument(
            "--prefix", default=DEMO_PREFIX, help=f"external_id prefix (default '{DEMO_PREFIX}', e.g. DEMO-000000001)."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for reproducible data (e.g. 42).")
        parser.add_argument(
            "--chunk-size", type=int, default=20_000, help="Customers written per COPY/bulk insert (default 20000)."
        )

    def handle(self, *args, customers: int, groups: int, memberships_per_customer: float, **options):
        if customers < 0 or groups < 0:
            raise CommandError("--customers and --groups must be 0 or more.")
        if memberships_per_customer < 0:
            raise CommandError("--memberships-per-customer must be 0 or more.")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        prefix = options["prefix"].strip()
        if not prefix or len(prefix) > 200:
            raise CommandError("--prefix must be 1 to 200 characters.")
        started = time.monotonic()
        with progress_bar(total=customers, desc="Seeding customers", unit="customers") as bar:
            result = seed_demo(
                customers=customers,
                groups=groups,
                memberships_per_customer=memberships_per_customer,
                prefix=prefix,
                seed=options["seed"],
                chunk_size=options["chunk_size"],
                on_progress=bar.update,
            )
        vacuum_analyze(["customers_customer", "groups_membership"])
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.customers} customers, {result.memberships} memberships "
                f"in {result.groups} groups in {elapsed:.1f}s."
            )
        )
