"""Throttling, admin brute-force lockout, secrets kept out of logs, deploy checks."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

from billingengine.logging import RedactSecretsFilter, redact
from tests.conftest import client_for
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_request_over_the_rate_is_429_with_retry_after_problem(api, settings):
    settings.API_THROTTLE_RATE = "3/min"
    for _ in range(3):
        assert api.get("/api/v1/groups").status_code == 200
    response = api.get("/api/v1/groups")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "throttled"


def test_throttling_counts_per_api_key(api, admin_user_, settings):
    settings.API_THROTTLE_RATE = "2/min"
    other = client_for(admin_user_)
    for _ in range(2):
        assert api.get("/api/v1/groups").status_code == 200
    assert api.get("/api/v1/groups").status_code == 429
    assert other.get("/api/v1/groups").status_code == 200


def test_throttled_post_with_idempotency_key_is_not_claimed(api, settings):
    settings.API_THROTTLE_RATE = "1/min"
    api.get("/api/v1/groups")
    response = api.post("/api/v1/groups", {"name": "VIP"}, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert response.status_code == 429
    from billingengine.models import IdempotencyRecord

    assert not IdempotencyRecord.objects.exists()


def test_admin_login_locks_out_after_repeated_failures(client, settings, db):
    UserFactory(username="staff", is_staff=True, password="right-password-123")
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(url, {"username": "staff", "password": "wrong"})
        assert response.status_code == 200  # the form again, with an error
    assert client.post(url, {"username": "staff", "password": "wrong"}).status_code == 429  # the limit: locked
    locked = client.post(url, {"username": "staff", "password": "right-password-123"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_admin_login_with_correct_password_works(client, db):
    UserFactory(username="staff", is_staff=True, password="right-password-123")
    response = client.post(reverse("admin:login"), {"username": "staff", "password": "right-password-123"})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_api_keys_never_reach_the_logs(api, anon, caplog, monkeypatch):
    """Requests failing with 401, 404 and 500 while carrying keys log nothing containing the key."""
    caplog.set_level(logging.DEBUG)
    bad_key = "AbCdEfGh." + "x" * 43
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {bad_key}")
    assert anon.get("/api/v1/customers").status_code == 401
    assert api.get("/api/v1/customers/not-a-uuid").status_code == 404

    from customers import services

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "customer_create", broken)
    api.raise_request_exception = False
    assert api.post("/api/v1/customers", {"name": "Acme"}, format="json").status_code == 500
    assert caplog.records, "the failures above are logged"
    handler_filter = RedactSecretsFilter()
    for record in caplog.records:
        handler_filter.filter(record)
        text = logging.Formatter().format(record) + repr(record.__dict__)
        assert api.api_key not in text
        assert bad_key not in text


def test_redaction_filter_hides_bearer_tokens_and_keys():
    key = "AbCdEfGh." + "y" * 43
    assert key not in redact(f"Authorization: Bearer {key}")
    assert key not in redact(f"got key {key} from client")
    assert "hunter2" not in redact("{'password': 'hunter2'}")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "header %s", (f"Bearer {key}",), None)
    RedactSecretsFilter().filter(record)
    assert key not in record.getMessage()


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "Q9v!xZ3#pL0@wE7$rT5^yU1&iO8*aS2(dF4)gH6_jK",
        "ALLOWED_HOSTS": "example.com",
        "SECURE_SSL": "true",
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secure_headers_are_sent(api):
    response = api.get("/api/v1/groups")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_session_writes_to_the_api_need_a_csrf_token(db):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post("/api/v1/groups", {"name": "VIP"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.postgres
def test_postgresql_connections_run_without_jit(db):
    """Regression: PostgreSQL's JIT compiled the member-count query of the group list (~130 ms of
    compilation on every request at 3M memberships); an OLTP app's short queries never gain from it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_options_on_every_api_path_is_never_a_5xx(api):
    """Bug (found by the fuzz): OPTIONS /customers/{id}/bills was a 500 — the metadata of a POST needs the
    view's serializer, and the customer billing view had none."""
    schema = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in schema["paths"]:
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        response = api.options(url)
        assert response.status_code < 500, (path, response.status_code, response.content[:200])
