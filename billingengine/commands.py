"""Pieces shared by the management commands."""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError


def user_by_username(username: str | None) -> AbstractBaseUser | None:
    """Return the user named by a command's `--user` option (None when not given); CommandError if unknown."""
    if not username:
        return None
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        raise CommandError(f"No user '{username}'.")
    return user


class EpilogCommand(BaseCommand):
    """A command whose `--help` ends with its `epilog` (a file format, examples), line breaks kept."""

    epilog = ""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        parser.epilog = self.epilog
        return parser
