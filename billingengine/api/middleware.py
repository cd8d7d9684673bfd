"""Middleware for the API paths."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from billingengine.api.exceptions import PROBLEM_CONTENT_TYPE, is_api_request, problem


class RequestSizeLimitMiddleware:
    """Refuse API request bodies over API_MAX_BODY_BYTES with 413, before anything reads them.

    DRF parses API bodies from the stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply there.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:
                body = problem(
                    413, f"The request body is {length} bytes; at most {limit} are accepted.", "request_too_large"
                )
                return HttpResponse(json.dumps(body), status=413, content_type=PROBLEM_CONTENT_TYPE)
        return self.get_response(request)
