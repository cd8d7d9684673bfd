"""API keys: each belongs to a user whose Django model permissions apply to the key's requests."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.crypto import KeyGenerator
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

# 8 + 43 characters of [A-Za-z0-9]: the secret part alone carries 43 * log2(62) ≈ 256 bits.
KEY_PREFIX_LENGTH = 8
KEY_SECRET_LENGTH = 43


class Sha256KeyGenerator(KeyGenerator):
    """Generate long random keys and hash them with SHA-256 (fast; keys are random, not passwords)."""

    algorithm = "sha256"

    def hash(self, value: str) -> str:
        return f"{self.algorithm}$${hashlib.sha256(value.encode()).hexdigest()}"

    def verify(self, key: str, hashed_key: str) -> bool:
        return secrets.compare_digest(self.hash(key), hashed_key)

    def using_preferred_hasher(self, hashed_key: str) -> bool:
        return hashed_key.startswith(f"{self.algorithm}$$")


class ApiKeyManager(BaseAPIKeyManager):
    key_generator = Sha256KeyGenerator(prefix_length=KEY_PREFIX_LENGTH, secret_key_length=KEY_SECRET_LENGTH)

    def get_usable_keys(self) -> models.QuerySet[ApiKey]:
        now = timezone.now()
        return (
            self.filter(revoked=False, user__is_active=True)
            .filter(models.Q(expiry_date__isnull=True) | models.Q(expiry_date__gt=now))
            .select_related("user")
        )


class ApiKey(AbstractAPIKey):
    """A revocable API key of a user; only its SHA-256 digest and its public prefix are stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="The key acts as this user: the user's model permissions decide what the key may do.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="Last authenticated request.")

    objects = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.user})"


class IdempotencyRecord(models.Model):
    """A POST's `Idempotency-Key` claim and, once the request is done, its response for replays."""

    scope = models.CharField(
        max_length=64, help_text="Whose key this is: 'key:<api key prefix>' or 'user:<user id>' for session requests."
    )
    key = models.CharField(max_length=255, help_text="The client's Idempotency-Key header.")
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and JSON body.")
    done = models.BooleanField(default=False, help_text="False while the first request is still running.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True, default="")
    location = models.CharField(max_length=2048, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "idempotency record"
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="%(app_label)s_%(class)s_scope_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
