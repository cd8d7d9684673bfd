"""The ready-made staff roles "Billing viewer" and "Billing operator" (billingengine/roles.py)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.test import Client

from billingengine.roles import OPERATOR, VIEWER
from customers.models import Customer
from tests.admin_helpers import url
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def codenames(role: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=role).permissions.all()}


def member_of(role: str) -> Client:
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def test_migrate_creates_both_roles_with_their_permissions():
    viewer, operator = codenames(VIEWER), codenames(OPERATOR)
    assert {
        "customers.view_customer",
        "groups.view_group",
        "groups.view_membership",
        "records.view_datarecord",
    } <= viewer
    assert not any(c.split(".")[1].startswith(("add_", "change_", "delete_")) for c in viewer)
    assert viewer < operator
    assert {"customers.add_customer", "customers.change_customer", "groups.add_membership"} <= operator
    assert "groups.delete_membership" in operator  # "Remove from customer group…"
    assert not {"records.add_datarecord", "records.change_datarecord", "records.delete_datarecord"} & operator
    assert not any(c.startswith(("auth.", "billingengine.")) for c in operator)  # no staff accounts, no API keys
    assert "customers.change_historicalcustomer" not in operator


def test_a_billing_viewer_sees_customers_but_no_change_controls():
    customer = CustomerFactory(name="Acme Ltd")
    client = member_of(VIEWER)

    changelist = client.get(url("customers_customer_changelist")).content.decode()
    page = client.get(url("customers_customer_change", customer.pk)).content.decode()

    assert "Acme Ltd" in changelist and "addlink" not in changelist
    assert 'name="_save"' not in page and "deletelink" not in page
    assert client.post(url("customers_customer_change", customer.pk), {"name": "X"}).status_code == 403


def test_a_billing_operator_can_add_a_customer():
    client = member_of(OPERATOR)
    response = client.post(url("customers_customer_add"), {"name": "New Customer Ltd", "external_id": "EXT-OP-1"})
    assert response.status_code == 302
    assert Customer.objects.filter(external_id="EXT-OP-1").exists()


def test_permissions_of_models_added_later_join_the_roles_after_migrate():
    """A model installed later (e.g. pricing's PriceList) gets its permissions into the roles on the next migrate."""
    content_type = ContentType.objects.get_for_model(Customer)
    new = Permission.objects.create(
        codename="view_futurething", name="Can view future thing", content_type=content_type
    )
    assert "customers.view_futurething" not in codenames(VIEWER)

    from billingengine.roles import sync_roles_after_migrate

    sync_roles_after_migrate(sender=apps.get_app_config("customers"))

    assert "customers.view_futurething" in codenames(VIEWER) and "customers.view_futurething" in codenames(OPERATOR)
    assert new.group_set.count() == 2


def test_sync_roles_recreates_a_deleted_role_and_keeps_hand_added_permissions():
    Group.objects.filter(name=VIEWER).delete()
    operator = Group.objects.get(name=OPERATOR)
    extra = Permission.objects.get(content_type__app_label="billingengine", codename="view_apikey")
    operator.permissions.add(extra)

    call_command("sync_roles", verbosity=0)

    assert "customers.view_customer" in codenames(VIEWER)
    assert "billingengine.view_apikey" in codenames(OPERATOR)
