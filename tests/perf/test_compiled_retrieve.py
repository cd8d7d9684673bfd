"""The customer retrieve through its query compiled once per process (billingengine/api/compiled.py) answers
exactly what DRF's plain `get_object()` answers, and keeps no data: a changed customer is seen on the
very next request.

The plain path is the same view with `CustomerViewSet.compiled_retrieve = False` (DRF's `get_object()`:
the ORM builds and compiles the query on every request).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billingengine.api.compiled import CompiledGet
from customers.api.views import CustomerViewSet
from customers.models import Customer
from groups.models import Membership
from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

#: Response headers both paths must give alike (Date and the like are not set by the test client).
HEADERS = ("Content-Type", "ETag", "Vary", "Allow", "X-Frame-Options", "Content-Length", "Cache-Control")


@pytest.fixture
def client():
    return client_for(user_with_perms("customers.view_customer"))


def _get(client, path: str, *, compiled: bool, monkeypatch, **extra):
    monkeypatch.setattr(CustomerViewSet, "compiled_retrieve", compiled)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **extra)
    # The customer's statement (as run, parameters interpolated); the key's carries the time of the request.
    return response, [query["sql"] for query in queries.captured_queries if '"customers_customer"' in query["sql"]]


def _customer_with_every_kind_of_membership() -> Customer:
    customer = CustomerFactory(
        tax_id="GB123456789",
        vat_id="GB987654321",
        address_street="1 Example Street\nFloor 2",
        address_city="London",
        address_zip="EC1A 1BB",
        address_country="gb",
    )
    now = timezone.now()
    groups = GroupFactory.create_batch(5)
    tied = now - timedelta(days=3)
    MembershipFactory(customer=customer, group=groups[0], joined_at=tied)  # open, tied joined_at
    MembershipFactory(customer=customer, group=groups[1], joined_at=tied)  # open, tied joined_at
    MembershipFactory(customer=customer, group=groups[2], joined_at=now - timedelta(days=9), left_at=now + timedelta(1))
    MembershipFactory(customer=customer, group=groups[3], joined_at=now - timedelta(days=9), left_at=now - timedelta(1))
    MembershipFactory(customer=customer, group=groups[4], joined_at=now + timedelta(days=1))  # scheduled
    return customer


@pytest.mark.parametrize("kind", ["full", "bare"])
def test_compiled_retrieve_answers_byte_for_byte_what_the_plain_path_answers(client, monkeypatch, kind):
    customer = (
        _customer_with_every_kind_of_membership()
        if kind == "full"
        else CustomerFactory(external_id=None, address_country=None)
    )
    path = f"/api/v1/customers/{customer.pk}"
    plain, plain_sql = _get(client, path, compiled=False, monkeypatch=monkeypatch)
    for _ in range(2):  # the first call compiles the query, the second reads through the kept plan
        fast, fast_sql = _get(client, path, compiled=True, monkeypatch=monkeypatch)
        assert fast.status_code == plain.status_code == 200
        assert fast.content == plain.content
        for header in HEADERS:
            assert fast.headers.get(header) == plain.headers.get(header), header
        assert len(fast_sql) == 1
        assert fast_sql == plain_sql  # the ORM's own statement, with the same parameters
    body = fast.json()
    if kind == "full":
        assert len(body["group_ids"]) == 3  # two open and one ending later; not the ended or the scheduled one
        assert body["address_country"] == "GB"
    else:
        assert body["group_ids"] == [] and body["external_id"] is None


def test_compiled_retrieve_answers_the_conditional_get_like_the_plain_path(client, monkeypatch):
    customer = _customer_with_every_kind_of_membership()
    path = f"/api/v1/customers/{customer.pk}"
    etag = _get(client, path, compiled=False, monkeypatch=monkeypatch)[0].headers["ETag"]
    for compiled in (False, True):
        response, _ = _get(client, path, compiled=compiled, monkeypatch=monkeypatch, HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        assert response.headers["ETag"] == etag


@pytest.mark.parametrize("pk", [lambda: str(uuid.uuid4()), lambda: "not-a-uuid", lambda: "12345"])
def test_unknown_and_malformed_ids_answer_the_same_404(client, monkeypatch, pk):
    CustomerFactory()
    path = f"/api/v1/customers/{pk()}"
    plain, _ = _get(client, path, compiled=False, monkeypatch=monkeypatch)
    fast, _ = _get(client, path, compiled=True, monkeypatch=monkeypatch)
    assert plain.status_code == fast.status_code == 404
    assert fast.content == plain.content
    assert fast.headers["Content-Type"] == plain.headers["Content-Type"]


def test_a_changed_customer_is_seen_on_the_very_next_request(client):
    customer = _customer_with_every_kind_of_membership()
    path = f"/api/v1/customers/{customer.pk}"
    first = client.get(path)
    assert client.get(path).content == first.content  # warm: the plan is kept
    Customer.objects.filter(pk=customer.pk).update(name="Renamed Ltd", address_country="FR")
    new_group = GroupFactory()
    MembershipFactory(customer=customer, group=new_group, joined_at=timezone.now() - timedelta(seconds=1))
    changed = client.get(path)
    assert changed.json()["name"] == "Renamed Ltd"
    assert changed.json()["address_country"] == "FR"
    assert str(new_group.pk) in changed.json()["group_ids"]
    assert changed.headers["ETag"] != first.headers["ETag"]
    Membership.objects.filter(customer=customer).delete()
    assert client.get(path).json()["group_ids"] == []
    Customer.objects.filter(pk=customer.pk).delete()
    assert client.get(path).status_code == 404


def test_a_removed_view_permission_is_refused_on_the_next_compiled_retrieve():
    from django.contrib.auth.models import Permission

    customer = CustomerFactory()
    user = user_with_perms("customers.view_customer")
    client = client_for(user)
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 200
    user.user_permissions.remove(Permission.objects.get(codename="view_customer"))
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 403


def test_compiled_get_returns_what_get_returns_and_refuses_what_it_cannot_keep():
    customer = CustomerFactory()
    get = CompiledGet(lambda: Customer.objects.all())
    found = get(customer.pk)
    assert isinstance(found, Customer)
    assert found.pk == customer.pk
    assert {f.attname: getattr(found, f.attname) for f in Customer._meta.concrete_fields} == {
        f.attname: getattr(customer_from_db := Customer.objects.get(pk=customer.pk), f.attname)
        for f in Customer._meta.concrete_fields
    }
    assert found._state.adding is False and found._state.db == customer_from_db._state.db
    assert get(uuid.uuid4()) is None
    with pytest.raises(ValueError, match="date or time"):
        CompiledGet(lambda: Customer.objects.filter(created_at__lte=timezone.now())).plan()
    with pytest.raises(ValueError, match="prefetch"):
        CompiledGet(lambda: Customer.objects.with_group_ids()).plan()
