"""Pieces shared by the management commands."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import CommandError


def user_by_username(username: str | None) -> AbstractBaseUser | None:
    """Return the user named by a command's `--user` option (None when not given); CommandError if unknown."""
    if not username:
        return None
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        raise CommandError(f"No user '{username}'.")
    return user
