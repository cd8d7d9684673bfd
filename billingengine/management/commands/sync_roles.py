"""Create the staff roles "Billing viewer" and "Billing operator" and give them their permissions."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

from billingengine.roles import OPERATOR, VIEWER, roles_sync


class Command(BaseCommand):
    help = (
        f"Create the staff permission groups “{VIEWER}” and “{OPERATOR}” if missing and add the permissions of "
        "all installed apps to them (only adds; `migrate` does this by itself). See billingengine/roles.py."
    )

    def handle(self, *args, **options):
        added = roles_sync(group_model=Group, permission_model=Permission)
        self.stdout.write(self.style.SUCCESS(f"Roles up to date; {added} permission(s) added."))
