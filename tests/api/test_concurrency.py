"""Races between concurrent requests, with real threads on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from customers.models import Customer
from groups.models import Membership
from tests.conftest import client_for
from tests.factories import CustomerFactory, GroupFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(count: int, work) -> list:
    """Run *work(i)* in *count* threads released at the same moment; return their results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_concurrent_creates_with_one_external_id_give_one_201_and_nineteen_409():
    clients = [client_for(UserFactory(is_superuser=True)) for _ in range(20)]
    responses = run_concurrently(
        20,
        lambda i: clients[i].post(
            "/api/v1/customers", {"name": f"Racer {i}", "external_id": "EXT-RACE"}, format="json"
        ),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    winner = Customer.objects.get(external_id="EXT-RACE")
    assert Customer.objects.count() == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "external_id_taken"
            assert response.json()["existing_id"] == str(winner.pk)


def test_concurrent_adds_of_the_same_member_make_one_membership():
    group, customer = GroupFactory(), CustomerFactory()
    clients = [client_for(UserFactory(is_superuser=True)) for _ in range(8)]
    url = f"/api/v1/groups/{group.pk}/customers"
    responses = run_concurrently(8, lambda i: clients[i].post(url, {"customer_id": str(customer.pk)}, format="json"))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201]
    assert Membership.objects.filter(group=group, customer=customer).count() == 1


def test_concurrent_group_creates_with_one_name_give_one_201():
    clients = [client_for(UserFactory(is_superuser=True)) for _ in range(10)]
    responses = run_concurrently(
        10, lambda i: clients[i].post("/api/v1/groups", {"name": "VIP" if i % 2 else "vip"}, format="json")
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
