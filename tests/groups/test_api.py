"""Customer groups REST API and memberships: the contract's "Groups" and "Memberships" sections."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from groups.models import Group, Membership
from tests.customers.test_api import problem
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/groups"


def test_create_group_returns_only_the_id_and_location(api):
    response = api.post(URL, {"name": "VIP", "description": "Best customers"}, format="json")
    assert response.status_code == 201
    assert list(response.json()) == ["id"]
    group = Group.objects.get(pk=response.json()["id"])
    assert (group.name, group.description) == ("VIP", "Best customers")
    assert response["Location"].endswith(f"{URL}/{group.pk}")


def test_group_representation(api):
    group = GroupFactory(name="VIP", description="d")
    MembershipFactory(group=group)
    ended = MembershipFactory(group=group)
    Membership.objects.filter(pk=ended.pk).update(left_at=timezone.now())
    data = api.get(f"{URL}/{group.pk}").json()
    assert list(data) == ["id", "name", "description", "customer_count", "created_at", "updated_at"]
    assert data["customer_count"] == 1  # current members only


@pytest.mark.parametrize("name", ["VIP", "vip", " Vip "])
def test_group_name_is_unique_ignoring_case(api, name):
    existing = GroupFactory(name="VIP")
    body = problem(api.post(URL, {"name": name}, format="json"), 409, "group_name_taken")
    assert body["existing_id"] == str(existing.pk)
    assert Group.objects.count() == 1


def test_renaming_a_group_onto_another_name_is_409(api):
    GroupFactory(name="VIP")
    group = GroupFactory(name="Promo")
    problem(api.patch(f"{URL}/{group.pk}", {"name": "vip"}, format="json"), 409, "group_name_taken")
    group.refresh_from_db()
    assert group.name == "Promo"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 256}, "name"), ({"name": "a\x00"}, "name")],
)
def test_invalid_group_is_400(api, payload, field):
    body = problem(api.post(URL, payload, format="json"), 400, "invalid")
    assert field in {e["field"] for e in body["errors"]}
    assert not Group.objects.exists()


def test_put_replaces_and_patch_changes_given_fields(api):
    group = GroupFactory(name="A", description="keep?")
    assert api.patch(f"{URL}/{group.pk}", {"name": "B"}, format="json").json()["description"] == "keep?"
    data = api.put(f"{URL}/{group.pk}", {"name": "C"}, format="json").json()
    assert data["name"] == "C" and data["description"] == ""


def test_list_groups_ordered_by_name_with_search(api):
    GroupFactory(name="Beta", description="wholesale")
    GroupFactory(name="alpha")
    GroupFactory(name="Gamma")
    names = [g["name"] for g in api.get(URL).json()["results"]]
    assert names == sorted(names)
    assert [g["name"] for g in api.get(URL, {"q": "WHOLE"}).json()["results"]] == ["Beta"]
    assert [g["name"] for g in api.get(URL, {"name": "amm"}).json()["results"]] == ["Gamma"]
    by_created = [g["name"] for g in api.get(URL, {"ordering": "created_at"}).json()["results"]]
    assert by_created == ["Beta", "alpha", "Gamma"]


def test_delete_empty_group_is_204(api):
    group = GroupFactory()
    assert api.delete(f"{URL}/{group.pk}").status_code == 204
    assert not Group.objects.exists()


def test_delete_group_with_current_members_is_409_unless_forced(api):
    group = GroupFactory()
    membership = MembershipFactory(group=group)
    body = problem(api.delete(f"{URL}/{group.pk}"), 409, "group_not_empty")
    assert body["customer_count"] == 1
    assert Group.objects.filter(pk=group.pk).exists() and Membership.objects.get(pk=membership.pk).left_at is None

    assert api.delete(f"{URL}/{group.pk}", QUERY_STRING="force=true").status_code == 204
    assert not Group.objects.filter(pk=group.pk).exists()
    # the customer stays; the group and its ended membership are kept, hidden, for the history
    assert membership.customer.__class__.objects.filter(pk=membership.customer_id).exists()
    assert Group.all_objects.get(pk=group.pk).deleted_at is not None
    assert Membership.objects.get(pk=membership.pk).left_at is not None
    history = Membership.history.filter(id=membership.pk).order_by("history_date")
    assert [h.history_type for h in history] == ["+", "~"]
    assert history[1].left_at is not None


def test_delete_with_bad_force_value_is_400(api):
    group = GroupFactory()
    problem(api.delete(f"{URL}/{group.pk}", QUERY_STRING="force=maybe"), 400, "invalid")


# -- members ---------------------------------------------------------------------------------------


def test_add_member_by_customer_id_is_201_with_the_membership(api):
    group, customer = GroupFactory(), CustomerFactory()
    response = api.post(f"{URL}/{group.pk}/customers", {"customer_id": str(customer.pk)}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"group_id", "customer_id", "joined_at", "left_at"}
    assert body["group_id"] == str(group.pk) and body["customer_id"] == str(customer.pk)
    assert body["left_at"] is None
    assert Membership.objects.current().filter(group=group, customer=customer).count() == 1


def test_add_member_by_external_id(api):
    group, customer = GroupFactory(), CustomerFactory(external_id="EXT-CU-0042")
    response = api.post(f"{URL}/{group.pk}/customers", {"customer_external_id": "EXT-CU-0042"}, format="json")
    assert response.status_code == 201
    assert response.json()["customer_id"] == str(customer.pk)


def test_adding_a_current_member_again_is_200_with_the_existing_membership(api):
    group, customer = GroupFactory(), CustomerFactory()
    first = api.post(f"{URL}/{group.pk}/customers", {"customer_id": str(customer.pk)}, format="json").json()
    again = api.post(f"{URL}/{group.pk}/customers", {"customer_id": str(customer.pk)}, format="json")
    assert again.status_code == 200
    assert again.json() == first
    assert Membership.objects.filter(group=group, customer=customer).count() == 1


def test_add_member_to_unknown_group_is_404(api):
    customer = CustomerFactory()
    problem(
        api.post(f"{URL}/{uuid.uuid4()}/customers", {"customer_id": str(customer.pk)}, format="json"), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"customer_id": str(uuid.UUID(int=1))}, "customer_id", "unknown_customer"),
        ({"customer_external_id": "NOPE"}, "customer_external_id", "unknown_customer"),
        ({"customer_id": "not-a-uuid"}, "customer_id", "invalid"),
        ({}, "customer_id", "required"),
    ],
)
def test_add_member_with_bad_customer_is_400_on_the_field(api, payload, field, code):
    group = GroupFactory()
    body = problem(api.post(f"{URL}/{group.pk}/customers", payload, format="json"), 400, "invalid")
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in body["errors"]]
    assert not Membership.objects.exists()


def test_list_members_lists_current_members_as_customers(api):
    group = GroupFactory()
    current = MembershipFactory(group=group).customer
    ended = MembershipFactory(group=group)
    Membership.objects.filter(pk=ended.pk).update(left_at=timezone.now())
    CustomerFactory()  # not a member
    results = api.get(f"{URL}/{group.pk}/customers").json()["results"]
    assert [c["id"] for c in results] == [str(current.pk)]
    assert results[0]["group_ids"] == [str(group.pk)]


def test_remove_member_ends_the_membership_and_keeps_the_row(api):
    group, customer = GroupFactory(), CustomerFactory()
    membership = MembershipFactory(group=group, customer=customer)
    assert api.delete(f"{URL}/{group.pk}/customers/{customer.pk}").status_code == 204
    membership.refresh_from_db()
    assert membership.left_at is not None and membership.left_at >= membership.joined_at
    problem(api.delete(f"{URL}/{group.pk}/customers/{customer.pk}"), 404, "not_a_member")


def test_rejoining_starts_a_new_membership(api):
    group, customer = GroupFactory(), CustomerFactory()
    url = f"{URL}/{group.pk}/customers"
    api.post(url, {"customer_id": str(customer.pk)}, format="json")
    api.delete(f"{url}/{customer.pk}")
    assert api.post(url, {"customer_id": str(customer.pk)}, format="json").status_code == 201
    memberships = Membership.objects.filter(group=group, customer=customer).order_by("joined_at")
    assert [m.left_at is None for m in memberships] == [False, True]


@pytest.mark.parametrize("customer_id", ["not-a-uuid", str(uuid.UUID(int=7))])
def test_remove_unknown_or_malformed_member_is_404(api, customer_id):
    group = GroupFactory()
    problem(
        api.delete(f"{URL}/{group.pk}/customers/{customer_id}"),
        404,
        "not_found" if customer_id == "not-a-uuid" else "not_a_member",
    )


def test_database_allows_only_one_current_membership_per_customer_and_group(db):
    from django.db import IntegrityError, transaction

    membership = MembershipFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(group=membership.group, customer=membership.customer)
    Membership.objects.filter(pk=membership.pk).update(left_at=timezone.now())
    MembershipFactory(group=membership.group, customer=membership.customer)  # a later, new membership is fine
