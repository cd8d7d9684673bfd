"""Change customers' external ids from a mapping file, all or nothing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billingengine.commands import user_by_username
from billingengine.errors import ImportFailed
from customers.rekeying import customers_rekey, read_mapping


class Command(BaseCommand):
    help = (
        "Re-key customers: the one sanctioned way to change external ids (e.g. after a CRM migration). "
        "MAPPING is a CSV with the header old_external_id,new_external_id. All or nothing: an unknown old id, a new "
        "id that another customer has, ids repeated in the file, and chains or swaps (a new id that another line "
        "re-keys away; do those in two runs via temporary ids) are refused with their line numbers. Each change "
        "gets a change-history row (reason rekey_customers); lines already applied are skipped, so a second run "
        "changes nothing. Example: manage.py rekey_customers crm-migration.csv --dry-run"
    )

    def add_arguments(self, parser):
        parser.add_argument("mapping", help="CSV file with the header old_external_id,new_external_id.")
        parser.add_argument("--dry-run", action="store_true", help="Check the mapping and report; change nothing.")
        parser.add_argument("--user", help="Username recorded as the author in the change history (e.g. alice).")

    def handle(self, *args, mapping: str, dry_run: bool, **options):
        user = user_by_username(options["user"])
        try:
            with open(mapping, encoding="utf-8-sig", newline="") as stream:
                result = customers_rekey(read_mapping(stream), dry_run=dry_run, user=user)
        except OSError as error:
            raise CommandError(f"Cannot read {mapping}: {error.strerror or error}.") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{mapping} is not UTF-8 text ({error.reason}); nothing was re-keyed.") from error
        except ImportFailed as error:
            errors = error.extra.get("errors") or []
            listed = "".join(f"\n  {e}" for e in errors[:50])
            more = f"\n  … and {len(errors) - 50} more" if len(errors) > 50 else ""
            raise CommandError(f"{error.detail}{listed}{more}") from error
        verb = "Dry run, nothing changed; would have re-keyed" if dry_run else "Re-keyed"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} {result.rekeyed} customer(s); {result.already_done} line(s) already done.")
        )
