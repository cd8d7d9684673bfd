"""Create an API key for a user and print it once."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billingengine.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an existing user; the key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the key acts as (its model permissions apply).")
        parser.add_argument("--name", default="", help="A label for the key, e.g. 'crm-sync' (default: 'cli').")

    def handle(self, *args, username: str, name: str, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist as error:
            raise CommandError(f"No user '{username}'; create one first (manage.py createsuperuser).") from error
        api_key, key = api_key_create(user=user, name=name or "cli")
        self.stderr.write(
            f"Created API key '{api_key.name}' (prefix {api_key.prefix}) for {username}. "
            "Store it now: it is shown only once. Send it as 'Authorization: Bearer <key>'."
        )
        self.stdout.write(key)
