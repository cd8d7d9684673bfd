"""Cursor pagination, filters and ordering of the lists."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import Customer
from tests.customers.test_api import problem
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"


def walk(client, url, params=None, direction="next"):
    """Return every id reached by following `direction` links, and the number of pages."""
    ids, pages = [], 0
    response = client.get(url, params or {})
    while True:
        body = response.json()
        ids += [r["id"] for r in body["results"]]
        pages += 1
        if not body[direction]:
            return ids, pages, body
        response = client.get(body[direction])


def test_default_page_size_is_50_and_pages_cover_every_row_once(api):
    CustomerFactory.create_batch(120)
    ids, pages, _ = walk(api, URL)
    assert pages == 3 and len(ids) == 120 and len(set(ids)) == 120
    expected = [str(pk) for pk in Customer.objects.order_by("created_at", "id").values_list("id", flat=True)]
    assert ids == expected


@pytest.mark.parametrize("ordering", ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"])
def test_each_ordering_pages_through_all_rows_in_order_even_with_ties(api, ordering):
    for i in range(23):
        CustomerFactory(name=f"Same {i % 3}")  # many equal names: the id breaks ties
    ids, _, _ = walk(api, URL, {"ordering": ordering, "page_size": 5})
    field = ordering.lstrip("-")
    desc = ordering.startswith("-")
    rows = sorted(Customer.objects.all(), key=lambda c: (getattr(c, field), str(c.pk)), reverse=desc)
    assert ids == [str(c.pk) for c in rows]


def test_previous_links_walk_back_to_the_first_page(api):
    CustomerFactory.create_batch(12)
    forward, _, last = walk(api, URL, {"page_size": 5})
    assert last["next"] is None
    first_page = api.get(URL, {"page_size": 5}).json()
    assert first_page["previous"] is None
    # from the last page, walk back with previous links
    response = api.get(last["previous"])
    back = []
    while True:
        body = response.json()
        back = [r["id"] for r in body["results"]] + back
        if not body["previous"]:
            break
        response = api.get(body["previous"])
    assert back + [r["id"] for r in last["results"]] == forward


def test_page_size_up_to_1000(api):
    CustomerFactory.create_batch(3)
    assert len(api.get(URL, {"page_size": 1000}).json()["results"]) == 3
    assert len(api.get(URL, {"page_size": 2}).json()["results"]) == 2


@pytest.mark.parametrize("size", ["0", "-1", "1001", "abc", "1e3", "99999999999999999999999"])
def test_absurd_page_size_is_400(api, size):
    body = problem(api.get(URL, {"page_size": size}), 400, "invalid")
    assert body["errors"][0]["field"] == "page_size"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        base64.urlsafe_b64encode(b'{"o":"created_at","v":["not a date","x"],"r":0}').decode(),
        base64.urlsafe_b64encode(b'{"o":"name","v":["a","00000000-0000-0000-0000-000000000000"],"r":0}').decode(),
        base64.urlsafe_b64encode(b'{"o":"created_at"}').decode(),
        base64.urlsafe_b64encode(b"[1,2,3]").decode(),
        base64.urlsafe_b64encode(b'{"o":"created_at","v":[null,null]}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_tampered_cursor_is_400(api, cursor):
    CustomerFactory()
    body = problem(api.get(URL, {"cursor": cursor}), 400, "invalid")
    assert body["errors"][0]["field"] == "cursor"


def test_unknown_ordering_is_400(api):
    problem(api.get(URL, {"ordering": "tax_id"}), 400, "invalid")
    problem(api.get(URL, {"ordering": "--name"}), 400, "invalid")


def test_filters(api):
    now = timezone.now()
    vip = GroupFactory(name="VIP")
    a = CustomerFactory(name="Acme Widgets", external_id="EXT-A", tax_id="TAX-111", address_country="DE")
    b = CustomerFactory(name="Bolt Ltd", external_id="EXT-B", vat_id="GB999", address_country="GB")
    c = CustomerFactory(name="Crate", external_id="EXT-C", address_country="GB")
    MembershipFactory(customer=b, group=vip)
    Customer.objects.filter(pk=c.pk).update(created_at=now - timedelta(days=10), updated_at=now - timedelta(days=10))

    def ids(**params):
        response = api.get(URL, params)
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    assert ids(external_id="EXT-A") == {str(a.pk)}
    assert ids(external_id="EXT-A,EXT-C,EXT-NONE") == {str(a.pk), str(c.pk)}
    assert ids(external_id="ext-a") == set()  # exact
    assert ids(q="acme") == {str(a.pk)}
    assert ids(q="tax-1") == {str(a.pk)}
    assert ids(q="gb99") == {str(b.pk)}
    assert ids(q="ext-") == {str(a.pk), str(b.pk), str(c.pk)}
    assert ids(name="LTD") == {str(b.pk)}
    assert ids(group=str(vip.pk)) == {str(b.pk)}
    assert ids(address_country="gb") == {str(b.pk), str(c.pk)}
    cut = (now - timedelta(days=1)).isoformat()
    assert ids(created_after=cut) == {str(a.pk), str(b.pk)}
    assert ids(created_before=cut) == {str(c.pk)}
    assert ids(updated_since=cut) == {str(a.pk), str(b.pk)}


@pytest.mark.parametrize(
    "params",
    [
        {"group": "not-a-uuid"},
        {"created_after": "yesterday"},
        {"created_before": "2026-13-45"},
        {"updated_since": "99999-01-01T00:00:00Z"},
        {"created_after": "9999-12-31T23:59:59-01:00"},
        {"address_country": "XX"},
        {"address_country": "GBR"},
        {"q": "a\x00b"},
        {"name": "\x00"},
        {"external_id": "a\x00"},
    ],
)
def test_bad_filter_values_are_400(api, params):
    problem(api.get(URL, params), 400, "invalid")


def test_listing_costs_the_same_queries_for_1_or_100_customers_with_groups(api, django_assert_num_queries):
    groups = GroupFactory.create_batch(3)
    first = CustomerFactory()
    MembershipFactory(customer=first, group=groups[0])
    api.get(URL)  # warm up: the key's last_used_at is written once per minute, not per request
    # The key; the page with its current group ids on PostgreSQL, else the page and its memberships.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3) as one:
        assert len(api.get(URL).json()["results"]) == 1
    for i in range(99):
        customer = CustomerFactory()
        MembershipFactory(customer=customer, group=groups[i % 3])
        MembershipFactory(customer=customer, group=groups[(i + 1) % 3])
    with django_assert_num_queries(len(one.captured_queries)):
        results = api.get(URL, {"page_size": 100}).json()["results"]
    assert len(results) == 100 and all(len(r["group_ids"]) >= 1 for r in results)


def test_listing_groups_costs_the_same_queries_for_1_or_100_groups(api, django_assert_num_queries):
    MembershipFactory()
    api.get("/api/v1/groups")
    with django_assert_num_queries(2) as one:  # key, page with counts
        api.get("/api/v1/groups")
    for _ in range(99):
        MembershipFactory()
    with django_assert_num_queries(len(one.captured_queries)):
        results = api.get("/api/v1/groups", {"page_size": 100}).json()["results"]
    assert len(results) == 100 and all(r["customer_count"] == 1 for r in results)


def test_group_members_and_customer_groups_cost_constant_queries(api, django_assert_num_queries):
    group = GroupFactory()
    customer = CustomerFactory()
    MembershipFactory(group=group, customer=customer)
    api.get(f"/api/v1/groups/{group.pk}/customers")
    with django_assert_num_queries(4) as members_one:
        api.get(f"/api/v1/groups/{group.pk}/customers")
    with django_assert_num_queries(3) as groups_one:
        api.get(f"/api/v1/customers/{customer.pk}/groups")
    for _ in range(30):
        MembershipFactory(group=group)
        MembershipFactory(customer=customer)
    with django_assert_num_queries(len(members_one.captured_queries)):
        assert len(api.get(f"/api/v1/groups/{group.pk}/customers").json()["results"]) == 31
    with django_assert_num_queries(len(groups_one.captured_queries)):
        assert len(api.get(f"/api/v1/customers/{customer.pk}/groups").json()["results"]) == 31
