"""Races between concurrent price list and rate writes, with real threads on PostgreSQL: one wins, the others
get the contract's 409, never a 500."""

from __future__ import annotations

import pytest

from pricing.models import PriceList, Rate
from tests.api.test_concurrency import run_concurrently
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.pricing.factories import PriceListFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_ten_concurrent_lists_with_one_priority_give_one_201_and_nine_priority_taken():
    clients = [client_for(UserFactory(is_superuser=True)) for _ in range(10)]
    responses = run_concurrently(
        10,
        lambda i: clients[i].post(
            "/api/v1/price-lists", {"name": f"L{i}", "currency": "EUR", "priority": 1}, format="json"
        ),
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    winner = PriceList.objects.get()
    for response in responses:
        if response.status_code == 409:
            assert (response.json()["code"], response.json()["existing_id"]) == ("priority_taken", str(winner.pk))


def test_ten_concurrent_rates_of_one_code_and_moment_give_one_201_and_nine_rate_exists():
    price_list = PriceListFactory()
    clients = [client_for(UserFactory(is_superuser=True)) for _ in range(10)]
    body = {"code": "SMS", "model": "unit", "unit_price": "0.05", "valid_from": "2026-03-01T00:00:00Z"}
    url = f"/api/v1/price-lists/{price_list.pk}/rates"
    responses = run_concurrently(10, lambda i: clients[i].post(url, body, format="json"))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    winner = Rate.objects.get()
    for response in responses:
        if response.status_code == 409:
            assert (response.json()["code"], response.json()["existing_id"]) == ("rate_exists", str(winner.pk))
