"""Writes on API keys and local users; the admin and the commands call these."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from billingengine.errors import InvalidInput, NotFound
from billingengine.models import ApiKey


@transaction.atomic
def api_key_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiKey, str]:
    """Create an API key for *user*; return it with the plain key, which is not stored anywhere."""
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise InvalidInput("The key's name must be 1 to 50 characters.", field="name")
    return ApiKey.objects.create_key(user=user, name=name)


@transaction.atomic
def api_key_revoke(*, prefix: str) -> ApiKey:
    """Revoke the key with *prefix*; a revoked key cannot be used again."""
    api_key = ApiKey.objects.filter(prefix=prefix).select_for_update().first()
    if api_key is None:
        raise NotFound(f"No API key with prefix '{prefix}'.")
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key


@transaction.atomic
def admin_user_ensure(*, username: str, password: str | None, email: str = "") -> tuple[AbstractBaseUser, str | None]:
    """Make sure a superuser *username* exists; return it and the password when one was just set.

    An existing user is left as it is (its password is not reset).
    """
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
    if user is not None:
        return user, None
    password = password or secrets.token_urlsafe(12)
    user = User.objects.create_superuser(username=username, email=email, password=password)
    user.last_login = None
    user.date_joined = timezone.now()
    user.save()
    return user, password
