"""Write customers as CSV or JSON Lines in the format import_customers reads."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from billingengine.errors import DomainError
from billingengine.progress import progress_bar
from customers.importing.reading import detect_format
from customers.importing.validation import COUNTRY_CODES
from customers.models import Customer
from groups.customer_export import export_customers
from groups.references import GroupResolver


class Command(BaseCommand):
    help = (
        "Export customers (all, or those in a group or country) as CSV or JSON Lines, streaming with flat memory; "
        "the output imports back unchanged with import_customers. "
        "Example: manage.py export_customers --group VIP --country GB --output vip-gb.csv"
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write (default: stdout).")
        parser.add_argument(
            "--format",
            choices=("csv", "jsonl"),
            help="Output format (default: jsonl for a .jsonl/.ndjson/.json --output, else csv).",
        )
        parser.add_argument("--group", help="Only current members of this group (name or id), e.g. VIP.")
        parser.add_argument("--country", help="Only customers in this ISO 3166-1 alpha-2 country, e.g. GB.")
        parser.add_argument(
            "--group-format",
            choices=("ids", "names"),
            default="ids",
            help="How the groups column lists groups: ids (default, exact round trip) or names (readable; "
            "refused if a name contains ';' or '|').",
        )

    def handle(self, *args, **options):
        fmt = detect_format(options["output"] or "", options["format"])
        group = None
        if options["group"]:
            group_id = GroupResolver().resolve(options["group"].strip())
            if group_id is None:
                raise CommandError(f"Unknown group '{options['group']}' (give a name or an id).")
            group = group_id
        country = (options["country"] or "").strip().upper() or None
        if country is not None and country not in COUNTRY_CODES:
            raise CommandError(f"'{options['country']}' is not an ISO 3166-1 alpha-2 country code.")
        # The total is known cheaply only for a full export; filtered exports show a count without a total.
        total = Customer.objects.count() if sys.stderr.isatty() and not (group or country) else None
        try:
            stream = open(options["output"], "w", encoding="utf-8", newline="") if options["output"] else _Stdout(self)  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"Cannot write {options['output']}: {error.strerror or error}.") from error
        try:
            with progress_bar(total=total, desc="Exporting", unit="customers") as bar:
                count = export_customers(
                    stream,
                    fmt=fmt,
                    group=group,
                    country=country,
                    group_format=options["group_format"],
                    on_progress=bar.update,
                )
        except DomainError as error:
            raise CommandError(error.detail) from error
        finally:
            if options["output"]:
                stream.close()
        if options["output"]:
            self.stdout.write(self.style.SUCCESS(f"Exported {count} customers to {options['output']}."))
        else:
            self.stderr.write(self.style.SUCCESS(f"Exported {count} customers."))


class _Stdout:
    """The command's stdout without the line ending Django's OutputWrapper adds to each write."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command

    def write(self, text: str) -> None:
        self.command.stdout.write(text, ending="")

    def close(self) -> None:
        self.command.stdout.flush()
