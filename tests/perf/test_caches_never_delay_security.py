"""The request path's caches hold no security state: a revoked key or a removed permission takes
effect on the very next request.

The caches are per serializer class (the built fields, `CachedFieldsMixin`, and the reading plan,
`FastRepresentationMixin`, in billingengine/api/fastpath.py). Each test warms them with a request
first, then changes the key or the permission and expects the next request to be refused.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission

from billingengine.services import api_key_revoke
from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory, GroupFactory, UserFactory

pytestmark = pytest.mark.django_db


def _warm(client, path: str) -> None:
    for _ in range(2):  # the first request builds the per-class caches, the second reads through them
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("resource", ["customers", "groups"])
def test_revoked_key_is_refused_on_the_next_request(resource):
    obj = CustomerFactory() if resource == "customers" else GroupFactory()
    client = client_for(user_with_perms("customers.view_customer", "groups.view_group"))
    _warm(client, f"/api/v1/{resource}/{obj.pk}")
    api_key_revoke(prefix=client.api_key.split(".")[0])
    assert client.get(f"/api/v1/{resource}/{obj.pk}").status_code == 401
    assert client.get(f"/api/v1/{resource}").status_code == 401


def test_removed_user_permission_is_refused_on_the_next_request():
    customer = CustomerFactory()
    user = user_with_perms("customers.view_customer", "customers.add_customer")
    client = client_for(user)
    _warm(client, f"/api/v1/customers/{customer.pk}")
    assert client.post("/api/v1/customers", {"name": "Warm Ltd"}, format="json").status_code == 201
    user.user_permissions.remove(Permission.objects.get(codename="view_customer"))
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 403
    assert client.get("/api/v1/customers").status_code == 403
    user.user_permissions.remove(Permission.objects.get(codename="add_customer"))
    assert client.post("/api/v1/customers", {"name": "Late Ltd"}, format="json").status_code == 403


def test_permission_removed_from_the_users_group_is_refused_on_the_next_request():
    customer = CustomerFactory()
    staff = AuthGroup.objects.create(name="readers")
    staff.permissions.add(Permission.objects.get(codename="view_customer"))
    user = UserFactory()
    user.groups.add(staff)
    client = client_for(user)
    _warm(client, f"/api/v1/customers/{customer.pk}")
    staff.permissions.clear()
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 403


def test_deactivated_user_is_refused_on_the_next_request():
    customer = CustomerFactory()
    user = user_with_perms("customers.view_customer")
    client = client_for(user)
    _warm(client, f"/api/v1/customers/{customer.pk}")
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 401
