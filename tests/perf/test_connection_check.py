"""An API request's first statement (the key lookup) doubles as its connection health check on PostgreSQL:
no separate `SELECT 1` round trip, and a connection broken since the last request still costs no failed
request (billingengine/api/auth_queries.py)."""

from __future__ import annotations

import pytest
from django.db import close_old_connections, connection

from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory
from tests.postgres import terminate_backend

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _next_request(client, path: str):
    close_old_connections()  # what Django's handler does when a request starts (the test client skips it)
    return client.get(path)


def test_a_connection_killed_between_requests_costs_no_failed_request():
    customer = CustomerFactory()
    client = client_for(user_with_perms("customers.view_customer"))
    assert _next_request(client, f"/api/v1/customers/{customer.pk}").status_code == 200
    pid = connection.connection.info.backend_pid
    terminate_backend(pid)
    response = _next_request(client, f"/api/v1/customers/{customer.pk}")
    assert response.status_code == 200, response.content
    assert connection.connection.info.backend_pid != pid


def test_an_api_request_runs_no_separate_health_check(monkeypatch):
    customer = CustomerFactory()
    client = client_for(user_with_perms("customers.view_customer"))
    assert _next_request(client, f"/api/v1/customers/{customer.pk}").status_code == 200
    checks = []
    original = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or original())
    assert _next_request(client, f"/api/v1/customers/{customer.pk}").status_code == 200
    assert checks == []
    # The admin and every other request keep Django's own check.
    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert checks == [1]
