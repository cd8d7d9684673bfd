"""OpenAPI post-processing: document the problem+json error responses every operation can give."""

from __future__ import annotations

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Conflict"},
        "status": {"type": "integer", "example": 409},
        "detail": {"type": "string", "example": "A customer with external_id 'EXT-CU-0042' already exists."},
        "code": {"type": "string", "description": "Stable machine-readable code.", "example": "external_id_taken"},
        "errors": {
            "type": "array",
            "description": "Every field problem at once.",
            "items": {
                "type": "object",
                "required": ["field", "code", "detail"],
                "properties": {
                    "field": {"type": "string", "nullable": True, "example": "external_id"},
                    "code": {"type": "string", "example": "unique"},
                    "detail": {"type": "string"},
                },
            },
        },
        "existing_id": {
            "type": "string",
            "format": "uuid",
            "description": "With `external_id_taken` and `group_name_taken`: the id of the existing object.",
        },
    },
    "additionalProperties": True,
}

IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": (
        "Makes a retry safe: the same key with the same body replays the first response (with "
        "`Idempotent-Replayed: true`) instead of acting twice; with another body it is `422`; while the "
        "first request runs it is `409`. Keys are scoped to the API key and kept for 24 hours."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"},
}
IF_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "description": "Apply the change only if the resource still has this `ETag` (or `*`); otherwise `412`.",
    "schema": {"type": "string"},
}
IF_NONE_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "Answer `304` without a body when the resource still has this `ETag`.",
    "schema": {"type": "string"},
}
ETAG_HEADER = {"description": "Version of the representation, for `If-Match`.", "schema": {"type": "string"}}

_DESCRIPTIONS = {
    "400": "Invalid input: every problem is listed in `errors`.",
    "401": "No credentials, or an unknown or revoked API key.",
    "403": "Authenticated, but the key's user lacks the model permission.",
    "404": "Unknown resource, or a malformed id in the path.",
    "409": "A uniqueness or state conflict, or a request with the same `Idempotency-Key` still in progress.",
    "413": "The request body is larger than the server accepts (API_MAX_BODY_BYTES, default 16 MiB).",
    "415": "The body is not JSON.",
    "412": "`If-Match` does not match the current `ETag`: the resource changed since it was read.",
    "422": "`Idempotency-Key` was already used with a different request (`idempotency_key_reused`).",
    "429": "Throttled; see `Retry-After`.",
    "414": "The request line (URL) is longer than the HTTP server accepts (gunicorn: 8190 bytes); "
    "answered by the HTTP server before the application, so its body is the server's, not the API's.",
    "503": "The database is unavailable; retry after `Retry-After` seconds.",
}


def add_problem_responses(result: dict, generator, request, public) -> dict:
    """Write paths without the trailing slash (as the contract does; both forms are served), and add
    the problem+json error responses to every operation and the `Problem` component."""
    result["paths"] = {
        (path.rstrip("/") if path != "/" else path): operations for path, operations in result.get("paths", {}).items()
    }
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name, component in schemas.items():
        # The API rejects unknown fields in request bodies (400 `unknown_field`); say so.
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            codes = ["400", "401", "403", "429", "503"]
            if "{" in path:
                codes.append("404")
            if method in {"post", "put", "patch"}:
                codes += ["409", "413", "415"]
            if method == "delete":
                codes.append("409")
            detail = path.endswith("/{id}")
            parameters = operation.setdefault("parameters", [])
            if method == "post":
                codes.append("422")
                parameters.append(IDEMPOTENCY_KEY_PARAMETER)
            if detail and method in {"put", "patch", "delete"}:
                codes.append("412")
                parameters.append(IF_MATCH_PARAMETER)
            responses = operation.setdefault("responses", {})
            if detail and method in {"get", "put", "patch"} and "200" in responses:
                responses["200"].setdefault("headers", {})["ETag"] = ETAG_HEADER
            if detail and method == "get":
                parameters.append(IF_NONE_MATCH_PARAMETER)
                responses.setdefault("304", {"description": "Not modified: `If-None-Match` matches the `ETag`."})
            # No content: the API's operations speak JSON only; the server's own page is not part of the API.
            responses.setdefault("414", {"description": _DESCRIPTIONS["414"]})
            for code in sorted(codes):
                responses.setdefault(
                    code, {"description": _DESCRIPTIONS[code], "content": {"application/problem+json": {"schema": ref}}}
                )
    return result
