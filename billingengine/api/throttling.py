"""Per-API-key request throttling, counted in the shared cache (Redis when REDIS_URL is set)."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger("billingengine.api")


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Allow API_THROTTLE_RATE requests per API key (per user for session requests, per IP otherwise)."""

    scope = "api"

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATE or None

    def get_cache_key(self, request, view) -> str:
        prefix = getattr(request.auth, "prefix", None)
        if prefix:
            ident = f"key:{prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as error:  # the cache (Redis) is down: serve rather than fail every request
            logger.warning("Throttling skipped, the cache is unavailable: %s", type(error).__name__)
            return True
