"""Shared fixtures: API clients authenticated by API keys of users with chosen permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from rest_framework.test import APIClient

from billingengine.services import api_key_create
from tests.factories import UserFactory

#: Queries an API-key request spends on authentication and permissions: one statement on PostgreSQL (key,
#: user and permission names together, billingengine/api/auth_queries.py); elsewhere key with user, then permissions.
AUTH_QUERIES = 1 if connection.vendor == "postgresql" else 2


def client_for(user) -> APIClient:
    """Return an API client sending a fresh API key of *user* as `Authorization: Bearer`."""
    _, key = api_key_create(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.api_key = key
    return client


def user_with_perms(*codenames: str, username: str | None = None):
    """Return a (non-superuser) user holding exactly the given `app_label.codename` permissions."""
    user = UserFactory(**({"username": username} if username else {}))
    for full in codenames:
        app_label, codename = full.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hash test users' passwords quickly; production keeps Django's slow default hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user_(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def api(admin_user_) -> APIClient:
    """A client with a key of a superuser: every permission."""
    return client_for(admin_user_)


@pytest.fixture
def readonly_api(db) -> APIClient:
    """A client with a key of a user that may only view customers, groups and memberships."""
    user = user_with_perms("customers.view_customer", "groups.view_group", "groups.view_membership")
    return client_for(user)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    """Skip `@pytest.mark.postgres` tests on SQLite, saying why (CI runs them on PostgreSQL)."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); CI runs it there")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hash test users' passwords with a fast hasher: the default one costs ~0.5 s per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
