"""The OpenAPI schema of record submissions is derived from the rules the code enforces."""

from __future__ import annotations

import re

import pytest

from records.models import CODE_PATTERN
from tests.records.conftest import sms

pytestmark = pytest.mark.django_db


def _component(schema: dict, path: str) -> dict:
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema["components"]["schemas"][body["$ref"].split("/")[-1]]


@pytest.fixture
def schema(api) -> dict:
    response = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_pattern_of_code_is_code_pattern_with_ecma_anchors(schema):
    """The schema's pattern is generated from CODE_PATTERN (it was a second, hand-written copy with `$`)."""
    pattern = _component(schema, "/api/v1/records")["properties"]["code"]["pattern"]
    assert CODE_PATTERN.endswith(r"\Z")  # Python's "$" would accept a trailing newline
    # ECMA-262 (JSON Schema) has no \Z; its "$" without the multiline flag is the end of the input.
    assert pattern == CODE_PATTERN.removesuffix(r"\Z") + "$"
    assert re.match(CODE_PATTERN, "SMS") and not re.match(CODE_PATTERN, "SMS\n")


def test_a_code_with_a_trailing_newline_is_400(api, customer):
    response = api.post("/api/v1/records", sms(code="SMS\n"), format="json")
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("code", "invalid_code")]
