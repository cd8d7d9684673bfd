"""The customer list read as `values_list` rows (`ResourceViewSet.row_list`, `RowRepresentationMixin`) answers byte
for byte what DRF's plain list (model instances through `CustomerSerializer`) answers, for every filter, ordering
and cursor the list supports, and keeps nothing between requests.

The plain path is the same view with `CustomerViewSet.row_list = False`. On PostgreSQL the row path must be the one
taken (the test counts it); on SQLite, where the read queryset has no group id array, the list keeps the plain path.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from customers.api.serializers import CustomerSerializer
from customers.api.views import CustomerViewSet
from customers.models import Customer
from groups.models import Membership
from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

#: Response headers both paths must give alike.
HEADERS = ("Content-Type", "Content-Length", "ETag", "Vary", "Allow", "X-Frame-Options", "Cache-Control")
ORDERINGS = ("created_at", "-created_at", "name", "-name", "updated_at", "-updated_at")


@pytest.fixture
def client():
    return client_for(user_with_perms("customers.view_customer"))


@pytest.fixture
def row_calls(monkeypatch):
    """Count the pages represented on the row path."""
    calls = []
    original = CustomerSerializer.represent_rows

    def spy(rows, plan):
        calls.append(len(rows))
        return original(rows, plan)

    monkeypatch.setattr(CustomerSerializer, "represent_rows", staticmethod(spy))
    return calls


@pytest.fixture
def customers():
    """Thirty customers with varied data: every optional field set, empty or null, countries stored in several
    forms, tied names and creation times, and every kind of membership (open, tied, ending later, ended,
    scheduled)."""
    now = timezone.now()
    groups = GroupFactory.create_batch(4)
    made = []
    for i in range(30):
        customer = CustomerFactory(
            name=f"Customer {i % 7} Ltd" if i % 3 else f'Ünïcode & "quoted" <{i}>',
            external_id=None if i % 4 == 0 else f"EXT-{i:03d}",
            tax_id=None if i % 2 else f"TAX{i}",
            vat_id=None if i % 5 else f"VAT{i}",
            address_street=None if i % 3 else f"{i} Long Street\nFloor {i}",
            address_city=None if i % 2 else "Zürich",
            address_zip=None if i % 6 else f"{1000 + i}",
            address_country=[None, "GB", "de", "FR", "CH"][i % 5],
        )
        made.append(customer)
    with connection.cursor() as cursor:  # stored forms the ORM's own writes normalise away
        table = Customer._meta.db_table
        cursor.execute(f"UPDATE {table} SET address_country = %s WHERE id = %s", ["", _db_id(made[6])])
        cursor.execute(f"UPDATE {table} SET address_country = %s WHERE id = %s", ["xx", _db_id(made[7])])
        cursor.execute(f"UPDATE {table} SET address_country = %s WHERE id = %s", ["gb", _db_id(made[8])])
    # Tied creation and update times (the id breaks the tie), times with microseconds and without.
    base = now - timedelta(days=40)
    for i, customer in enumerate(made):
        created = base + timedelta(days=i // 3, microseconds=0 if i % 2 else 123456)
        Customer.objects.filter(pk=customer.pk).update(created_at=created, updated_at=created + timedelta(hours=i % 4))
    tied = now - timedelta(days=3)
    for i, customer in enumerate(made):
        if i % 3 == 0:
            continue  # no groups
        MembershipFactory(customer=customer, group=groups[0], joined_at=tied)
        if i % 3 == 2:
            MembershipFactory(customer=customer, group=groups[1], joined_at=tied)  # tied joined_at
            MembershipFactory(
                customer=customer, group=groups[2], joined_at=now - timedelta(days=9), left_at=now + timedelta(days=1)
            )
            MembershipFactory(
                customer=customer, group=groups[3], joined_at=now - timedelta(days=9), left_at=now - timedelta(days=1)
            )
        if i % 5 == 0:
            MembershipFactory(customer=customer, group=groups[3], joined_at=now + timedelta(days=1))  # scheduled
    return {"customers": made, "groups": groups, "base": base}


def _db_id(customer):
    return Customer._meta.pk.get_db_prep_value(customer.pk, connection)


def _filters(data) -> list[str]:
    base = data["base"]
    return [
        "",
        "external_id=EXT-001",
        "external_id=EXT-001,EXT-002,EXT-013,EXT-999",
        "q=customer 3",
        "q=ext-01",
        "q=TAX",
        "name=%C3%BCn%C3%AFcode",  # "ünïcode", percent-encoded as clients send it
        f"group={data['groups'][1].pk}",
        f"group={data['groups'][0].pk}",
        "address_country=de",
        "address_country=GB",
        f"created_after={(base + timedelta(days=3)).isoformat()}".replace("+", "%2B"),
        f"created_before={(base + timedelta(days=6)).isoformat()}".replace("+", "%2B"),
        f"updated_since={(base + timedelta(days=5, hours=2)).isoformat()}".replace("+", "%2B"),
        "q=Customer&address_country=FR",
    ]


def _get(client, monkeypatch, path: str, *, rows: bool):
    monkeypatch.setattr(CustomerViewSet, "row_list", rows)
    return client.get(path)


def _same(client, monkeypatch, path: str):
    """Request *path* on both paths; assert byte-identical answers; return the answer."""
    plain = _get(client, monkeypatch, path, rows=False)
    fast = _get(client, monkeypatch, path, rows=True)
    assert fast.status_code == plain.status_code, path
    assert fast.content == plain.content, path
    for header in HEADERS:
        assert fast.headers.get(header) == plain.headers.get(header), (path, header)
    return fast


def _walk(client, monkeypatch, query: str) -> int:
    """Walk every page forward through `next` and back through `previous`; return the number of rows seen."""
    path = f"/api/v1/customers?{query}"
    seen = 0
    pages = []
    while path:
        response = _same(client, monkeypatch, path)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += len(body["results"])
        pages.append(path)
        nxt = body["next"]
        path = urlsplit(nxt)._replace(scheme="", netloc="").geturl() if nxt else None
    path = pages[-1]
    while path:  # and back from the last page
        body = _same(client, monkeypatch, path).json()
        prev = body["previous"]
        path = urlsplit(prev)._replace(scheme="", netloc="").geturl() if prev else None
    return seen


def test_every_filter_and_ordering_pages_byte_for_byte_alike(client, monkeypatch, customers, row_calls):
    for query in _filters(customers):
        expected = None
        for ordering in ORDERINGS:
            for size in (4, 100):
                params = "&".join(p for p in (query, f"ordering={ordering}", f"page_size={size}") if p)
                seen = _walk(client, monkeypatch, params)
                expected = seen if expected is None else expected
                assert seen == expected, params  # every ordering lists the same customers
        if query == "":
            assert expected == 30
    if connection.vendor == "postgresql":
        assert row_calls, "the row path was not taken"
    else:
        assert row_calls == []


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/New_York", "Asia/Kolkata"])
def test_pages_byte_for_byte_alike_in_every_time_zone(client, monkeypatch, customers, zone):
    with override_settings(TIME_ZONE=zone):
        for ordering in ORDERINGS:
            _walk(client, monkeypatch, f"ordering={ordering}&page_size=7")
        first = _same(client, monkeypatch, "/api/v1/customers").json()["results"][0]
        if zone == "Asia/Tokyo":
            assert first["created_at"].endswith("+09:00")
        elif zone == "UTC":
            assert first["created_at"].endswith("Z")


def test_the_row_page_equals_the_serializer_on_instances(client, customers, row_calls):
    """Beyond the plain list: each row equals `CustomerSerializer` on the customer read alone (its group ids by
    the property's own query), so both paths cannot share one mistake."""
    page = client.get("/api/v1/customers?page_size=100").json()["results"]
    assert len(page) == 30
    for item in page:
        customer = Customer.objects.get(pk=item["id"])
        assert item == json.loads(json.dumps(CustomerSerializer(customer).data, default=str))
    countries = {item["id"]: item["address_country"] for item in page}
    made = customers["customers"]
    assert countries[str(made[6].pk)] is None  # "" stored
    assert countries[str(made[7].pk)] == "xx"  # no such country: the stored value, as the descriptor gives it
    assert countries[str(made[8].pk)] == "GB"  # lower case stored: the descriptor's code
    assert countries[str(made[0].pk)] is None  # NULL
    assert countries[str(made[1].pk)] == "GB"


def test_bad_filters_orderings_and_cursors_answer_the_same_400(client, monkeypatch, customers):
    bad_cursor = base64.urlsafe_b64encode(b'{"o":"created_at","v":["nope","x"],"r":0}').decode().rstrip("=")
    for query in (
        "ordering=billing_epoch",
        "ordering=--name",
        "page_size=0",
        "page_size=abc",
        "cursor=%%%",
        f"cursor={bad_cursor}",
        "address_country=XX",
        "group=not-a-uuid",
        "created_after=yesterday",
        "external_id=%01",
    ):
        response = _same(client, monkeypatch, f"/api/v1/customers?{query}")
        assert response.status_code == 400, query


def test_a_changed_customer_is_seen_on_the_very_next_list(client, customers):
    """Nothing read is kept: the row path reads the rows on every request."""
    made = customers["customers"]
    target = made[1]
    first = client.get(f"/api/v1/customers?external_id={target.external_id}").json()["results"][0]
    Customer.objects.filter(pk=target.pk).update(name="Renamed Ltd", address_country="FR")
    Membership.objects.filter(customer=target).delete()
    changed = client.get(f"/api/v1/customers?external_id={target.external_id}").json()["results"][0]
    assert first["name"] != "Renamed Ltd" and first["group_ids"]
    assert changed["name"] == "Renamed Ltd" and changed["address_country"] == "FR" and changed["group_ids"] == []


def test_a_removed_view_permission_is_refused_on_the_next_list(customers):
    from django.contrib.auth.models import Permission

    user = user_with_perms("customers.view_customer")
    client = client_for(user)
    assert client.get("/api/v1/customers").status_code == 200
    user.user_permissions.remove(Permission.objects.get(codename="view_customer"))
    assert client.get("/api/v1/customers").status_code == 403
