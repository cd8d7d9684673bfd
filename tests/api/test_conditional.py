"""ETag on customer and group responses; If-Match makes PUT/PATCH/DELETE fail with 412 when stale."""

from __future__ import annotations

import pytest

from customers.models import Customer
from groups.models import Group
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory


@pytest.fixture(params=["customers", "groups"])
def resource(request, db):
    obj = CustomerFactory(name="Acme") if request.param == "customers" else GroupFactory(name="VIP")
    return f"/api/v1/{request.param}/{obj.pk}", type(obj), obj.pk


def test_detail_read_carries_an_etag_that_changes_with_the_object(api, resource):
    path, _, _ = resource
    etag = api.get(path)["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert api.get(path)["ETag"] == etag
    changed = api.patch(path, {"name": "Renamed"}, format="json")
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert api.get(path)["ETag"] == changed["ETag"]


def test_patch_with_current_etag_succeeds_and_with_stale_etag_is_412_writing_nothing(api, resource):
    path, model, pk = resource
    etag = api.get(path)["ETag"]
    assert api.patch(path, {"name": "First"}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    stale = api.patch(path, {"name": "Second"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale["Content-Type"] == "application/problem+json"
    assert stale.json()["code"] == "precondition_failed"
    assert model.objects.get(pk=pk).name == "First"


def test_put_with_stale_etag_is_412(api, resource):
    path, model, pk = resource
    etag = api.get(path)["ETag"]
    api.patch(path, {"name": "Changed meanwhile"}, format="json")
    assert api.put(path, {"name": "Mine"}, format="json", HTTP_IF_MATCH=etag).status_code == 412
    assert model.objects.get(pk=pk).name == "Changed meanwhile"


def test_delete_with_stale_etag_is_412_and_with_current_etag_deletes(api, resource):
    path, model, pk = resource
    old = api.get(path)["ETag"]
    current = api.patch(path, {"name": "Changed"}, format="json")["ETag"]
    assert api.delete(path, HTTP_IF_MATCH=old).status_code == 412
    assert model.objects.filter(pk=pk).exists()
    assert api.delete(path, HTTP_IF_MATCH=current).status_code == 204
    assert not model.objects.filter(pk=pk).exists()


def test_if_match_star_matches_any_existing_object(api, resource):
    path, model, pk = resource
    assert api.patch(path, {"name": "Any"}, format="json", HTTP_IF_MATCH="*").status_code == 200
    assert model.objects.get(pk=pk).name == "Any"


def test_writes_without_if_match_work_as_before(api, resource):
    path, model, pk = resource
    api.get(path)
    assert api.patch(path, {"name": "Unconditional"}, format="json").status_code == 200
    assert model.objects.get(pk=pk).name == "Unconditional"


def test_membership_change_changes_the_customer_etag(api):
    """A representation change through another resource (group_ids) must also invalidate the ETag."""
    customer = CustomerFactory()
    path = f"/api/v1/customers/{customer.pk}"
    etag = api.get(path)["ETag"]
    MembershipFactory(customer=customer)
    assert api.get(path)["ETag"] != etag
    assert api.patch(path, {"name": "X"}, format="json", HTTP_IF_MATCH=etag).status_code == 412


def test_if_none_match_with_current_etag_is_304_without_body(api, resource):
    path, _, _ = resource
    etag = api.get(path)["ETag"]
    response = api.get(path, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response.content == b""
    assert api.get(path, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_if_match_on_unknown_object_is_404(api):
    assert (
        api.patch(
            "/api/v1/groups/00000000-0000-0000-0000-000000000000", {"name": "x"}, format="json", HTTP_IF_MATCH="*"
        ).status_code
        == 404
    )
    assert not Group.objects.exists() and not Customer.objects.exists()
