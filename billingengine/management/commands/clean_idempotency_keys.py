"""Delete stored Idempotency-Key responses older than IDEMPOTENCY_KEY_TTL_HOURS."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from billingengine.idempotency import idempotency_clean


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than IDEMPOTENCY_KEY_TTL_HOURS (run it daily, e.g. from cron)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")

    def handle(self, *args, dry_run: bool = False, **options):
        count = idempotency_clean(dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        hours = settings.IDEMPOTENCY_KEY_TTL_HOURS
        self.stdout.write(self.style.SUCCESS(f"{verb} {count} idempotency record(s) older than {hours} h."))
