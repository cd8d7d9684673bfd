"""Issue a period's bills for every customer with usage (or late usage) in it."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from billing.periods import parse_period, period_validate
from billing.runs import BATCH_SIZE, bill_run
from billingengine.errors import DomainError
from billingengine.progress import progress_bar
from customers.models import Customer

#: Batches issued at once on PostgreSQL: a batch's Python and its PostgreSQL backend take turns, so one
#: batch keeps about one core busy; two keep both cores of a 2-core machine busy.
DEFAULT_WORKERS = 2


class Command(BaseCommand):
    help = (
        "Issue the bills of a period for every customer with records (or late records) in it; customers already "
        "billed for it are skipped, so a re-run issues nothing new. "
        "Example: manage.py issue_bills --from 2026-03-01T00:00:00Z --to 2026-04-01T00:00:00Z"
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, help="Start of the period (RFC 3339, inclusive).")
        parser.add_argument("--to", dest="end", required=True, help="End of the period (RFC 3339, exclusive).")
        parser.add_argument("--customer", metavar="EXT", help="Only the customer with this external_id.")
        parser.add_argument("--dry-run", action="store_true", help="Compute the bills and report; write nothing.")
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help=f"Customers per transaction (default {BATCH_SIZE})."
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help=f"Batches issued at once, each on its own database connection (default {DEFAULT_WORKERS} on "
            "PostgreSQL; 1 on SQLite, which takes one writer at a time).",
        )

    def handle(self, *args, **options):
        try:
            start, end = _period(options["start"], options["end"])
        except DomainError as error:
            raise CommandError(error.detail) from error
        if not 1 <= options["batch_size"] <= 10_000:
            raise CommandError("--batch-size must be from 1 to 10,000.")
        postgres = connection.vendor == "postgresql"
        if options["workers"] is None:
            options["workers"] = DEFAULT_WORKERS if postgres else 1
        if not 1 <= options["workers"] <= 16:
            raise CommandError("--workers must be from 1 to 16.")
        if options["workers"] > 1 and not postgres:
            raise CommandError("--workers above 1 needs PostgreSQL: SQLite takes one writer at a time.")
        try:
            report, seconds = self._run(start, end, options)
        except DomainError as error:
            raise CommandError(error.detail) from error
        except DatabaseError as error:
            # Also when the database is down as the command starts (its first queries are the lookups).
            reason = " ".join(str(error).split()).rstrip(".?!") or type(error).__name__
            raise CommandError(
                f"The database failed and did not come back ({reason}). Bills issued so far are complete; "
                "run the same command again to bill the rest."
            ) from error
        for customer_id, reason in report.failed:
            self.stderr.write(f"Customer {customer_id}: not billed: {reason}")
        verb = "Would issue" if options["dry_run"] else "Issued"
        totals = ", ".join(f"{amount} {currency}" for currency, amount in sorted(report.totals.items())) or "none"
        numbers = f" (numbers {report.numbers[0]} to {report.numbers[1]})" if report.numbers else ""
        rate = report.customers / seconds if seconds else 0
        summary = (
            f"{verb} {report.issued:,} bills{numbers} for {start.isoformat()} to {end.isoformat()}; "
            f"{report.already_billed:,} customers already billed, {report.without_usage:,} without usage, "
            f"{len(report.failed):,} failed. Totals: {totals}. "
            f"{report.customers:,} customers in {seconds:.1f} s ({rate:,.0f}/s)."
        )
        self.stdout.write(self.style.ERROR(summary) if report.failed else self.style.SUCCESS(summary))
        if report.failed:
            raise CommandError(f"{len(report.failed)} customer(s) not billed; see above. A re-run retries them.")

    def _run(self, start, end, options):
        """Look the customers up and run the bills; return (report, seconds)."""
        customer_ids = None
        if options["customer"]:
            found = list(Customer.objects.filter(external_id=options["customer"].strip()).values_list("pk", flat=True))
            if not found:
                raise CommandError(f"No customer with external_id '{options['customer']}'.")
            customer_ids = found
        total = len(customer_ids) if customer_ids else Customer.objects.count()
        began = time.monotonic()
        with progress_bar(total=total, desc="Billing", unit="customers") as bar:
            report = bill_run(
                start=start,
                end=end,
                customer_ids=customer_ids,
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                on_batch=bar.update,
                workers=options["workers"],
            )
        return report, time.monotonic() - began


def _period(raw_start: str, raw_end: str):
    start, end = parse_period({"from": raw_start, "to": raw_end})
    period_validate(start=start, end=end, must_have_ended=True)
    return start, end
