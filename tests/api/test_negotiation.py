"""The API's content negotiation (billingengine/api/negotiation.py) answers exactly what DRF's answers."""

from __future__ import annotations

import pytest
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer, TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from billingengine.api.negotiation import ContentNegotiation

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "text/html",
    "application/json; indent=4",
    "application/*",
    "*/*;q=0.8",
    "text/html, application/json",
    "application/xml",
    "",
]
RENDERER_LISTS = [
    (JSONRenderer, BrowsableAPIRenderer),
    (BrowsableAPIRenderer, JSONRenderer),
    (TemplateHTMLRenderer, JSONRenderer),
    (JSONRenderer,),
]


def _answer(negotiation, accept, renderers, query):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/api/v1/customers" + query, **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except exceptions.NotAcceptable as error:
        return "406", str(error.detail)
    return renderers.index(renderer), media_type


@pytest.mark.parametrize("query", ["", "?format=api", "?format=json", "?page_size=5"])
@pytest.mark.parametrize("renderer_classes", RENDERER_LISTS)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_negotiation_answers_what_drf_answers(accept, renderer_classes, query):
    renderers = [renderer_class() for renderer_class in renderer_classes]
    try:
        expected = _answer(DefaultContentNegotiation(), accept, renderers, query)
    except Exception as error:  # e.g. Http404 for a format no renderer has
        with pytest.raises(type(error)):
            _answer(ContentNegotiation(), accept, renderers, query)
        return
    assert _answer(ContentNegotiation(), accept, renderers, query) == expected


def test_the_api_answers_json_for_the_common_accept_headers(api):
    for accept in (None, "*/*", "application/json"):
        headers = {} if accept is None else {"HTTP_ACCEPT": accept}
        response = api.get("/api/v1/customers", **headers)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
    assert api.get("/api/v1/customers", HTTP_ACCEPT="text/html")["Content-Type"].startswith("text/html")
