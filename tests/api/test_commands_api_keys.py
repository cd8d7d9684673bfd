from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from billingengine.models import ApiKey
from billingengine.services import api_key_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def test_create_then_list_shows_prefix_name_user_and_status_but_never_the_key():
    UserFactory(username="alice")
    key = run("create_api_key", "alice", name="crm-sync").strip()
    prefix = key.split(".")[0]

    listing = run("list_api_keys")

    assert prefix in listing and "crm-sync" in listing and "alice" in listing and "active" in listing
    assert key not in listing


def test_list_filters_by_user_and_active():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    revoked, _ = api_key_create(user=alice, name="old")
    ApiKey.objects.filter(pk=revoked.pk).update(revoked=True)
    api_key_create(user=bob, name="bobs")

    assert "old" in run("list_api_keys", user="alice") and "bobs" not in run("list_api_keys", user="alice")
    assert "old" not in run("list_api_keys", active=True)
    assert "revoked" in run("list_api_keys", user="alice")


def test_revoke_api_key_by_prefix_or_whole_key_and_again_is_harmless():
    api_key, key = api_key_create(user=UserFactory(username="alice"), name="crm")

    out = run("revoke_api_key", key)
    again = run("revoke_api_key", api_key.prefix)

    assert f"Revoked API key {api_key.prefix}" in out
    assert "was already revoked" in again
    api_key.refresh_from_db()
    assert api_key.revoked


def test_revoked_key_no_longer_authenticates(anon):
    api_key, key = api_key_create(user=UserFactory(username="root", is_superuser=True), name="crm")
    run("revoke_api_key", api_key.prefix)
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert anon.get("/api/v1/customers").status_code == 401


def test_revoke_unknown_prefix_is_a_clear_error():
    with pytest.raises(CommandError, match="No API key with prefix 'nope1234'"):
        run("revoke_api_key", "nope1234")


def test_list_api_keys_for_an_unknown_user_is_a_command_error():
    """Bug: `list_api_keys --user <unknown>` printed an empty table and succeeded; other commands refuse."""
    with pytest.raises(CommandError, match="No user 'nobody'"):
        run("list_api_keys", user="nobody")
