"""List API keys (never the keys themselves: only their public prefixes)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from billingengine.commands import user_by_username
from billingengine.models import ApiKey


class Command(BaseCommand):
    help = (
        "List API keys: prefix, name, user, status, created, expires and last used. Keys cannot be shown again; "
        "the prefix identifies a key for revoke_api_key. Example: manage.py list_api_keys --user alice --active"
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Only keys of this username (an unknown username is an error).")
        parser.add_argument("--active", action="store_true", help="Only usable keys (not revoked, not expired).")

    def handle(self, *args, user: str | None, active: bool, **options):
        keys = ApiKey.objects.select_related("user").order_by("created", "prefix")
        owner = user_by_username(user)
        if owner is not None:
            keys = keys.filter(user=owner)
        now = timezone.now()
        rows = []
        for key in keys:
            expired = key.expiry_date is not None and key.expiry_date <= now
            status = "revoked" if key.revoked else "expired" if expired else "active"
            if active and status != "active":
                continue
            rows.append(
                (
                    key.prefix,
                    key.name,
                    key.user.get_username(),
                    status,
                    f"{key.created:%Y-%m-%d %H:%M}",
                    f"{key.expiry_date:%Y-%m-%d %H:%M}" if key.expiry_date else "never",
                    f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
                )
            )
        header = ("PREFIX", "NAME", "USER", "STATUS", "CREATED", "EXPIRES", "LAST USED")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        self.stderr.write(f"{len(rows)} key(s).")
