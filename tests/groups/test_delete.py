"""Groups keep their history when deleted: hidden, name freed, memberships ended but kept, and a group that
something refers to (a price list) cannot be deleted. The contract's "Groups keep their history when deleted"."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.apps import apps
from django.db import connection, models
from django.utils import timezone

from groups.models import Group, Membership
from tests.customers.test_api import problem
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

GROUPS = "/api/v1/groups"
CUSTOMERS = "/api/v1/customers"


def iso(moment) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def force_delete(api, group):
    return api.delete(f"{GROUPS}/{group.pk}", QUERY_STRING="force=true")


def test_a_deleted_group_is_hidden_everywhere_groups_are_read(api):
    vip, other = GroupFactory(name="VIP"), GroupFactory(name="Other")
    customer = CustomerFactory()
    MembershipFactory(group=vip, customer=customer, joined_at=timezone.now() - timedelta(days=3))

    assert force_delete(api, vip).status_code == 204

    problem(api.get(f"{GROUPS}/{vip.pk}"), 404, "not_found")
    problem(api.get(f"{GROUPS}/{vip.pk}/customers"), 404, "not_found")
    problem(api.patch(f"{GROUPS}/{vip.pk}", {"description": "x"}, format="json"), 404, "not_found")
    problem(api.delete(f"{GROUPS}/{vip.pk}"), 404, "not_found")
    response = api.post(f"{GROUPS}/{vip.pk}/customers", {"customer_id": str(customer.pk)}, format="json")
    problem(response, 404, "not_found")
    assert [g["name"] for g in api.get(GROUPS).json()["results"]] == ["Other"]
    assert api.get(GROUPS, {"q": "vip"}).json()["results"] == []
    assert api.get(CUSTOMERS, {"group": str(vip.pk)}).json()["results"] == []
    assert api.get(f"{CUSTOMERS}/{customer.pk}").json()["group_ids"] == []
    assert [g["name"] for g in api.get(f"{CUSTOMERS}/{customer.pk}/groups").json()["results"]] == []
    # A deleted group cannot be chosen again.
    body = problem(
        api.patch(f"{CUSTOMERS}/{customer.pk}", {"group_ids": [str(vip.pk)]}, format="json"), 400, "unknown_group"
    )
    assert "group_ids" in {e["field"] for e in body["errors"]}
    assert list(Group.objects.all()) == [other]


def test_a_deleted_group_keeps_its_memberships_for_the_past(api):
    vip, customer = GroupFactory(name="VIP"), CustomerFactory()
    joined = timezone.now() - timedelta(days=30)
    membership = MembershipFactory(group=vip, customer=customer, joined_at=joined)

    assert force_delete(api, vip).status_code == 204

    group = Group.all_objects.get(pk=vip.pk)
    assert group.is_deleted and group.name == "VIP"
    membership.refresh_from_db()
    assert membership.joined_at == joined and membership.left_at == group.deleted_at
    then = iso(joined + timedelta(days=1))
    past = api.get(f"{CUSTOMERS}/{customer.pk}/groups", {"at": then}).json()["results"]
    assert [(g["id"], g["name"]) for g in past] == [(str(vip.pk), "VIP")]
    listed = api.get(f"{CUSTOMERS}/{customer.pk}/memberships").json()["results"]
    assert [(m["id"], m["group_name"], m["left_at"]) for m in listed] == [
        (str(membership.pk), "VIP", iso(membership.left_at))
    ]


@pytest.mark.parametrize("new_name", ["VIP", "vip"])
def test_a_deleted_groups_name_is_free_for_a_new_group(api, new_name):
    vip = GroupFactory(name="VIP")
    assert api.delete(f"{GROUPS}/{vip.pk}").status_code == 204

    response = api.post(GROUPS, {"name": new_name}, format="json")

    assert response.status_code == 201, response.content
    assert Group.all_objects.filter(name__iexact="vip").count() == 2
    # ...and only one group that exists may hold it.
    problem(api.post(GROUPS, {"name": "Vip"}, format="json"), 409, "group_name_taken")
    renamed = GroupFactory(name="Other")
    problem(api.patch(f"{GROUPS}/{renamed.pk}", {"name": "VIP"}, format="json"), 409, "group_name_taken")


def test_deleting_a_group_with_scheduled_members_needs_force_and_cancels_them(api):
    vip = GroupFactory()
    scheduled = MembershipFactory(group=vip, joined_at=timezone.now() + timedelta(days=5))

    body = problem(api.delete(f"{GROUPS}/{vip.pk}"), 409, "group_not_empty")
    assert (body["customer_count"], body["scheduled_count"]) == (0, 1)
    assert Membership.objects.filter(pk=scheduled.pk).exists() and not Group.all_objects.get(pk=vip.pk).is_deleted

    assert force_delete(api, vip).status_code == 204

    # A membership that never started is cancelled; its change history records it and its removal.
    assert not Membership.objects.filter(pk=scheduled.pk).exists()
    assert [h.history_type for h in Membership.history.filter(id=scheduled.pk).order_by("history_id")] == ["+", "-"]


def test_deleting_a_group_ends_a_membership_scheduled_to_end_later_now(api):
    vip = GroupFactory()
    membership = MembershipFactory(
        group=vip, joined_at=timezone.now() - timedelta(days=5), left_at=timezone.now() + timedelta(days=5)
    )
    before = timezone.now()

    assert force_delete(api, vip).status_code == 204

    membership.refresh_from_db()
    assert before <= membership.left_at <= timezone.now()


def test_deleting_a_group_with_only_past_members_needs_no_force(api):
    vip = GroupFactory()
    MembershipFactory(group=vip, joined_at=timezone.now() - timedelta(days=5), left_at=timezone.now())
    assert api.delete(f"{GROUPS}/{vip.pk}").status_code == 204
    assert Membership.objects.count() == 1


@pytest.fixture
def price_tag(transactional_db):
    """A model of another app that refers to a group with on_delete=PROTECT, as a price list does."""
    meta = type(
        "Meta", (), {"app_label": "groups", "db_table": "test_groups_price_tag", "verbose_name_plural": "price tags"}
    )
    model = type(
        "PriceTag",
        (models.Model,),
        {
            "__module__": __name__,
            "Meta": meta,
            "group": models.ForeignKey(Group, on_delete=models.PROTECT, related_name="price_tags"),
        },
    )
    with connection.schema_editor() as editor:
        editor.create_model(model)
    yield model
    with connection.schema_editor() as editor:
        editor.delete_model(model)
    del apps.all_models["groups"]["pricetag"]
    apps.clear_cache()


@pytest.mark.django_db(transaction=True)
def test_a_group_with_a_price_list_cannot_be_deleted_even_with_force(api, price_tag):
    vip = GroupFactory(name="VIP")
    membership = MembershipFactory(group=vip)
    tag = price_tag.objects.create(group=vip)

    body = problem(force_delete(api, vip), 409, "group_in_use")

    assert body["used_by"] == ["price tags"]
    assert "price tags" in body["detail"]
    assert not Group.all_objects.get(pk=vip.pk).is_deleted
    assert Membership.objects.get(pk=membership.pk).left_at is None

    tag.delete()
    assert force_delete(api, vip).status_code == 204


def test_a_group_with_a_price_list_cannot_be_deleted_until_the_list_is_gone(api):
    from pricing.models import PriceList
    from pricing.services import price_list_create

    vip = GroupFactory(name="VIP")
    MembershipFactory(group=vip)
    price_list = price_list_create(name="VIP prices", currency="EUR", group_id=vip.pk)

    body = problem(force_delete(api, vip), 409, "group_in_use")

    assert body["used_by"] == [str(PriceList._meta.verbose_name_plural)]
    assert not Group.all_objects.get(pk=vip.pk).is_deleted
    assert Membership.objects.get(group=vip).left_at is None
    PriceList.objects.filter(pk=price_list.pk).delete()
    assert force_delete(api, vip).status_code == 204


def test_the_admin_hides_a_deleted_group_from_lists_autocomplete_and_customer_filters(api, admin_client):
    gone, kept = GroupFactory(name="VIP Gone"), GroupFactory(name="VIP Kept")
    assert api.delete(f"{GROUPS}/{gone.pk}").status_code == 204

    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "groups", "model_name": "membership", "field_name": "group", "term": "vip"},
    )
    assert [r["text"] for r in response.json()["results"]] == ["VIP Kept"]
    changelist = admin_client.get("/admin/groups/group/").content.decode()
    assert "VIP Kept" in changelist and "VIP Gone" not in changelist
    customers = admin_client.get("/admin/customers/customer/").content.decode()
    assert str(kept.pk) in customers and str(gone.pk) not in customers  # the group filter's choices
