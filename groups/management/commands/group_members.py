"""Add or remove many customers to or from a group by external_id."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from billingengine.commands import user_by_username
from billingengine.errors import ImportFailed
from groups.bulk import group_members_change, read_external_ids
from groups.models import Group
from groups.references import GroupResolver


class Command(BaseCommand):
    help = (
        "Add customers to a group, or end their membership, from a list of external ids (one per line; blank "
        "lines, '#' comments and an 'external_id' header line are skipped; '-' reads stdin). All or nothing: "
        "unknown or repeated external ids are refused with their line numbers. Adding a member or removing a "
        "non-member changes nothing, so a second run is a no-op. Removed memberships end now and stay in the "
        "history. Example: manage.py group_members add VIP vip-customers.txt"
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=("add", "remove"), help="add: start memberships; remove: end them.")
        parser.add_argument("group", help="The group's name (ignoring case) or id, e.g. VIP.")
        parser.add_argument("file", help="File with one external_id per line; '-' reads stdin.")
        parser.add_argument("--dry-run", action="store_true", help="Check the list and report; change nothing.")
        parser.add_argument("--user", help="Username recorded as the author in the change history (e.g. alice).")

    def handle(self, *args, action: str, group: str, file: str, dry_run: bool, **options):
        group_id = GroupResolver().resolve(group.strip())
        if group_id is None:
            raise CommandError(f"Unknown group '{group}' (give a name or an id).")
        group_obj = Group.objects.get(pk=group_id)
        user = user_by_username(options["user"])
        try:
            if file == "-":
                lines = read_external_ids(sys.stdin)
            else:
                with open(file, encoding="utf-8-sig") as stream:
                    lines = read_external_ids(stream)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror or error}.") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{file} is not UTF-8 text ({error.reason}); nothing was changed.") from error
        try:
            result = group_members_change(
                group=group_obj, action=action, external_ids=lines, dry_run=dry_run, user=user
            )
        except ImportFailed as error:
            errors = error.extra.get("errors") or []
            listed = "".join(f"\n  {e}" for e in errors[:50])
            more = f"\n  … and {len(errors) - 50} more" if len(errors) > 50 else ""
            raise CommandError(f"{error.detail}{listed}{more}") from error
        done = "added to" if action == "add" else "removed from"
        prefix = "Dry run, nothing changed; would have " if dry_run else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix}{result.changed} customer(s) {done} '{group_obj.name}'; {result.unchanged} unchanged."
            )
        )
