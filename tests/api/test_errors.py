"""Malformed input of every kind gets a problem+json 4xx, never a 5xx, and writes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from customers.models import Customer
from groups.models import Group
from tests.customers.test_api import problem
from tests.factories import CustomerFactory, GroupFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body",
    [b"{bad", b"[1,2", b'{"name": "x"', b"\xff\xfe\x00", b"NaN", b'{"name": NaN}', b'{"name": Infinity}'],
)
def test_malformed_json_is_400(api, body):
    response = api.generic("POST", "/api/v1/customers", body, content_type="application/json")
    problem(response, 400, "malformed_json")
    assert not Customer.objects.exists()


def test_empty_body_is_400_naming_the_required_field(api):
    response = api.generic("POST", "/api/v1/customers", b"", content_type="application/json")
    body = problem(response, 400, "invalid")
    assert [e["field"] for e in body["errors"]] == ["name"]


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b"[{}]"])
def test_json_that_is_not_an_object_is_400(api, body):
    response = api.generic("POST", "/api/v1/customers", body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_non_json_body_is_415(api, content_type):
    response = api.generic("POST", "/api/v1/customers", b"name=x", content_type=content_type)
    problem(response, 415, "unsupported_media_type")
    assert not Customer.objects.exists()


def test_unsupported_method_is_405(api):
    problem(api.delete("/api/v1/customers"), 405, "method_not_allowed")
    problem(api.put("/api/v1/groups", {}, format="json"), 405, "method_not_allowed")


def test_unknown_api_path_is_problem_404(api, anon):
    problem(api.get("/api/v1/nothing-here"), 404, "not_found")
    problem(anon.get("/api/v2/customers"), 404, "not_found")


@pytest.mark.parametrize(
    "path", ["/api/v1/customers/%00", "/api/v1/groups/'; DROP TABLE x;--", "/api/v1/customers/" + "9" * 500]
)
def test_malformed_path_ids_are_404(api, path):
    assert api.get(path).status_code == 404


def test_overlong_strings_are_400(api):
    body = problem(
        api.post("/api/v1/customers", {"name": "x" * 100_000, "tax_id": "y" * 65}, format="json"), 400, "invalid"
    )
    assert {e["field"] for e in body["errors"]} == {"name", "tax_id"}


def test_huge_group_ids_list_is_400(api):
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(1001)]
    problem(api.post("/api/v1/customers", {"name": "x", "group_ids": ids}, format="json"), 400, "invalid")


@pytest.mark.parametrize("value", [True, {"a": 1}, ["x"]])
def test_wrong_types_are_400(api, value):
    problem(api.post("/api/v1/customers", {"name": "A", "address_city": value}, format="json"), 400, "invalid")
    problem(api.post("/api/v1/groups", {"name": value}, format="json"), 400, "invalid")
    assert not Customer.objects.exists() and not Group.objects.exists()


def test_unicode_text_round_trips(api):
    name = "Müller & Söhne — 株式会社 🚀"
    response = api.post("/api/v1/customers", {"name": name, "address_street": "Straße 1\nHinterhaus"}, format="json")
    assert response.status_code == 201
    assert api.get(f"/api/v1/customers/{response.json()['id']}").json()["name"] == name


def test_member_body_errors(api):
    group = GroupFactory()
    customer = CustomerFactory()
    url = f"/api/v1/groups/{group.pk}/customers"
    problem(
        api.post(url, {"customer_id": str(customer.pk), "customer_external_id": customer.external_id}, format="json"),
        400,
        "invalid",
    )
    problem(api.generic("POST", url, b"{", content_type="application/json"), 400, "malformed_json")
    problem(api.post(url, {"customer_external_id": "x\x00"}, format="json"), 400, "invalid")


def test_settings_refuse_to_start_without_a_real_secret_key_when_debug_is_off():
    from django.conf import settings

    code = "import django; django.setup()"
    env = {
        "DJANGO_SETTINGS_MODULE": "billingengine.settings",
        "DEBUG": "false",
        "SECRET_KEY": "",
        "PATH": "/usr/bin:/bin",
    }

    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=settings.BASE_DIR
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    env["SECRET_KEY"] = "x" * 60
    ok = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=settings.BASE_DIR)
    assert ok.returncode == 0, ok.stderr


def test_unsafe_method_on_unknown_api_path_is_404_problem_not_csrf_403_html(db):
    """Regression (schemathesis): PUT /api/v1/customers/0.5 answered 403 text/html (Django's CSRF page),
    because the catch-all API 404 view was not CSRF-exempt; it must be the problem+json 404."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)("/api/v1/customers/0.5", "{}", content_type="application/json")
        assert response.status_code == 404, method
        assert response["Content-Type"] == "application/problem+json"


def test_csrf_failure_on_api_path_is_problem_json(db):
    """A session request without a CSRF token on an API path gets problem+json, not Django's HTML page."""
    from django.test import Client

    from tests.factories import UserFactory

    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True))
    response = client.post("/api/v1/unknown", "{}", content_type="application/json")
    assert response.status_code in (403, 404)
    assert response["Content-Type"] == "application/problem+json"


def test_a_data_error_from_the_database_is_400_not_a_misleading_503():
    """Regression: every DatabaseError was answered 503 "database unavailable", so a value the
    database refused (DataError) read as an outage and invited pointless retries."""
    from django.db import DataError, ProgrammingError
    from rest_framework.test import APIRequestFactory

    from billingengine.api.exceptions import problem_exception_handler

    request = APIRequestFactory().get("/api/v1/customers")
    response = problem_exception_handler(
        DataError("value too long for type character varying(255)"), {"request": request}
    )
    assert response.status_code == 400 and response.data["code"] == "invalid"
    bug = problem_exception_handler(ProgrammingError("relation does not exist"), {"request": request})
    assert bug.status_code == 500 and bug.data["code"] == "server_error"


def test_a_request_body_over_the_limit_is_413_before_it_is_read(api, settings):
    """Regression: DRF reads API bodies from the stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE, so a
    body of any size was read into memory."""
    settings.API_MAX_BODY_BYTES = 1000
    body = b'{"name": "' + b"x" * 2000 + b'"}'
    response = api.generic("POST", "/api/v1/customers", body, content_type="application/json")
    problem(response, 413, "request_too_large")
    assert not Customer.objects.exists()
    assert api.post("/api/v1/customers", {"name": "small"}, format="json").status_code == 201
