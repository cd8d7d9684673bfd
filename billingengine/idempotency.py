"""Idempotency keys (Stripe-style): a retried POST replays the first response instead of acting twice.

A request carrying `Idempotency-Key` first *claims* the key in its own short transaction (an INSERT
guarded by a unique constraint on scope and key). The request then runs in one transaction together
with the write that stores its response, so "the effect happened" and "the response is stored" commit
or roll back together: a crash in between leaves only an in-flight claim, which a retry may take over
once it is older than IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS, and which never hides an effect.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from billingengine.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidInput
from billingengine.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_VALID_KEY = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def validate_key(key: str) -> str:
    """Return *key* if it is a usable Idempotency-Key, else raise InvalidInput saying why."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not _VALID_KEY.fullmatch(key):
        raise InvalidInput(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, not starting or ending with a space.",
            code="invalid_idempotency_key",
            field=HEADER,
        )
    return key


def fingerprint(*, method: str, path: str, data: Any) -> str:
    """Return the SHA-256 of the request's method, path and (canonical JSON) body."""
    body = json.dumps(data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method}\n{path}\n{body}".encode()).hexdigest()


def _ttl() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def idempotency_claim(*, scope: str, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Claim *key* for a new request; return (record, True), or (the done record, False) for a replay.

    Raise IdempotencyKeyReused when the key was used for a different request and IdempotencyKeyInFlight
    while the first request with the key is still running.
    """
    for _ in range(3):  # the existing row may expire or be released between our INSERT and SELECT
        now = timezone.now()
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(scope=scope, key=key, fingerprint=fingerprint), True
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if existing is None:
            continue
        if existing.created_at <= now - _ttl():
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if existing.done:
            return existing, False
        stale = now - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS)
        if existing.created_at <= stale:
            # The first request's worker died: its transaction rolled back, so running again is safe.
            taken = IdempotencyRecord.objects.filter(pk=existing.pk, done=False, created_at=existing.created_at)
            if taken.update(created_at=now) == 1:
                existing.created_at = now
                return existing, True
        raise IdempotencyKeyInFlight()
    raise IdempotencyKeyInFlight()


def idempotency_complete(
    *, record: IdempotencyRecord, status_code: int, body: Any, content_type: str = "", location: str = ""
) -> None:
    """Store the response of the request that claimed *record*, so retries replay it."""
    body = json.loads(json.dumps(body, cls=JSONEncoder)) if body is not None else None
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        done=True, status_code=status_code, body=body, content_type=content_type or "", location=location or ""
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Drop an in-flight claim whose request failed (5xx or an exception), so a retry can run it."""
    IdempotencyRecord.objects.filter(pk=record.pk, done=False).delete()


def idempotency_clean(*, now=None, dry_run: bool = False) -> int:
    """Delete records older than IDEMPOTENCY_KEY_TTL_HOURS; return how many (would) go."""
    expired = IdempotencyRecord.objects.filter(created_at__lte=(now or timezone.now()) - _ttl())
    if dry_run:
        return expired.count()
    deleted, _ = expired.delete()
    return deleted
