"""Upsert customers by external_id from a CSV or JSON Lines file."""

from __future__ import annotations

import io
import sys
import time

from django.core.management.base import CommandError
from django.db import connection

from billingengine.commands import EpilogCommand, user_by_username
from billingengine.errors import ImportFailed
from billingengine.progress import progress_bar
from customers.importing.reading import COLUMNS, detect_format, read_csv, read_jsonl
from groups.customer_import import import_customers

#: Bad rows listed in the error message; all of them (up to 1000) go to stderr.
ERRORS_IN_MESSAGE = 20


class Command(EpilogCommand):
    help = "Create and update customers by external_id from a CSV or JSON Lines file (or stdin), all or nothing."
    epilog = f"""
Columns (CSV header or JSON keys):
  {", ".join(COLUMNS)}.
Only name and external_id are required; a column the file does not have is left as it is on existing
customers. An empty cell clears a field. Values follow the API's rules: trimmed, address_country an
ISO 3166-1 alpha-2 code (any case), length limits, no control characters.
The groups column lists group names (ignoring case) or ids separated by ';' or '|' (a JSON list in JSON Lines)
and replaces the customer's current groups: memberships that stay keep their start, removed ones end now.
Every created or changed customer and membership gets a change-history row (reason "import_customers").
Running the same file twice changes nothing the second time.

Examples:
  manage.py import_customers crm.csv --dry-run
  manage.py import_customers crm.csv --skip-invalid --user alice
  crm-export | manage.py import_customers - --format jsonl
"""

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV (with a header row) or JSON Lines file; '-' reads stdin.")
        parser.add_argument(
            "--format",
            choices=("csv", "jsonl"),
            help="Input format (default: jsonl for .jsonl/.ndjson/.json files, else csv; stdin is csv).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check everything and report what would change; write nothing."
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the good rows and list the bad ones (default: one bad row means nothing is written).",
        )
        parser.add_argument(
            "--allow-missing-external-id",
            action="store_true",
            help="Accept rows without external_id; each creates a new customer (so such rows are not idempotent).",
        )
        parser.add_argument("--user", help="Username recorded as the author in the change history (e.g. alice).")
        parser.add_argument(
            "--method",
            choices=("auto", "copy", "orm"),
            default="auto",
            help="Write path: copy (PostgreSQL COPY into a staging table), orm (bulk ORM), auto (default).",
        )

    def handle(self, *args, file: str, **options):
        user = user_by_username(options["user"])
        if options["method"] == "copy" and connection.vendor != "postgresql":
            raise CommandError("--method copy needs PostgreSQL; use --method orm (or auto) on this database.")
        fmt = detect_format("" if file == "-" else file, options["format"])
        started = time.monotonic()
        try:
            stream = self._open(file)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror or error}.") from error
        try:
            with stream, progress_bar(total=None, desc="Importing", unit="rows") as bar:
                rows = read_csv(stream) if fmt == "csv" else read_jsonl(stream)
                result = import_customers(
                    rows,
                    dry_run=options["dry_run"],
                    skip_invalid=options["skip_invalid"],
                    allow_missing_external_id=options["allow_missing_external_id"],
                    user=user,
                    method=options["method"],
                    on_progress=bar.update,
                )
        except UnicodeDecodeError as error:
            raise CommandError(
                f"{file} is not UTF-8 text ({error.reason} at byte {error.start}); nothing written."
            ) from error
        except ImportFailed as error:
            errors = error.extra.get("errors") or []
            # Each bad line is reported once: the first ones in the message, any further ones on stderr.
            for row_error in errors[ERRORS_IN_MESSAGE:]:
                self.stderr.write(str(row_error))
            listed = "\n".join(f"  {e}" for e in errors[:ERRORS_IN_MESSAGE])
            extra = len(errors) - ERRORS_IN_MESSAGE
            more = f"\n  … and {extra} more (listed above)" if extra > 0 else ""
            raise CommandError(f"{error.detail}\n{listed}{more}" if errors else error.detail) from error
        for row_error in result.errors:
            self.stderr.write(f"skipped {row_error}")
        elapsed = time.monotonic() - started
        total = result.created + result.updated + result.unchanged + result.rejected
        verb = "Dry run, nothing written; would have" if result.dry_run else "Imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb}: {result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
                f"{result.rejected} rejected ({total} rows in {elapsed:.1f}s)."
            )
        )

    def _open(self, file: str):
        if file == "-":
            if hasattr(sys.stdin, "buffer"):
                return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
            return sys.stdin
        return open(file, encoding="utf-8-sig", newline="")
