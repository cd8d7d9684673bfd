"""One exception handler: every API error becomes an RFC 9457 problem+json body with a stable `code`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from billingengine.errors import DomainError

logger = logging.getLogger("billingengine.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Stable codes for DRF's own exceptions, where its default code is not the contract's.
_CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid",
}


def problem(status_code: int, detail: str, code: str, errors: list[dict] | None = None, **extra: Any) -> dict:
    """Return a problem details body."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def flatten_errors(detail: Any, path: str = "") -> list[dict]:
    """Return every field problem of a (nested) DRF or Django error structure as a flat list."""
    out: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                sub = path
            elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                sub = f"{path}[{key}]"
            else:
                sub = f"{path}.{key}" if path else str(key)
            out.extend(flatten_errors(value, sub))
    elif isinstance(detail, list):
        if detail and all(not isinstance(d, (dict, list)) for d in detail):
            for item in detail:
                out.append(_error_item(path, item))
        else:
            for index, item in enumerate(detail):
                if item:  # DRF puts {} for valid items of a list
                    out.extend(flatten_errors(item, f"{path}[{index}]"))
    else:
        out.append(_error_item(path, detail))
    return out


def _error_item(path: str, item: Any) -> dict:
    code = getattr(item, "code", None) or "invalid"
    return {"field": path or None, "code": code, "detail": str(item)}


def _django_validation_errors(error: DjangoValidationError) -> list[dict]:
    if hasattr(error, "error_dict"):
        return [
            {"field": None if field == "__all__" else field, "code": item.code or "invalid", "detail": msg}
            for field, items in error.error_dict.items()
            for item in items
            for msg in item.messages
        ]
    return [
        {"field": None, "code": item.code or "invalid", "detail": msg}
        for item in error.error_list
        for msg in item.messages
    ]


def _summary(errors: list[dict]) -> str:
    first = errors[0] if errors else None
    if first is None:
        return "The input is invalid."
    where = f"{first['field']}: " if first.get("field") else ""
    more = f" (and {len(errors) - 1} more problem(s), listed in errors)" if len(errors) > 1 else ""
    return f"{where}{first['detail']}{more}"


def exception_to_problem(exc: Exception) -> tuple[dict, int, dict[str, str]] | None:
    """Return (body, status, headers) for *exc*, or None when it is not an expected error."""
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        errors = exc.extra.pop("errors", None)
        if errors is None:
            errors = (
                [{"field": exc.field, "code": exc.field_code or exc.code, "detail": exc.detail}] if exc.field else []
            )
        return problem(exc.status, exc.detail, exc.code, errors, **exc.extra), exc.status, headers
    if isinstance(exc, DjangoValidationError):
        errors = _django_validation_errors(exc)
        return problem(400, _summary(errors), "invalid", errors), 400, headers
    if isinstance(exc, (Http404, exceptions.NotFound)):
        detail = str(getattr(exc, "detail", "")) or "Not found."
        if isinstance(exc, Http404) or detail.startswith("No ") or detail == "Not found.":
            detail = "The requested resource does not exist."
        return problem(404, detail, "not_found"), 404, headers
    if isinstance(exc, DjangoPermissionDenied):
        return problem(403, "You do not have permission to perform this action.", "permission_denied"), 403, headers
    if isinstance(exc, IntegrityError):
        logger.warning("Unmapped integrity error: %s", exc)
        return problem(409, "The change conflicts with existing data.", "conflict"), 409, headers
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("Database unavailable: %s", exc)
        headers["Retry-After"] = "5"
        return problem(503, "The database is unavailable; retry shortly.", "database_unavailable"), 503, headers
    if isinstance(exc, exceptions.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None) or exc.default_code
        if isinstance(exc, exceptions.ValidationError):
            errors = flatten_errors(exc.detail)
            return problem(400, _summary(errors), "invalid", errors), 400, headers
        detail = exc.detail if isinstance(exc.detail, str) else _summary(flatten_errors(exc.detail))
        if isinstance(exc, exceptions.ParseError):
            detail = f"Malformed request body: {detail}"
        if isinstance(exc, exceptions.UnsupportedMediaType):
            detail = f"{detail} Send JSON with Content-Type: application/json."
        return problem(exc.status_code, str(detail), code), exc.status_code, headers
    return None


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every error as problem+json; unexpected errors logged and answered 500."""
    request = context.get("request")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        drf_exception_handler(exc, context)  # lets DRF fill auth_header from the view's authenticators
    mapped = exception_to_problem(exc)
    if mapped is None:
        if isinstance(exc, DataError):  # a value the database refused that validation let through
            logger.warning("Database refused a value: %s", exc)
            mapped = problem(400, "A value was refused by the database.", "invalid"), 400, {}
        else:
            logger.exception("Unhandled error in API view", exc_info=exc)
            mapped = problem(500, "An unexpected error occurred; it has been logged.", "server_error"), 500, {}
    body, status_code, headers = mapped
    response = Response(body, status=status_code, headers=headers)
    renderer = getattr(request, "accepted_renderer", None) if request is not None else None
    if renderer is None or isinstance(renderer, JSONRenderer):
        response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _problem_response(request: HttpRequest, body: dict, status_code: int) -> JsonResponse:
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def is_api_request(request: HttpRequest) -> bool:
    """Return whether *request* is for the API (errors as problem+json, not HTML pages)."""
    return request.path.startswith("/api/")


@csrf_exempt  # it changes nothing; without this, unsafe methods on unknown API paths got the CSRF HTML page
def api_not_found(request: HttpRequest, exception: Exception | None = None):
    """404 for unknown API paths as problem+json; the HTML page elsewhere."""
    from django.views.defaults import page_not_found

    if is_api_request(request):
        return _problem_response(request, problem(404, "No such API endpoint.", "not_found"), status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception)


def api_server_error(request: HttpRequest):
    """500 for the API as problem+json, without a traceback."""
    from django.views.defaults import server_error

    if is_api_request(request):
        body = problem(500, "An unexpected error occurred; it has been logged.", "server_error")
        return _problem_response(request, body, 500)
    return server_error(request)


def api_bad_request(request: HttpRequest, exception: Exception | None = None):
    """400 raised outside the API views (e.g. a suspicious request) as problem+json on API paths."""
    from django.views.defaults import bad_request

    if is_api_request(request):
        return _problem_response(request, problem(400, "Bad request.", "bad_request"), 400)
    return bad_request(request, exception)


def csrf_failure(request: HttpRequest, reason: str = ""):
    """CSRF rejection: problem+json on API paths, Django's page elsewhere."""
    from django.views.csrf import csrf_failure as django_csrf_failure

    if is_api_request(request):
        body = problem(403, f"CSRF verification failed: {reason}", "csrf_failed")
        return _problem_response(request, body, 403)
    return django_csrf_failure(request, reason)
