"""Billing periods: [from, to) read from requests and command lines, and the rules every door applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billingengine.errors import InvalidInput


def parse_period(data: Any) -> tuple[datetime, datetime]:
    """Return (from, to) read from query parameters or a JSON body, or raise `InvalidInput` listing every problem
    (`period_required` when one is missing)."""
    if not hasattr(data, "get"):
        raise InvalidInput('The body must be an object: {"from": ..., "to": ...}.', code="invalid")
    errors = []
    values = {}
    for name in ("from", "to"):
        raw = data.get(name)
        if raw is None or raw == "":
            errors.append({"field": name, "code": "required", "detail": "This field is required."})
            continue
        moment = None
        if isinstance(raw, str):
            try:
                moment = parse_datetime(raw.strip())
            except ValueError:
                moment = None
        if moment is None or moment.tzinfo is None:
            errors.append(
                {
                    "field": name,
                    "code": "invalid",
                    "detail": "Must be an RFC 3339 timestamp with an offset, e.g. 2026-03-01T00:00:00Z.",
                }
            )
            continue
        try:
            values[name] = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            errors.append({"field": name, "code": "invalid", "detail": "Out of the supported range of dates."})
    if errors:
        code = "period_required" if all(e["code"] == "required" for e in errors) else "invalid"
        first = errors[0]
        more = f" (and {len(errors) - 1} more problem(s), listed in errors)" if len(errors) > 1 else ""
        raise InvalidInput(f"{first['field']}: {first['detail']}{more}", code=code, errors=errors)
    return values["from"], values["to"]


MAX_PERIOD = timedelta(days=366)


def period_validate(*, start: datetime, end: datetime, must_have_ended: bool, now: datetime | None = None) -> None:
    """Raise `InvalidInput` when [start, end) is not a period that can be summarised (or, *must_have_ended*,
    billed): reversed or empty (`period_reversed`), over 366 days (`period_too_long`), not ended yet
    (`period_not_ended`)."""
    if end <= start:
        raise InvalidInput(
            f"'to' ({end.isoformat()}) must be later than 'from' ({start.isoformat()}).",
            code="period_reversed",
            field="to",
        )
    if end - start > MAX_PERIOD:
        raise InvalidInput(
            f"The period is {(end - start).days} days long; at most 366 days can be summarised or billed at once.",
            code="period_too_long",
            field="to",
        )
    now = now or timezone.now()
    if must_have_ended and end > now:
        raise InvalidInput(
            f"The period has not ended: 'to' ({end.isoformat()}) is later than now ({now.isoformat()}).",
            code="period_not_ended",
            field="to",
        )
