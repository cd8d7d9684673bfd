"""Write every price list with its rates as one JSON catalogue."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from pricing.catalogue import CatalogueInvalid, catalogue_export


class Command(BaseCommand):
    help = "Write every price list with its rates as a JSON catalogue (for import_price_lists elsewhere)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", default="-", help="File to write; '-' (default) writes stdout.")

    def handle(self, *args, output: str, **options):
        try:
            catalogue = catalogue_export()
        except CatalogueInvalid as error:
            raise CommandError(error.listing()) from error
        text = json.dumps(catalogue, indent=2, ensure_ascii=False) + "\n"
        if output == "-":
            self.stdout.write(text, ending="")
        else:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        lists = catalogue["price_lists"]
        rates = sum(len(pl["rates"]) for pl in lists)
        self.stderr.write(self.style.SUCCESS(f"Exported {len(lists)} price list(s) with {rates} rate(s)."))
