"""Create and update price lists and rates from a JSON catalogue, all or nothing."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from django.core.management.base import CommandError

from billingengine.commands import EpilogCommand
from pricing.catalogue import CatalogueInvalid, catalogue_import


class Command(EpilogCommand):
    help = "Create and update price lists and rates from a JSON catalogue (or stdin), all or nothing."
    epilog = """
The file is what export_price_lists writes:
  {"version": 1, "price_lists": [{"name", "description", "currency", "group" (a group's name or null),
   "customer" (a customer's external_id or null), "priority",
   "rates": [{"code", "model", "valid_from", "unit_price" | "tiers" | "package_size" + "package_price"}]}]}
Lists are matched by name (ignoring case) and updated; rates are matched by code and valid_from: a new one is
added, an identical one is left alone, one with other terms is an error (rates are immutable). Lists and rates
not in the file stay as they are. Running the same file twice changes nothing the second time.

Examples:
  manage.py export_price_lists -o prices.json            # on staging
  manage.py import_price_lists prices.json --dry-run     # on production: check first
  manage.py import_price_lists prices.json
"""

    def add_arguments(self, parser):
        parser.add_argument("file", help="The JSON catalogue; '-' reads stdin.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check everything and report what would change; write nothing."
        )

    def handle(self, *args, file: str, dry_run: bool, **options):
        try:
            if file == "-":
                text = sys.stdin.read()
            else:
                with open(file, encoding="utf-8") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        try:
            # Decimals stay exact: a JSON number such as 0.1 is read as Decimal("0.1"), never as a float.
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{file}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}."
            ) from error
        except RecursionError as error:
            raise CommandError(f"{file}: the JSON is nested too deeply.") from error
        try:
            summary = catalogue_import(data=data, dry_run=dry_run)
        except CatalogueInvalid as error:
            raise CommandError(error.listing()) from error
        verb = "Would" if dry_run else "Did"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} create {summary.lists_created}, update {summary.lists_updated} and leave "
                f"{summary.lists_unchanged} price list(s) unchanged; create {summary.rates_created} rate(s), "
                f"{summary.rates_unchanged} already there." + (" Dry run: nothing was written." if dry_run else "")
            )
        )
