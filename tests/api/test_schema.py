"""The OpenAPI schema describes the contract truthfully, and the docs are served offline."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api) -> dict:
    response = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_lists_every_contract_path_without_trailing_slash(schema):
    assert set(schema["paths"]) >= {
        "/api/v1/customers",
        "/api/v1/customers/{id}",
        "/api/v1/customers/{id}/groups",
        "/api/v1/groups",
        "/api/v1/groups/{id}",
        "/api/v1/groups/{id}/customers",
        "/api/v1/groups/{id}/customers/{customer_id}",
    }
    customers = schema["paths"]["/api/v1/customers"]
    detail = schema["paths"]["/api/v1/customers/{id}"]
    assert set(customers) >= {"get", "post"} and set(detail) >= {"get", "put", "patch", "delete"}


def test_create_responds_with_the_id_only(schema):
    response = schema["paths"]["/api/v1/customers"]["post"]["responses"]["201"]
    ref = response["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert schema["components"]["schemas"][ref]["properties"].keys() == {"id"}


def test_list_is_the_cursor_envelope_with_the_contract_filters(schema):
    operation = schema["paths"]["/api/v1/customers"]["get"]
    params = {p["name"] for p in operation["parameters"]}
    assert params >= {
        "external_id",
        "q",
        "name",
        "group",
        "address_country",
        "created_after",
        "created_before",
        "updated_since",
        "ordering",
        "cursor",
        "page_size",
    }
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"next", "previous", "results"}


def test_errors_are_documented_as_problem_json(schema):
    post = schema["paths"]["/api/v1/customers"]["post"]["responses"]
    for status in ("400", "401", "403", "409", "415"):
        assert "application/problem+json" in post[status]["content"]
    assert "404" in schema["paths"]["/api/v1/customers/{id}"]["get"]["responses"]
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(
        schema["components"]["schemas"]["Problem"]["properties"]
    )


def test_bearer_security_scheme_is_documented(schema):
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["apiKey"]["description"],
    }


def test_request_shape_has_the_creation_fields(schema):
    request = schema["components"]["schemas"]["CustomerRequest"]
    assert set(request["properties"]) == {
        "name",
        "external_id",
        "tax_id",
        "vat_id",
        "address_street",
        "address_city",
        "address_zip",
        "address_country",
        "group_ids",
    }
    assert request["required"] == ["name"]


def test_docs_and_their_assets_are_served_locally_to_signed_in_staff(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    for url in ("/api/docs", "/api/redoc"):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert "cdn" not in html.lower() and "unpkg" not in html.lower()
        assert "/static/drf_spectacular_sidecar/" in html
