"""Content negotiation: DRF's, answered without parsing for the Accept headers API clients send.

DRF's `DefaultContentNegotiation` parses the `Accept` header into media types and matches them against
every renderer on each request (about 5 % of a retrieve's CPU time, `bench/profile_request.py
--cpu-profile`). For the headers nearly every API request carries — none, `*/*` or exactly
`application/json`, with no `?format=` and no format suffix — the answer is fixed by the renderers'
order, so it is worked out from the renderers directly; any other request goes through DRF unchanged.
Nothing is cached: the shortcut reads only the request's own header and the view's renderers.
`tests/api/test_negotiation.py` pins that it gives DRF's answer for these headers.
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation

JSON = "application/json"


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with the common Accept headers answered as DRF answers them, without parsing."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if format_suffix is None and renderers and self.settings.URL_FORMAT_OVERRIDE not in request.query_params:
            accept = request.META.get("HTTP_ACCEPT")
            if accept is None or accept == "*/*":
                # DRF: `*/*` matches the first renderer; a concrete renderer type is more specific, so
                # the media type answered is the renderer's own.
                first = renderers[0]
                if first.media_type == JSON:
                    return first, JSON
            elif accept == JSON:
                for renderer in renderers:  # DRF: the first renderer whose type matches `application/json`
                    if renderer.media_type == JSON:
                        return renderer, JSON
                    if "*" in renderer.media_type or ";" in renderer.media_type:
                        break  # a wildcard or parameters: let DRF's matching decide
        return super().select_renderer(request, renderers, format_suffix)
