"""Revoke an API key by its prefix."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billingengine.errors import NotFound
from billingengine.models import ApiKey
from billingengine.services import api_key_revoke


class Command(BaseCommand):
    help = (
        "Revoke an API key by its prefix (see list_api_keys); it stops working at once and cannot be re-enabled. "
        "Revoking a revoked key changes nothing. Example: manage.py revoke_api_key Ab3dE9xQ"
    )

    def add_arguments(self, parser):
        parser.add_argument("prefix", help="The key's prefix: its first 8 characters, as list_api_keys shows.")

    def handle(self, *args, prefix: str, **options):
        prefix = prefix.strip().split(".")[0]
        was_revoked = ApiKey.objects.filter(prefix=prefix, revoked=True).exists()
        try:
            api_key = api_key_revoke(prefix=prefix)
        except NotFound as error:
            raise CommandError(f"{error.detail} List the keys with: manage.py list_api_keys") from error
        if was_revoked:
            self.stdout.write(f"API key {api_key.prefix} ('{api_key.name}', {api_key.user}) was already revoked.")
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Revoked API key {api_key.prefix} ('{api_key.name}', {api_key.user}).")
            )
