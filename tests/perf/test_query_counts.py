"""Each API read costs a fixed number of queries, whatever the number of rows or groups involved.

A request made with an API key of an ordinary user costs, before the view's own queries, on PostgreSQL
ONE query: the key, its user and the user's permissions (own and via groups), read together by
billingengine/api/auth_queries.py. Elsewhere (SQLite) two ORM queries: the key with its user, then the
permissions. A retrieve, and a page of the list, reads the customers with their current group ids in
one query on PostgreSQL (elsewhere two: the customers, then the group ids of all of them).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

POSTGRES = connection.vendor == "postgresql"
AUTH_QUERIES = 1 if POSTGRES else 2  # key + user + permissions in one query; elsewhere key + user, permissions
RETRIEVE_QUERIES = 1 if POSTGRES else 2  # the customer with its current group ids; elsewhere two queries
PAGE_QUERIES = 1 if POSTGRES else 2  # the page with each customer's current group ids; elsewhere the page's ids


@pytest.fixture
def integration_api():
    """A client whose key belongs to an ordinary user holding view permissions (not a superuser)."""
    user = user_with_perms("customers.view_customer", "groups.view_group", "groups.view_membership")
    client = client_for(user)
    client.get("/api/v1/groups")  # the key's first use records last_used_at; later requests do not write
    return client


def _customers_with_groups(count: int, groups: int = 3) -> list:
    group_list = GroupFactory.create_batch(groups)
    customers = CustomerFactory.create_batch(count)
    for customer in customers:
        for group in group_list:
            MembershipFactory(customer=customer, group=group)
    return customers


def _count(client, url: str) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries), response


def test_retrieve_costs_one_query_after_auth_on_postgresql_whatever_the_number_of_groups(
    integration_api, django_assert_num_queries
):
    one = _customers_with_groups(1, groups=1)[0]
    many = _customers_with_groups(1, groups=20)[0]
    with django_assert_num_queries(AUTH_QUERIES + RETRIEVE_QUERIES):
        response = integration_api.get(f"/api/v1/customers/{many.pk}")
    assert len(response.json()["group_ids"]) == 20
    assert _count(integration_api, f"/api/v1/customers/{one.pk}")[0] == AUTH_QUERIES + RETRIEVE_QUERIES


@pytest.mark.postgres
def test_an_api_request_authenticates_in_one_query_on_postgresql(integration_api, django_assert_num_queries):
    """The key, its user and the user's permissions: one statement, whatever the number of permissions."""
    customer = CustomerFactory()
    with django_assert_num_queries(2):  # authentication, then the customer with its group ids
        assert integration_api.get(f"/api/v1/customers/{customer.pk}").status_code == 200


def test_customer_list_costs_the_same_for_1_and_100_customers_with_groups(integration_api, django_assert_num_queries):
    _customers_with_groups(1)
    with django_assert_num_queries(AUTH_QUERIES + PAGE_QUERIES):
        response = integration_api.get("/api/v1/customers?page_size=100")
    assert len(response.json()["results"]) == 1
    _customers_with_groups(99)
    with django_assert_num_queries(AUTH_QUERIES + PAGE_QUERIES):
        response = integration_api.get("/api/v1/customers?page_size=100")
    results = response.json()["results"]
    assert len(results) == 100
    assert all(len(c["group_ids"]) == 3 for c in results)


def test_a_cursor_page_costs_the_same_as_the_first(integration_api):
    _customers_with_groups(30)
    first_count, first = _count(integration_api, "/api/v1/customers?page_size=10")
    next_count, second = _count(integration_api, first.json()["next"])
    assert len(second.json()["results"]) == 10
    assert first_count == next_count == AUTH_QUERIES + PAGE_QUERIES


def test_filter_by_external_id_costs_the_same_as_the_list(integration_api, django_assert_num_queries):
    customers = _customers_with_groups(5)
    wanted = ",".join(c.external_id for c in customers[:3])
    with django_assert_num_queries(AUTH_QUERIES + PAGE_QUERIES):
        response = integration_api.get(f"/api/v1/customers?external_id={wanted}")
    assert {c["external_id"] for c in response.json()["results"]} == {c.external_id for c in customers[:3]}


def test_group_list_costs_one_query_after_auth_whatever_the_number_of_groups_and_members(
    integration_api, django_assert_num_queries
):
    _customers_with_groups(2, groups=1)
    with django_assert_num_queries(AUTH_QUERIES + 1):  # groups with their member counts in one query
        response = integration_api.get("/api/v1/groups?page_size=100")
    assert [g["customer_count"] for g in response.json()["results"]] == [2]
    _customers_with_groups(5, groups=30)
    with django_assert_num_queries(AUTH_QUERIES + 1):
        response = integration_api.get("/api/v1/groups?page_size=100")
    assert len(response.json()["results"]) == 31


