"""Authentication and permissions: Bearer API keys, model permissions, staff sessions."""

from __future__ import annotations

import hashlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from billingengine.models import ApiKey
from billingengine.services import api_key_revoke
from customers.models import Customer
from tests.conftest import client_for, user_with_perms
from tests.customers.test_api import problem
from tests.factories import CustomerFactory, GroupFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URLS = ["/api/v1/customers", "/api/v1/groups", "/api/v1/"]


@pytest.mark.parametrize("url", LIST_URLS)
def test_no_credentials_is_401_with_bearer_challenge(anon, url):
    response = anon.get(url)
    body = problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer nope", "Bearer AAAAAAAA.wrongsecret", "Bearer", "Bearer a b", "Basic Zm9vOmJhcg==", "Bearer ключ"],
)
def test_bad_credentials_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/customers")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_a_valid_key_with_a_wrong_secret_is_401(api):
    prefix = api.api_key.split(".")[0]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {prefix}.{'x' * 43}")
    assert client.get("/api/v1/customers").status_code == 401


def test_keys_are_long_random_and_stored_only_as_sha256(api):
    key = api.api_key
    prefix, secret = key.split(".")
    assert len(secret) >= 43  # >= 256 bits of [A-Za-z0-9]
    stored = ApiKey.objects.get(prefix=prefix)
    assert key not in stored.hashed_key and secret not in stored.id
    assert stored.hashed_key == "sha256$$" + hashlib.sha256(key.encode()).hexdigest()


def test_revoked_key_is_401(api):
    assert api.get("/api/v1/customers").status_code == 200
    api_key_revoke(prefix=api.api_key.split(".")[0])
    assert api.get("/api/v1/customers").status_code == 401


def test_key_of_inactive_user_is_401(db):
    user = UserFactory(is_superuser=True)
    client = client_for(user)
    user.is_active = False
    user.save()
    assert client.get("/api/v1/customers").status_code == 401


def test_key_use_is_recorded_as_last_used(api):
    stored = ApiKey.objects.get(prefix=api.api_key.split(".")[0])
    assert stored.last_used_at is None
    api.get("/api/v1/customers")
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_read_only_key_reads_but_cannot_write(readonly_api):
    customer = CustomerFactory()
    group = GroupFactory()
    assert readonly_api.get("/api/v1/customers").status_code == 200
    assert readonly_api.get(f"/api/v1/customers/{customer.pk}").status_code == 200
    assert readonly_api.get(f"/api/v1/customers/{customer.pk}/groups").status_code == 200
    assert readonly_api.get(f"/api/v1/groups/{group.pk}/customers").status_code == 200
    writes = [
        ("post", "/api/v1/customers", {"name": "X"}),
        ("put", f"/api/v1/customers/{customer.pk}", {"name": "X"}),
        ("patch", f"/api/v1/customers/{customer.pk}", {"name": "X"}),
        ("delete", f"/api/v1/customers/{customer.pk}", None),
        ("post", "/api/v1/groups", {"name": "X"}),
        ("delete", f"/api/v1/groups/{group.pk}", None),
        ("post", f"/api/v1/groups/{group.pk}/customers", {"customer_id": str(customer.pk)}),
        ("delete", f"/api/v1/groups/{group.pk}/customers/{customer.pk}", None),
    ]
    for method, url, body in writes:
        problem(getattr(readonly_api, method)(url, body, format="json"), 403, "permission_denied")
    assert Customer.objects.get(pk=customer.pk).name == customer.name
    assert Customer.objects.count() == 1


def test_key_without_view_permission_cannot_read(db):
    client = client_for(user_with_perms("groups.view_group"))
    problem(client.get("/api/v1/customers"), 403, "permission_denied")
    assert client.get("/api/v1/groups").status_code == 200


def test_membership_changes_need_membership_permissions(db):
    group, customer = GroupFactory(), CustomerFactory()
    client = client_for(user_with_perms("groups.view_group", "groups.change_group", "customers.view_customer"))
    problem(
        client.post(f"/api/v1/groups/{group.pk}/customers", {"customer_id": str(customer.pk)}, format="json"),
        403,
        "permission_denied",
    )
    allowed = client_for(user_with_perms("groups.view_group", "groups.add_membership", "customers.view_customer"))
    assert (
        allowed.post(
            f"/api/v1/groups/{group.pk}/customers", {"customer_id": str(customer.pk)}, format="json"
        ).status_code
        == 201
    )


def test_staff_session_works_with_csrf_enforced(db):
    user = UserFactory(is_staff=True, is_superuser=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/customers").status_code == 200
    response = client.post("/api/v1/customers", {"name": "No CSRF"}, format="json")
    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_browsable_api_renders_html_for_a_signed_in_user(db):
    user = UserFactory(is_staff=True, is_superuser=True)
    client = APIClient()
    client.force_login(user)
    response = client.get("/api/v1/customers", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"<html" in response.content.lower()


def test_schema_needs_credentials_and_docs_redirect_to_login(anon, api):
    assert anon.get("/api/schema").status_code == 401
    assert api.get("/api/schema").status_code == 200
    for url in ("/api/docs", "/api/redoc"):
        response = anon.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


def test_create_api_key_command_prints_the_key_alone_on_the_last_line(db, capsys):
    UserFactory(username="integrator")
    call_command("create_api_key", "integrator", "--name", "crm-sync")
    out = capsys.readouterr().out.strip().splitlines()
    key = out[-1]
    assert "." in key and " " not in key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert ApiKey.objects.get(prefix=key.split(".")[0]).name == "crm-sync"
    # the user has no permissions: authenticated (not 401) but forbidden
    assert client.get("/api/v1/customers").status_code == 403


def test_create_api_key_for_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="No user 'ghost'"):
        call_command("create_api_key", "ghost")
    assert not ApiKey.objects.exists()
