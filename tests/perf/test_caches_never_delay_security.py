"""The request path's caches hold no security state: a revoked key or a removed permission takes
effect on the very next request.

The caches are per serializer class (the built fields, `CachedFieldsMixin`, and the reading plan,
`FastRepresentationMixin`, in billingengine/api/fastpath.py), the authentication statement built
once per process (billingengine/api/auth_queries.py, PostgreSQL), which reads the key, its user and
the permissions fresh on every request, and the customer retrieve's query compiled once per process
(billingengine/api/compiled.py: every customer retrieve here goes through it), and the customer list's
row plan (`RowRepresentationMixin`), country codes and filter form class (`FormCachedFilterSet`),
built once per process. Each test warms them with
a request first, then changes the key, the user or the permission and expects the next request to be
refused.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.utils import timezone

from billingengine.api.authentication import ApiKeyAuthentication
from billingengine.models import ApiKey
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


def test_expired_key_is_refused_on_the_next_request():
    customer = CustomerFactory()
    client = client_for(user_with_perms("customers.view_customer"))
    _warm(client, f"/api/v1/customers/{customer.pk}")
    ApiKey.objects.filter(prefix=client.api_key.split(".")[0]).update(expiry_date=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 401


def test_key_with_a_known_prefix_and_a_wrong_secret_is_refused():
    customer = CustomerFactory()
    client = client_for(user_with_perms("customers.view_customer"))
    _warm(client, f"/api/v1/customers/{customer.pk}")
    prefix, _, secret = client.api_key.partition(".")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {prefix}.{secret[:-1]}{'a' if secret[-1] != 'a' else 'b'}")
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 401


def test_user_removed_from_a_group_loses_its_permissions_on_the_next_request():
    customer = CustomerFactory()
    readers = AuthGroup.objects.create(name="readers")
    readers.permissions.add(Permission.objects.get(codename="view_customer"))
    user = UserFactory()
    user.groups.add(readers)
    client = client_for(user)
    _warm(client, f"/api/v1/customers/{customer.pk}")
    user.groups.remove(readers)
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 403


def test_permission_granted_takes_effect_on_the_next_request():
    customer = CustomerFactory()
    user = user_with_perms("customers.view_customer")
    client = client_for(user)
    _warm(client, f"/api/v1/customers/{customer.pk}")
    assert client.get("/api/v1/groups").status_code == 403
    user.user_permissions.add(_permission("groups.view_group"))
    assert client.get("/api/v1/groups").status_code == 200


def test_superuser_demoted_loses_the_permissions_it_held_as_superuser_on_the_next_request():
    customer = CustomerFactory()
    user = UserFactory(is_superuser=True)
    client = client_for(user)
    _warm(client, f"/api/v1/customers/{customer.pk}")
    user.is_superuser = False
    user.save(update_fields=["is_superuser"])
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 403


def test_authentication_gives_the_same_permissions_as_djangos_model_backend(rf):
    """Own permissions and those of two groups, overlapping: the set ModelBackend builds, nothing more."""
    user = user_with_perms("customers.view_customer", "groups.view_group")
    first = AuthGroup.objects.create(name="first")
    first.permissions.add(_permission("groups.view_group"), _permission("customers.add_customer"))
    second = AuthGroup.objects.create(name="second")
    second.permissions.add(_permission("customers.change_customer"))
    user.groups.add(first, second)
    AuthGroup.objects.create(name="not the users").permissions.add(_permission("customers.delete_customer"))
    client = client_for(user)
    request = rf.get("/api/v1/customers", HTTP_AUTHORIZATION=f"Bearer {client.api_key}")
    authenticated, api_key = ApiKeyAuthentication().authenticate(request)
    expected = ModelBackend().get_all_permissions(type(user).objects.get(pk=user.pk))
    assert expected == {
        "customers.view_customer",
        "groups.view_group",
        "customers.add_customer",
        "customers.change_customer",
    }
    assert authenticated.get_all_permissions() == expected
    assert authenticated.pk == user.pk and api_key.prefix == client.api_key.split(".")[0]


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.mark.parametrize("change", ["revoke the key", "remove the user's permission", "remove the group's permission"])
def test_the_lists_caches_do_not_delay_a_refusal(change):
    """The customer list's row plan, country codes and filter form class are warm; the next list is refused."""
    CustomerFactory(address_country="DE")
    user = user_with_perms()
    group = AuthGroup.objects.create(name="list readers")
    permission = Permission.objects.get(codename="view_customer")
    (group.permissions if change == "remove the group's permission" else user.user_permissions).add(permission)
    user.groups.add(group)
    client = client_for(user)
    path = "/api/v1/customers?address_country=de&ordering=-name&page_size=10"
    _warm(client, path)
    if change == "revoke the key":
        api_key_revoke(prefix=client.api_key.split(".")[0])
    elif change == "remove the user's permission":
        user.user_permissions.remove(permission)
    else:
        group.permissions.remove(permission)
    assert client.get(path).status_code == (401 if change == "revoke the key" else 403)
