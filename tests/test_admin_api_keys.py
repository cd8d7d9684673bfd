"""API keys in the admin: created for a user (shown once), listed with owner and last use, revoked."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from billingengine.models import ApiKey
from billingengine.services import api_key_create, api_key_revoke
from tests.admin_helpers import messages_of, staff_client, url
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_creating_a_key_shows_it_once_and_it_works_for_the_api(admin_client):
    owner = UserFactory(username="crm")
    owner.user_permissions.add(Permission.objects.get(codename="view_customer"))

    response = admin_client.post(url("billingengine_apikey_add"), {"user": owner.pk, "name": "crm-sync"})

    assert response.status_code == 302
    [message] = [m for m in messages_of(response) if " is: " in m]
    # In a monospace box with a Copy button.
    key = re.search(
        r'<code class="api-key-once" id="new-api-key">(\S+)</code><button[^>]*data-copy="#new-api-key"', message
    )
    key = key.group(1)
    stored = ApiKey.objects.get()
    assert (stored.name, stored.user) == ("crm-sync", owner)
    assert key not in stored.hashed_key and stored.hashed_key.startswith("sha256$$")
    assert bearer(key).get("/api/v1/customers").status_code == 200
    # Shown on the page after the redirect, then never again (not even on the key's own page).
    assert key in admin_client.get(response["Location"]).content.decode()
    assert key not in admin_client.get(url("billingengine_apikey_change", stored.pk)).content.decode()


def test_a_key_needs_a_name_and_a_user(admin_client):
    response = admin_client.post(url("billingengine_apikey_add"), {"user": "", "name": "  "})
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"user", "name"}
    assert not ApiKey.objects.exists()


def test_key_list_shows_name_owner_created_and_last_used(admin_client):
    owner = UserFactory(username="integration")
    api_key, key = api_key_create(user=owner, name="billing-export")
    bearer(key).get("/api/v1/customers")  # sets last_used_at (the request itself is 403: no permissions)

    response = admin_client.get(url("billingengine_apikey_changelist"))

    html = response.content.decode()
    assert "billing-export" in html and "integration" in html and api_key.prefix in html
    row = response.context["cl"].result_list[0]
    assert row.last_used_at is not None and row.created is not None
    assert "Last used at" in html


def test_revoking_a_key_stops_it_working(admin_client):
    api_key, key = api_key_create(user=UserFactory(is_superuser=True), name="old")
    assert bearer(key).get("/api/v1/customers").status_code == 200

    response = admin_client.post(
        url("billingengine_apikey_changelist"), {"action": "revoke_selected", "_selected_action": [api_key.pk]}
    )

    assert response.status_code == 302
    assert messages_of(response)[0].startswith("Revoked 1 API key(s)")
    api_key.refresh_from_db()
    assert api_key.revoked
    assert bearer(key).get("/api/v1/customers").status_code == 401


def test_a_keys_page_is_read_only(admin_client):
    api_key, _ = api_key_create(user=UserFactory(), name="fixed")
    response = admin_client.post(url("billingengine_apikey_change", api_key.pk), {"name": "renamed"})
    assert response.status_code == 403
    api_key.refresh_from_db()
    assert api_key.name == "fixed"


def test_staff_without_the_permission_cannot_create_or_revoke_keys():
    client = staff_client("billingengine.view_apikey")
    api_key, _ = api_key_create(user=UserFactory(), name="k")

    assert client.get(url("billingengine_apikey_changelist")).status_code == 200
    assert client.post(url("billingengine_apikey_add"), {"user": client.user.pk, "name": "mine"}).status_code == 403
    client.post(url("billingengine_apikey_changelist"), {"action": "revoke_selected", "_selected_action": [api_key.pk]})
    api_key.refresh_from_db()
    assert not api_key.revoked and ApiKey.objects.count() == 1


def test_only_our_api_key_model_is_in_the_admin():
    assert not admin.site.is_registered(APIKey)
    assert admin.site.is_registered(ApiKey)


def test_key_list_has_a_status_column_saying_active_or_revoked(admin_client):
    """Bug: the list showed the "revoked" flag, so a red ✖ meant an active key."""
    api_key_create(user=UserFactory(), name="live")
    revoked, _ = api_key_create(user=UserFactory(), name="gone")
    api_key_revoke(prefix=revoked.prefix)

    html = admin_client.get(url("billingengine_apikey_changelist")).content.decode()

    assert '<span class="key-status key-active">Active</span>' in html
    assert '<span class="key-status key-revoked">Revoked</span>' in html
    assert "icon-no.svg" not in html and "icon-yes.svg" not in html


def test_a_keys_page_has_a_revoke_button_instead_of_delete_and_it_revokes(admin_client):
    api_key, key = api_key_create(user=UserFactory(is_superuser=True), name="old")
    page = admin_client.get(url("billingengine_apikey_change", api_key.pk)).content.decode()
    assert 'id="revoke-key"' in page and "deletelink" not in page

    response = admin_client.post(url("billingengine_apikey_revoke", api_key.pk))

    assert response.status_code == 302 and "Revoked the API key “old”" in messages_of(response)[0]
    api_key.refresh_from_db()
    assert api_key.revoked
    assert bearer(key).get("/api/v1/customers").status_code == 401
    assert admin_client.get(url("billingengine_apikey_delete", api_key.pk)).status_code == 403


def test_revoking_from_the_page_needs_post_and_the_change_permission():
    client = staff_client("billingengine.view_apikey")
    api_key, _ = api_key_create(user=UserFactory(), name="k")
    assert 'id="revoke-key"' not in client.get(url("billingengine_apikey_change", api_key.pk)).content.decode()
    assert client.post(url("billingengine_apikey_revoke", api_key.pk)).status_code == 403
    assert client.get(url("billingengine_apikey_revoke", api_key.pk)).status_code == 405
    api_key.refresh_from_db()
    assert not api_key.revoked
