"""`Authorization: Bearer <api key>` authentication."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from billingengine.api import auth_queries
from billingengine.models import ApiKey


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate a request by its API key; the request then acts as the key's user."""

    keyword = "Bearer"

    def authenticate(self, request: Request):
        try:
            header = authentication.get_authorization_header(request).split()
        except UnicodeError as error:  # characters HTTP headers cannot carry
            raise exceptions.AuthenticationFailed("Invalid Authorization header.") from error
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <api key>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError as error:
            raise exceptions.AuthenticationFailed("Invalid API key.") from error
        if auth_queries.supported():
            api_key = self._key_in_one_query(key)
        else:
            try:
                api_key = ApiKey.objects.get_from_key(key)
            except ApiKey.DoesNotExist as error:
                raise exceptions.AuthenticationFailed("Invalid or revoked API key.") from error
            self._load_permissions(api_key.user)
        self._touch(api_key)
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'

    @staticmethod
    def _key_in_one_query(key: str) -> ApiKey:
        """Return the usable key for *key* with its user and the user's permissions, read in one query.

        What `ApiKey.objects.get_from_key()` and `_load_permissions()` do in two ORM queries (PostgreSQL).
        """
        prefix, _, _ = key.partition(".")
        found = auth_queries.usable_key_with_user(prefix, timezone.now())
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        api_key, permissions = found
        if not api_key.is_valid(key):  # the secret, compared in constant time
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        if permissions is not None:
            api_key.user._perm_cache = permissions
        return api_key

    @staticmethod
    def _load_permissions(user) -> None:
        """Load the user's model permissions (own and via groups) in one query instead of ModelBackend's two.

        ModelBackend reads `_perm_cache` when present, so `user.has_perms()` then costs no query; it is the
        same set ModelBackend would build. Superusers hold every permission without a lookup.
        """
        if user.is_superuser:
            return
        rows = (
            Permission.objects.filter(Q(user=user) | Q(group__user=user))
            .values_list("content_type__app_label", "codename")
            .distinct()
        )
        user._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}

    @staticmethod
    def _touch(api_key: ApiKey) -> None:
        """Record the key's last use, writing at most once per resolution period (not on every request)."""
        now = timezone.now()
        resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        if api_key.last_used_at is None or now - api_key.last_used_at >= resolution:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describe Bearer API keys in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key created with `manage.py create_api_key USERNAME` or in the admin.",
        }