def test_group_members_list_costs_the_same_for_1_and_50_members(integration_api):
    group = GroupFactory()
    MembershipFactory(group=group)
    small, _ = _count(integration_api, f"/api/v1/groups/{group.pk}/customers")
    for customer in CustomerFactory.create_batch(49):
        MembershipFactory(group=group, customer=customer)
    large, response = _count(integration_api, f"/api/v1/groups/{group.pk}/customers")
    assert len(response.json()["results"]) == 50
    assert small == large


def test_with_group_ids_costs_one_query_per_chunk_when_iterated(django_assert_num_queries):
    customers = _customers_with_groups(5)
    with django_assert_num_queries(2):  # the customers, their current memberships
        rows = list(Customer.objects.with_group_ids().order_by("created_at").iterator(chunk_size=10))
    assert [c.pk for c in rows] == [c.pk for c in customers]
    assert all(len(c.group_ids) == 3 for c in rows)
    with django_assert_num_queries(3):  # customers, then memberships of each of two chunks (one fetch)
        rows = list(Customer.objects.with_group_ids().order_by("created_at").iterator(chunk_size=3))
    assert all(len(c.group_ids) == 3 for c in rows)


def test_retrieve_ignores_the_lists_query_filters(integration_api):
    """The list's filters (and their validation) are not applied to one customer fetched by id."""
    customer = CustomerFactory(address_country="GB")
    response = integration_api.get(f"/api/v1/customers/{customer.pk}?address_country=DE")
    assert response.status_code == 200
    assert response.json()["id"] == str(customer.pk)


def test_membership_routes_do_not_count_the_groups_members(api):
    """Regression: adding a member loaded the group with its member count, a scan of all its members."""
    group = GroupFactory()
    customers = _customers_with_groups(3, groups=0)
    with CaptureQueriesContext(connection) as queries:
        response = api.post(
            f"/api/v1/groups/{group.pk}/customers", {"customer_id": str(customers[0].pk)}, format="json"
        )
    assert response.status_code == 201
    with CaptureQueriesContext(connection) as more:
        assert api.get(f"/api/v1/groups/{group.pk}/customers").status_code == 200
        assert api.delete(f"/api/v1/groups/{group.pk}/customers/{customers[0].pk}").status_code == 204
    counting = [q["sql"] for q in [*queries.captured_queries, *more.captured_queries] if "COUNT(" in q["sql"].upper()]
    assert counting == []
    assert api.get(f"/api/v1/groups/{group.pk}").json()["customer_count"] == 0


def test_create_with_two_groups_costs_a_fixed_handful_of_statements(django_assert_num_queries):
    """Regression: a create ran 20 statements in its services (4 savepoints and their releases, the group ids
    looked up three times, the new customer locked and its memberships read); now the groups once, a savepoint
    around the customer's two inserts (a taken external_id is a 409 and the transaction goes on to name the
    other customer), the membership guard, the memberships' two inserts."""
    user = user_with_perms("customers.add_customer")
    client = client_for(user)
    client.get("/api/v1/customers")  # the key's first use records last_used_at
    groups = [str(g.pk) for g in GroupFactory.create_batch(2)]
    body = {"name": "Counted Ltd", "address_country": "de", "group_ids": groups}
    # The view's atomic block is a savepoint inside the test's transaction (BEGIN/COMMIT in production).
    expected = [
        *(["SELECT"] * AUTH_QUERIES),  # the key, its user and permissions
        "SAVEPOINT",  # the view's transaction
        "SELECT",  # the group ids, once
        "SAVEPOINT",  # around the customer's inserts
        "INSERT",  # the customer
        "INSERT",  # its history row
        "RELEASE",
        "SELECT",  # the membership guard (billing: a billed period)
        "INSERT",  # the memberships
        "INSERT",  # their history rows
        "RELEASE",
    ]
    with django_assert_num_queries(len(expected)) as queries:
        response = client.post("/api/v1/customers", body, format="json")
    assert response.status_code == 201, response.content
    assert [q["sql"].split()[0] for q in queries.captured_queries] == expected
    customer = Customer.objects.get(pk=response.json()["id"])
    assert sorted(str(g) for g in customer.group_ids) == sorted(groups)
