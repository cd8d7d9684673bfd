"""API keys act with their user's model permissions, granted directly or through the user's groups."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission

from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_permission_granted_through_an_auth_group_lets_the_key_read():
    role = AuthGroup.objects.create(name="readers")
    role.permissions.add(Permission.objects.get(content_type__app_label="customers", codename="view_customer"))
    user = UserFactory()
    user.groups.add(role)
    customer = CustomerFactory()
    assert client_for(user).get(f"/api/v1/customers/{customer.pk}").status_code == 200


def test_a_key_whose_user_lacks_the_permission_is_403():
    customer = CustomerFactory()
    client = client_for(user_with_perms("groups.view_group"))
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 403
    assert client.get("/api/v1/groups").status_code == 200


def test_a_view_permission_does_not_allow_writes():
    client = client_for(user_with_perms("customers.view_customer"))
    response = client.post("/api/v1/customers", {"name": "Acme"}, format="json")
    assert response.status_code == 403
    assert client.get("/api/v1/customers").status_code == 200


def test_a_superuser_key_may_do_everything(api):
    assert api.post("/api/v1/customers", {"name": "Acme"}, format="json").status_code == 201
