"""Wrong JSON types are 400 with a field error, never coerced (a number sent as a name is not stored as text)."""

from __future__ import annotations

import uuid

import pytest

from customers.models import Customer
from groups.models import Group, Membership
from tests.factories import CustomerFactory, GroupFactory

pytestmark = pytest.mark.django_db

CUSTOMER_TEXT_FIELDS = (
    "name",
    "external_id",
    "tax_id",
    "vat_id",
    "address_street",
    "address_city",
    "address_zip",
    "address_country",
)
WRONG_TYPES = [42, 4.2, True, ["x"], {"x": 1}]


def assert_type_error(response, field: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    errors = [e for e in response.json()["errors"] if e["field"] == field]
    assert errors and errors[0]["code"] == "invalid", response.json()
    assert "Must be a" in errors[0]["detail"]


@pytest.mark.parametrize("field", CUSTOMER_TEXT_FIELDS)
@pytest.mark.parametrize("value", WRONG_TYPES, ids=lambda v: type(v).__name__)
def test_customer_create_refuses_a_non_string_text_field_and_writes_nothing(api, field, value):
    """Bug: `{"name": 42}` was stored as the name "42"."""
    body = {"name": "Acme", field: value}
    assert_type_error(api.post("/api/v1/customers", body, format="json"), field)
    assert not Customer.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_customer_update_refuses_a_number_as_name_and_keeps_the_old_one(api, method):
    customer = CustomerFactory(name="Acme")
    response = getattr(api, method)(f"/api/v1/customers/{customer.pk}", {"name": 42}, format="json")
    assert_type_error(response, "name")
    customer.refresh_from_db()
    assert customer.name == "Acme"


@pytest.mark.parametrize("value", [5, True, {"id": "x"}], ids=lambda v: type(v).__name__)
def test_customer_group_ids_refuse_non_string_items(api, value):
    """Bug: the number 5 in group_ids was read as the UUID 00000000-0000-0000-0000-000000000005."""
    response = api.post("/api/v1/customers", {"name": "Acme", "group_ids": [value]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "group_ids[0]"
    assert response.json()["errors"][0]["code"] == "invalid"
    assert not Customer.objects.exists()


def test_null_still_means_unset_for_optional_customer_fields(api):
    response = api.post("/api/v1/customers", {"name": "Acme", "tax_id": None, "address_country": None}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("field", ["name", "description"])
@pytest.mark.parametrize("value", WRONG_TYPES, ids=lambda v: type(v).__name__)
def test_group_create_refuses_a_non_string_text_field_and_writes_nothing(api, field, value):
    body = {"name": "VIP", field: value}
    assert_type_error(api.post("/api/v1/groups", body, format="json"), field)
    assert not Group.objects.exists()


def test_group_patch_refuses_a_number_as_name(api):
    group = GroupFactory(name="VIP")
    assert_type_error(api.patch(f"/api/v1/groups/{group.pk}", {"name": 7}, format="json"), "name")
    group.refresh_from_db()
    assert group.name == "VIP"


@pytest.mark.parametrize(
    ("field", "value"),
    [("customer_external_id", 42), ("customer_external_id", False), ("customer_id", 5), ("customer_id", [])],
)
def test_membership_create_refuses_wrong_types(api, field, value):
    """Bug: `{"customer_external_id": 42}` looked up the customer with external_id "42"."""
    CustomerFactory(external_id="42")
    group = GroupFactory()
    assert_type_error(api.post(f"/api/v1/groups/{group.pk}/customers", {field: value}, format="json"), field)
    assert not Membership.objects.exists()


@pytest.mark.parametrize("field", ["customer_external_id", "code", "transaction_id", "time_from"])
def test_record_string_fields_refuse_numbers(api, field):
    CustomerFactory(external_id="42")
    body = {"customer_external_id": "42", "code": "SMS", "quantity": 1, "time_from": "2026-03-31T14:00:00Z"}
    body[field] = 42
    response = api.post("/api/v1/records", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_a_strict_uuid_still_accepts_a_uuid_string(api):
    group = GroupFactory()
    customer = CustomerFactory()
    response = api.post(f"/api/v1/groups/{group.pk}/customers", {"customer_id": str(customer.pk)}, format="json")
    assert response.status_code == 201
    response = api.post(f"/api/v1/groups/{group.pk}/customers", {"customer_id": str(uuid.uuid4())}, format="json")
    assert response.status_code == 400
