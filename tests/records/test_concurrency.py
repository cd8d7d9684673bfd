"""Concurrent submissions on PostgreSQL: retries racing each other store one record, rollups add up."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from records.models import DataRecord, UsageRollup
from tests.conftest import client_for
from tests.factories import CustomerFactory, UserFactory
from tests.records.conftest import sms


def race(clients, requests):
    """Send requests[i] with clients[i], all at once from threads; return the responses."""
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def run(i):
        try:
            barrier.wait()
            path, body = requests[i]
            responses[i] = clients[i].post(path, body, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_retries_of_one_transaction_id_store_one_record():
    CustomerFactory(external_id="EXT-CU-0042")
    user = UserFactory(is_superuser=True, is_staff=True)
    clients = [client_for(user), client_for(user)]

    for round_ in range(5):
        body = sms(transaction_id=f"RACE-{round_}")
        responses = race(clients, [("/api/v1/records", body)] * 2)

        assert sorted(r.status_code for r in responses) == [200, 201], [r.json() for r in responses]
        assert responses[0].json() == responses[1].json()
        assert DataRecord.objects.filter(transaction_id=f"RACE-{round_}").count() == 1
    assert UsageRollup.objects.get().records == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_the_same_transaction_ids_store_each_record_once():
    CustomerFactory(external_id="EXT-CU-0042")
    user = UserFactory(is_superuser=True, is_staff=True)
    clients = [client_for(user), client_for(user)]
    records = [sms(transaction_id=f"B-{i}", time_from=f"2026-03-31T{i % 24:02d}:00:00Z") for i in range(200)]

    responses = race(clients, [("/api/v1/records/batch", {"records": records})] * 2)

    assert [r.status_code for r in responses] == [201, 201]
    bodies = [r.json() for r in responses]
    assert sum(b["created"] for b in bodies) == 200
    assert sum(b["duplicates"] for b in bodies) == 200
    assert DataRecord.objects.count() == 200
    assert sum(UsageRollup.objects.values_list("records", flat=True)) == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_updating_the_same_rollup_rows_neither_deadlock_nor_lose_updates():
    CustomerFactory(external_id="A")
    CustomerFactory(external_id="B")
    user = UserFactory(is_superuser=True, is_staff=True)
    clients = [client_for(user) for _ in range(4)]
    batch = [
        sms(customer_external_id=ext, code=code, quantity=1, time_from=f"2026-03-31T{h:02d}:30:00Z")
        for ext in ("A", "B")
        for code in ("SMS", "MMS")
        for h in range(24)
    ]
    # Each client sends the same cells in another order: a lock order taken from the input would deadlock.
    orders = [batch, batch[::-1], batch[1::2] + batch[::2], batch[::2] + batch[1::2]]

    responses = race(clients, [("/api/v1/records/batch", {"records": o}) for o in orders])

    assert [r.status_code for r in responses] == [201] * 4, [r.json() for r in responses]
    assert UsageRollup.objects.count() == 2 * 2 * 24
    assert set(UsageRollup.objects.values_list("records", flat=True)) == {4}
