"""HTTP shape of record submissions: the batch envelope `{"records": [...]}` and error field paths.

The app validates and stores typed records (`records.validation`, `records.services`) and names a problem by
the record's position and field; here a position becomes the path a client sees: `code` for a single record,
`records[3].code` in a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billingengine.errors import Conflict, DomainError, InvalidInput
from records.services import TransactionIdConflict
from records.validation import RecordProblem, RecordsInvalid

#: Most records a batch may hold.
MAX_BATCH = 10_000

#: Spell a problem's field for the client, from the record's position and the field name.
FieldPath = Callable[[int, str], str]


def single_path(index: int, name: str) -> str:
    """Name a field of the one record of `POST /records` ("code")."""
    return name


def batch_path(index: int, name: str) -> str:
    """Name a field of record *index* of a batch ("records[3].code", or "records[3]" for the record)."""
    return f"records[{index}].{name}" if name else f"records[{index}]"


def batch_items(data: Any) -> list[Any]:
    """Return the raw records of a batch body `{"records": [...]}`; raise InvalidInput when it is malformed."""
    if not isinstance(data, dict):
        raise InvalidInput('The body must be an object: {"records": [...]}.', field="records")
    errors = [_error(str(key), "unknown_field", "Unknown field.") for key in sorted(map(str, data)) if key != "records"]
    items = data.get("records")
    if items is None:
        errors.append(_error("records", "required", "This field is required."))
    elif not isinstance(items, list):
        errors.append(_error("records", "invalid", "Must be a list of data records."))
    elif not 1 <= len(items) <= MAX_BATCH:
        errors.append(_error("records", "batch_size", f"Must hold 1 to {MAX_BATCH:,} records (got {len(items):,})."))
    if errors:
        raise InvalidInput(_summary(errors, " problem(s)"), code="invalid", errors=errors)
    return items


def http_error(error: RecordsInvalid | TransactionIdConflict, path: FieldPath) -> DomainError:
    """Return the API's form of a records error: each problem named by its field path, e.g. records[3].code."""
    errors = [_problem(p, path) for p in error.problems]
    if isinstance(error, TransactionIdConflict):
        return Conflict(
            _summary(errors, ""),
            code=error.code,
            errors=errors,
            existing_id=str(error.existing_id) if error.existing_id else None,
        )
    return InvalidInput(_summary(errors, " problem(s)"), code=error.code, errors=errors)


def _problem(problem: RecordProblem, path: FieldPath) -> dict:
    return _error(path(problem.index, problem.field), problem.code, problem.detail)


def _error(field: str, code: str, detail: str) -> dict:
    return {"field": field, "code": code, "detail": detail}


def _summary(errors: list[dict], what: str) -> str:
    """Return the problem's `detail`: the first error, and how many more (*what*: e.g. " problem(s)")."""
    first = errors[0]
    where = f"{first['field']}: " if first["field"] else ""
    more = f" (and {len(errors) - 1} more{what}, listed in errors)" if len(errors) > 1 else ""
    return f"{where}{first['detail']}{more}"
