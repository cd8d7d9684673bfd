"""Helpers for admin tests: staff users with chosen permissions, the admin's URLs and messages."""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from tests.conftest import user_with_perms


def staff_client(*codenames: str) -> Client:
    """Return a test client signed in as a staff user holding exactly the given permissions."""
    user = user_with_perms(*codenames)
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def url(name: str, *args) -> str:
    """Return the admin URL named *name* (e.g. "customers_customer_changelist")."""
    return reverse(f"admin:{name}", args=args)


def messages_of(response) -> list[str]:
    """Return the texts of the messages the response carries."""
    return [str(m) for m in get_messages(response.wsgi_request)]
