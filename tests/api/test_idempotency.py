"""Idempotency-Key on POST: retries replay the first response and never act twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from billingengine.models import IdempotencyRecord
from customers.models import Customer
from groups.models import Group, Membership
from tests.conftest import client_for
from tests.factories import CustomerFactory, GroupFactory


def post(client, path, body, key, **extra):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


def test_retry_with_same_key_and_body_replays_201_without_a_second_customer(api):
    first = post(api, "/api/v1/customers", {"name": "Acme", "external_id": "EXT-1"}, "k-1")
    again = post(api, "/api/v1/customers", {"name": "Acme", "external_id": "EXT-1"}, "k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Customer.objects.count() == 1


def test_same_key_with_a_different_body_is_422_idempotency_key_reused_and_writes_nothing(api):
    post(api, "/api/v1/groups", {"name": "VIP"}, "k-2")
    response = post(api, "/api/v1/groups", {"name": "Promo"}, "k-2")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert list(Group.objects.values_list("name", flat=True)) == ["VIP"]


def test_same_key_on_another_path_is_422(api):
    group = GroupFactory()
    post(api, "/api/v1/groups", {"name": "VIP"}, "k-3")
    response = post(api, f"/api/v1/groups/{group.pk}/customers", {"name": "VIP"}, "k-3")
    assert response.status_code == 422


def test_keys_are_scoped_to_the_api_key(api, admin_user_):
    other = client_for(admin_user_)
    assert post(api, "/api/v1/groups", {"name": "VIP"}, "shared").status_code == 201
    response = post(other, "/api/v1/groups", {"name": "Promo"}, "shared")
    assert response.status_code == 201
    assert Group.objects.count() == 2


def test_a_4xx_answer_is_replayed_too(api):
    CustomerFactory(external_id="EXT-9")
    first = post(api, "/api/v1/customers", {"name": "X", "external_id": "EXT-9"}, "k-4")
    again = post(api, "/api/v1/customers", {"name": "X", "external_id": "EXT-9"}, "k-4")
    assert first.status_code == again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    assert again.json() == first.json()


def test_a_key_still_in_flight_is_409(api):
    post(api, "/api/v1/groups", {"name": "VIP"}, "k-5")
    record = IdempotencyRecord.objects.get(key="k-5")
    IdempotencyRecord.objects.filter(pk=record.pk).update(done=False, status_code=None, body=None)
    response = post(api, "/api/v1/groups", {"name": "VIP"}, "k-5")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_flight"


def test_a_stale_in_flight_claim_is_taken_over_and_the_request_runs(api, settings):
    """A worker that died mid-request rolled its transaction back: the retry must run, not 409 forever."""
    post(api, "/api/v1/groups", {"name": "Other"}, "seed")
    scope = IdempotencyRecord.objects.get(key="seed").scope
    from billingengine.idempotency import fingerprint

    IdempotencyRecord.objects.create(
        scope=scope,
        key="k-6",
        fingerprint=fingerprint(method="POST", path="/api/v1/groups", data={"name": "VIP"}),
        created_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1),
    )
    response = post(api, "/api/v1/groups", {"name": "VIP"}, "k-6")
    assert response.status_code == 201
    assert Group.objects.filter(name="VIP").exists()
    assert IdempotencyRecord.objects.get(key="k-6").done


def test_an_expired_key_can_be_used_again(api, settings):
    post(api, "/api/v1/groups", {"name": "VIP"}, "k-7")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS))
    response = post(api, "/api/v1/groups", {"name": "Promo"}, "k-7")
    assert response.status_code == 201
    assert Group.objects.count() == 2


def test_a_failed_request_releases_the_key_so_a_retry_runs(api, monkeypatch):
    from customers import services

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "customer_create", broken)
    api.raise_request_exception = False
    assert post(api, "/api/v1/customers", {"name": "Acme"}, "k-8").status_code == 500
    assert not IdempotencyRecord.objects.filter(key="k-8").exists()
    monkeypatch.undo()
    assert post(api, "/api/v1/customers", {"name": "Acme"}, "k-8").status_code == 201
    assert Customer.objects.count() == 1


def test_membership_add_replay_keeps_the_first_status(api):
    group, customer = GroupFactory(), CustomerFactory()
    path = f"/api/v1/groups/{group.pk}/customers"
    assert post(api, path, {"customer_id": str(customer.pk)}, "k-9").status_code == 201
    again = post(api, path, {"customer_id": str(customer.pk)}, "k-9")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Membership.objects.count() == 1


@pytest.mark.parametrize("key", ["", " leading", "x" * 256, "tab\tinside"])
def test_invalid_idempotency_key_is_400_and_writes_nothing(api, key):
    response = post(api, "/api/v1/groups", {"name": "VIP"}, key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Group.objects.exists()


def test_a_255_character_key_is_accepted(api):
    assert post(api, "/api/v1/groups", {"name": "VIP"}, "k" * 255).status_code == 201


def test_post_without_the_header_does_not_touch_the_idempotency_table(api):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert api.post("/api/v1/groups", {"name": "VIP"}, format="json").status_code == 201
    assert queries.captured_queries
    assert not any("idempotencyrecord" in q["sql"] for q in queries.captured_queries)
    assert not IdempotencyRecord.objects.exists()


def test_clean_idempotency_keys_deletes_only_expired_records(api, settings):
    post(api, "/api/v1/groups", {"name": "A"}, "old")
    post(api, "/api/v1/groups", {"name": "B"}, "new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1)
    )
    call_command("clean_idempotency_keys", "--dry-run")
    assert IdempotencyRecord.objects.count() == 2
    call_command("clean_idempotency_keys")
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_create_one_customer():
    """Ten threads send the same keyed POST at once: one 201 effect; the rest replay it or get 409."""
    from tests.factories import UserFactory

    client_user = UserFactory(is_staff=True, is_superuser=True)
    key = client_for(client_user).api_key
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def worker():
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        barrier.wait()
        try:
            response = post(client, "/api/v1/customers", {"name": "Acme", "external_id": "C-1"}, "same")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Customer.objects.filter(external_id="C-1").count() == 1
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
