"""Domain errors raised by services; `billingengine.api.exceptions` maps them to problem+json once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class DomainError(Exception):
    """A rule of the domain was broken; `code` is stable and machine-readable."""

    status = 400
    title = "Bad Request"
    code = "invalid"
    #: Code of the field-level entry in `errors` (defaults to `code`).
    field_code: str | None = None

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.field = field
        self.extra = extra


class InvalidInput(DomainError):
    """The input breaks a rule (400)."""


class Conflict(DomainError):
    """The change conflicts with the current state, e.g. a uniqueness rule (409)."""

    status = 409
    title = "Conflict"
    code = "conflict"


class NotFound(DomainError):
    """The thing the request is about does not exist (404)."""

    status = 404
    title = "Not Found"
    code = "not_found"


class ExternalIdTaken(Conflict):
    """Another customer already has this external_id."""

    code = "external_id_taken"
    field_code = "unique"

    def __init__(self, external_id: str, existing_id: Any) -> None:
        super().__init__(
            f"A customer with external_id '{external_id}' already exists.",
            field="external_id",
            existing_id=str(existing_id) if existing_id else None,
        )


class ExternalIdImmutable(InvalidInput):
    """A set external_id may only be changed by the operators' re-keying command."""

    code = "external_id_immutable"

    def __init__(self, current: str) -> None:
        super().__init__(
            f"external_id is '{current}' and cannot be changed or cleared once set; "
            "operators re-key customers with `manage.py rekey_customers`.",
            field="external_id",
        )


class GroupNameTaken(Conflict):
    """Another group already has this name (ignoring case)."""

    code = "group_name_taken"
    field_code = "unique"

    def __init__(self, name: str, existing_id: Any = None) -> None:
        super().__init__(
            f"A group named '{name}' already exists (names are unique ignoring case).",
            field="name",
            existing_id=str(existing_id) if existing_id else None,
        )


class IdempotencyKeyInFlight(Conflict):
    """A request with the same Idempotency-Key is still running."""

    code = "idempotency_key_in_flight"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still in progress; retry after it has finished.",
            field="Idempotency-Key",
        )


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was used before for a different request."""

    status = 422
    title = "Unprocessable Content"
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request (method, path or body); "
            "use a new key for a new request.",
            field="Idempotency-Key",
        )


class PreconditionFailed(DomainError):
    """The object changed since the client read it (If-Match does not match its ETag)."""

    status = 412
    title = "Precondition Failed"
    code = "precondition_failed"

    def __init__(self, current_etag: str) -> None:
        super().__init__(
            "The resource has changed since you read it (If-Match does not match its current ETag); "
            "fetch it again and reapply your change.",
            field="If-Match",
            current_etag=current_etag,
        )


class ImportFailed(DomainError):
    """A file (import, bulk change) has bad rows or cannot be read, and nothing was written."""

    code = "import_failed"


@dataclass(frozen=True)
class RowError:
    """A bad row of a file: where (line and column) and why."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.message}"
