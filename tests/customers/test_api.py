"""Customers REST API: every point of the contract's "Customers" section."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from customers.models import Customer
from groups.models import Membership
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"

FULL = {
    "name": "End Customer Ltd",
    "external_id": "EXT-CU-0042",
    "tax_id": "GB123456789",
    "vat_id": "GB123456789",
    "address_street": "1 Example Street",
    "address_city": "London",
    "address_zip": "EC1A 1BB",
    "address_country": "GB",
}


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    return body


def fields_of(body: dict) -> set[str]:
    return {e["field"] for e in body["errors"]}


# -- create ----------------------------------------------------------------------------------------


def test_create_returns_201_with_only_the_id_and_a_location(api):
    response = api.post(URL, FULL, format="json")
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["id"]
    customer = Customer.objects.get(pk=body["id"])
    assert response["Location"].endswith(f"/api/v1/customers/{customer.pk}")
    for field, value in FULL.items():
        assert getattr(customer, field) == value


def test_create_with_group_ids_assigns_the_groups_immediately(api):
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    response = api.post(URL, {"name": "X", "group_ids": [str(vip.pk), str(promo.pk), str(vip.pk)]}, format="json")
    assert response.status_code == 201
    customer = Customer.objects.get(pk=response.json()["id"])
    assert set(customer.group_ids) == {vip.pk, promo.pk}
    assert Membership.objects.filter(customer=customer).count() == 2  # duplicate id ignored


def test_create_with_unknown_group_id_is_400_naming_it_and_writes_nothing(api):
    known = GroupFactory()
    unknown = uuid.uuid4()
    response = api.post(URL, {"name": "X", "group_ids": [str(known.pk), str(unknown)]}, format="json")
    body = problem(response, 400, "unknown_group")
    assert str(unknown) in body["detail"]
    assert body["unknown_ids"] == [str(unknown)]
    assert Customer.objects.count() == 0 and Membership.objects.count() == 0


def test_duplicate_external_id_is_409_and_names_existing_customer(api):
    existing = CustomerFactory(external_id="EXT-CU-0042")
    response = api.post(URL, {"name": "Other", "external_id": "  EXT-CU-0042 "}, format="json")
    body = problem(response, 409, "external_id_taken")
    assert body["existing_id"] == str(existing.pk)
    assert body["errors"] == [{"field": "external_id", "code": "unique", "detail": body["detail"]}]
    assert "EXT-CU-0042" in body["detail"]
    assert Customer.objects.count() == 1


def test_create_trims_strings_and_reads_empty_optionals_back_as_null(api):
    response = api.post(
        URL,
        {"name": "  Acme  ", "external_id": "", "tax_id": "  ", "vat_id": None, "address_country": "gb"},
        format="json",
    )
    assert response.status_code == 201
    data = api.get(f"{URL}/{response.json()['id']}").json()
    assert data["name"] == "Acme"
    assert data["external_id"] is None and data["tax_id"] is None and data["vat_id"] is None
    assert data["address_country"] == "GB"


def test_customers_without_external_id_may_be_many(api):
    for _ in range(3):
        assert api.post(URL, {"name": "No id", "external_id": None}, format="json").status_code == 201
    assert Customer.objects.filter(external_id__isnull=True).count() == 3


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({}, "name", "required"),
        ({"name": ""}, "name", "blank"),
        ({"name": "   "}, "name", "blank"),
        ({"name": "x" * 256}, "name", "max_length"),
        ({"name": "A", "external_id": "x" * 256}, "external_id", "max_length"),
        ({"name": "A", "address_country": "XX"}, "address_country", "invalid_country"),
        ({"name": "A", "address_country": "GBR"}, "address_country", "invalid_country"),
        ({"name": "A", "address_country": "Great Britain"}, "address_country", "invalid_country"),
        ({"name": "A\x00B"}, "name", "control_characters"),
        ({"name": "A\x07B"}, "name", "control_characters"),
        ({"name": "A\nB"}, "name", "control_characters"),
        ({"name": "A", "address_city": "Lon\ndon"}, "address_city", "control_characters"),
        ({"name": "A", "external_id": "EXT\t1"}, "external_id", "control_characters"),
        ({"name": "A", "group_ids": ["not-a-uuid"]}, "group_ids[0]", "invalid"),
        ({"name": "A", "group_ids": "not-a-list"}, "group_ids", "not_a_list"),
        ({"name": ["A"]}, "name", "invalid"),
        ({"name": "A", "nmae": "typo"}, "nmae", "unknown_field"),
    ],
)
def test_invalid_customer_is_400_naming_the_field_and_writes_nothing(api, payload, field, code):
    body = problem(api.post(URL, payload, format="json"), 400, "invalid")
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in body["errors"]]
    assert Customer.objects.count() == 0


def test_line_breaks_are_allowed_in_address_street_only(api):
    response = api.post(URL, {"name": "A", "address_street": "Unit 4\r\n1 Example Street"}, format="json")
    assert response.status_code == 201
    assert Customer.objects.get().address_street == "Unit 4\r\n1 Example Street"


def test_every_field_problem_is_listed_at_once(api):
    body = problem(
        api.post(URL, {"name": "", "address_country": "ZZ", "group_ids": ["x"], "bogus": 1}, format="json"),
        400,
        "invalid",
    )
    assert fields_of(body) == {"name", "address_country", "group_ids[0]", "bogus"}


def test_tax_and_vat_ids_are_not_checksum_validated(api):
    response = api.post(URL, {"name": "A", "tax_id": "GB123456789", "vat_id": "DE000000000"}, format="json")
    assert response.status_code == 201


# -- read ------------------------------------------------------------------------------------------


def test_detail_returns_the_full_representation(api):
    group = GroupFactory()
    customer = CustomerFactory(**FULL)
    MembershipFactory(customer=customer, group=group)
    data = api.get(f"{URL}/{customer.pk}").json()
    assert list(data) == [
        "id",
        "name",
        "external_id",
        "tax_id",
        "vat_id",
        "address_street",
        "address_city",
        "address_zip",
        "address_country",
        "group_ids",
        "created_at",
        "updated_at",
    ]
    assert data["group_ids"] == [str(group.pk)]
    assert data["created_at"].endswith("Z")
    for field, value in FULL.items():
        assert data[field] == value


@pytest.mark.parametrize("path", [f"{URL}/{uuid.UUID(int=7)}", f"{URL}/not-a-uuid", f"{URL}/1"])
def test_unknown_or_malformed_id_is_404(api, path):
    problem(api.get(path), 404, "not_found")


def test_trailing_slash_is_accepted_without_redirect(api):
    customer = CustomerFactory()
    assert api.get(f"{URL}/").status_code == 200
    assert api.get(f"{URL}/{customer.pk}/").status_code == 200
    response = api.post(f"{URL}/", {"name": "Slash"}, format="json")
    assert response.status_code == 201
    assert Customer.objects.filter(name="Slash").exists()


# -- update ----------------------------------------------------------------------------------------


def test_put_replaces_the_customer_clearing_omitted_optionals(api):
    customer = CustomerFactory(**FULL)
    response = api.put(f"{URL}/{customer.pk}", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["name"] == "Renamed"
    assert data["external_id"] == "EXT-CU-0042"  # kept when omitted
    assert data["tax_id"] is None and data["address_city"] is None and data["address_country"] is None
    customer.refresh_from_db()
    assert customer.tax_id is None and customer.external_id == "EXT-CU-0042"


def test_put_without_name_is_400(api):
    customer = CustomerFactory()
    body = problem(api.put(f"{URL}/{customer.pk}", {"tax_id": "X"}, format="json"), 400, "invalid")
    assert "name" in fields_of(body)


def test_put_keeps_groups_when_group_ids_omitted_and_replaces_them_when_given(api):
    a, b, c = GroupFactory(), GroupFactory(), GroupFactory()
    customer = CustomerFactory()
    kept = MembershipFactory(customer=customer, group=a)
    MembershipFactory(customer=customer, group=b)
    assert api.put(f"{URL}/{customer.pk}", {"name": "N"}, format="json").json()["group_ids"] == [str(a.pk), str(b.pk)]

    response = api.put(f"{URL}/{customer.pk}", {"name": "N", "group_ids": [str(a.pk), str(c.pk)]}, format="json")
    assert response.status_code == 200
    assert set(response.json()["group_ids"]) == {str(a.pk), str(c.pk)}
    kept_after = Membership.objects.get(pk=kept.pk)
    assert kept_after.left_at is None and kept_after.joined_at == kept.joined_at  # stays, keeps joined_at
    ended = Membership.objects.get(customer=customer, group=b)
    assert ended.left_at is not None  # ended, not deleted
    assert Membership.objects.get(customer=customer, group=c).left_at is None


def test_put_with_empty_group_ids_ends_every_membership(api):
    customer = CustomerFactory()
    MembershipFactory(customer=customer)
    response = api.put(f"{URL}/{customer.pk}", {"name": "N", "group_ids": []}, format="json")
    assert response.json()["group_ids"] == []
    assert Membership.objects.get(customer=customer).left_at is not None


def test_patch_changes_only_given_fields(api):
    customer = CustomerFactory(**FULL)
    response = api.patch(f"{URL}/{customer.pk}", {"address_city": "Leeds"}, format="json")
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.address_city == "Leeds" and customer.tax_id == "GB123456789" and customer.name == FULL["name"]


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("new_value", ["EXT-OTHER", "", None])
def test_changing_or_clearing_a_set_external_id_is_refused(api, method, new_value):
    customer = CustomerFactory(external_id="EXT-CU-0042", name="Old")
    response = getattr(api, method)(f"{URL}/{customer.pk}", {"name": "New", "external_id": new_value}, format="json")
    body = problem(response, 400, "external_id_immutable")
    assert "rekey_customers" in body["detail"]
    customer.refresh_from_db()
    assert customer.external_id == "EXT-CU-0042" and customer.name == "Old"


def test_sending_the_same_external_id_back_is_allowed(api):
    customer = CustomerFactory(external_id="EXT-1")
    response = api.put(f"{URL}/{customer.pk}", {"name": "N", "external_id": " EXT-1 "}, format="json")
    assert response.status_code == 200


def test_an_unset_external_id_can_be_set_once(api):
    customer = CustomerFactory(external_id=None)
    assert api.patch(f"{URL}/{customer.pk}", {"external_id": "EXT-NEW"}, format="json").status_code == 200
    customer.refresh_from_db()
    assert customer.external_id == "EXT-NEW"


def test_setting_an_external_id_taken_by_another_customer_is_409(api):
    other = CustomerFactory(external_id="EXT-TAKEN")
    customer = CustomerFactory(external_id=None)
    body = problem(
        api.patch(f"{URL}/{customer.pk}", {"external_id": "EXT-TAKEN"}, format="json"), 409, "external_id_taken"
    )
    assert body["existing_id"] == str(other.pk)


def test_failed_update_changes_nothing(api):
    group = GroupFactory()
    customer = CustomerFactory(name="Before")
    response = api.put(
        f"{URL}/{customer.pk}", {"name": "After", "group_ids": [str(group.pk), str(uuid.uuid4())]}, format="json"
    )
    problem(response, 400, "unknown_group")
    customer.refresh_from_db()
    assert customer.name == "Before" and not Membership.objects.exists()


def test_a_representation_can_be_put_back_as_read(api):
    customer = CustomerFactory(**FULL)
    data = api.get(f"{URL}/{customer.pk}").json()
    assert api.put(f"{URL}/{customer.pk}", data, format="json").status_code == 200


# -- delete ----------------------------------------------------------------------------------------


def test_delete_removes_the_customer_and_its_memberships(api):
    customer = CustomerFactory()
    MembershipFactory(customer=customer)
    assert api.delete(f"{URL}/{customer.pk}").status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert not Membership.objects.filter(customer_id=customer.pk).exists()
    problem(api.delete(f"{URL}/{customer.pk}"), 404, "not_found")


# -- the customer's groups -------------------------------------------------------------------------


def test_customer_groups_lists_current_groups_paginated(api):
    a, b, old = GroupFactory(name="A"), GroupFactory(name="B"), GroupFactory(name="Old")
    customer = CustomerFactory()
    MembershipFactory(customer=customer, group=b)
    MembershipFactory(customer=customer, group=a)
    ended = MembershipFactory(customer=customer, group=old)
    Membership.objects.filter(pk=ended.pk).update(left_at=ended.joined_at + timedelta(microseconds=1))
    body = api.get(f"{URL}/{customer.pk}/groups").json()
    assert set(body) == {"next", "previous", "results"}
    assert [g["name"] for g in body["results"]] == ["A", "B"]
    assert body["results"][0]["customer_count"] == 1


def test_customer_groups_at_a_moment_lists_the_groups_then(api):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    then = now - timedelta(days=30)
    past, present = GroupFactory(name="Past"), GroupFactory(name="Present")
    customer = CustomerFactory()
    MembershipFactory(
        customer=customer, group=past, joined_at=now - timedelta(days=60), left_at=now - timedelta(days=10)
    )
    MembershipFactory(customer=customer, group=present, joined_at=now - timedelta(days=5))
    at = then.isoformat().replace("+00:00", "Z")
    assert [g["name"] for g in api.get(f"{URL}/{customer.pk}/groups", {"at": at}).json()["results"]] == ["Past"]
    assert [g["name"] for g in api.get(f"{URL}/{customer.pk}/groups").json()["results"]] == ["Present"]
    # `left_at` is exclusive: at the moment it ended, the customer is no longer a member
    left = (now - timedelta(days=10)).isoformat()
    assert api.get(f"{URL}/{customer.pk}/groups", {"at": left}).json()["results"] == []


def test_customer_groups_with_a_bad_timestamp_is_400(api):
    customer = CustomerFactory()
    body = problem(api.get(f"{URL}/{customer.pk}/groups", {"at": "yesterday"}), 400, "invalid")
    assert fields_of(body) == {"at"}


def test_groups_of_unknown_customer_is_404(api):
    problem(api.get(f"{URL}/{uuid.uuid4()}/groups"), 404, "not_found")


def test_country_filter_with_percent_sign_is_400_not_500(api):
    """Regression (schemathesis): `?address_country=%P` answered 500, because the error message embedded
    the raw value and django-filter %-formats messages (TypeError: not enough arguments)."""
    for value in ("®5]P%", "%s", "%(value)s"):
        response = api.get("/api/v1/customers", {"address_country": value})
        assert response.status_code == 400, value
        assert response.json()["errors"][0]["field"] == "address_country"
        assert value[:16] in response.json()["errors"][0]["detail"]
