"""Make sure a local admin user exists (used by `make run`)."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand

from billingengine.services import admin_user_ensure


class Command(BaseCommand):
    help = (
        "Make sure an admin user exists; a new one's password is printed once. "
        "Set ADMIN_USERNAME / ADMIN_PASSWORD / ADMIN_EMAIL to choose them."
    )

    def handle(self, *args, **options):
        username = os.environ.get("ADMIN_USERNAME") or "admin"
        _user, password = admin_user_ensure(
            username=username,
            password=os.environ.get("ADMIN_PASSWORD") or None,
            email=os.environ.get("ADMIN_EMAIL", ""),
        )
        if password is None:
            self.stdout.write(f"Admin user '{username}' exists (change its password with: manage.py changepassword).")
        elif os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write(
                self.style.SUCCESS(f"Created admin user '{username}' with the password from ADMIN_PASSWORD.")
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Created admin user '{username}' with password: {password}  (shown only this once)")
            )
