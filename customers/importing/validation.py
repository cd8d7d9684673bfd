"""Validating customer rows with the model's own rules: each field's normalisation and validators."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django_countries import countries

from billingengine.errors import ImportFailed, RowError
from billingengine.validators import NoControlCharactersValidator
from customers.importing.reading import GROUPS_COLUMN, split_groups
from customers.models import CUSTOMER_FIELDS, Customer, normalize_customer_value

#: Errors kept for the report; further ones are only counted.
MAX_REPORTED_ERRORS = 1000
COUNTRY_CODES = frozenset(code for code, _name in countries)


@dataclass
class ImportResult:
    """What an import did (or, on a dry run, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    def add_error(self, error: RowError) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)

    def fail_if_invalid(self, skip_invalid: bool) -> None:
        """Raise ImportFailed listing the bad rows, unless there are none or they are to be skipped."""
        if self.rejected and not skip_invalid:
            self.errors.sort(key=lambda e: e.line)
            raise ImportFailed(
                f"{self.rejected} bad row(s); nothing was written (use --skip-invalid to import the good rows).",
                errors=self.errors,
            )


@dataclass
class ValidRow:
    """A row that passed validation: normalised values of the columns the file has, and its group ids."""

    line: int
    values: dict[str, Any]
    group_ids: list[uuid.UUID] | None  # None: the row does not set groups


def _fast_check(model_field: Any) -> Callable[[str], bool] | None:
    """Return a cheap test proving a value passes all of *model_field*'s validators, or None when there is none.

    Only the validators every customer field has are known here (a length limit, no control characters):
    printable text has no control characters, and a short enough text passes the limit. A field with any
    other validator (one added later, say) has no fast test, and a value the test cannot clear runs them all.
    """
    limit = None
    for validator in model_field.validators:
        if isinstance(validator, NoControlCharactersValidator):
            continue
        if type(validator) is MaxLengthValidator and isinstance(validator.limit_value, int):
            limit = validator.limit_value if limit is None else min(limit, validator.limit_value)
            continue
        return None
    if limit is None:
        return str.isprintable
    return lambda value: len(value) <= limit and value.isprintable()


class RowValidator:
    """Check one raw row with the model's own rules; build once per import.

    Every value is normalised as the services do and then checked by the field: required, the country
    choices, and all of the field's validators (including any added later), so a file can hold nothing the
    API or the admin would refuse. Group references are resolved by
    *resolve_group* (name or id -> group id, None when unknown), given by the caller that knows the groups.
    """

    def __init__(
        self,
        *,
        allow_missing_external_id: bool = False,
        resolve_group: Callable[[str], uuid.UUID | None] | None = None,
    ) -> None:
        self.allow_missing_external_id = allow_missing_external_id
        self.fields = [(name, Customer._meta.get_field(name)) for name in CUSTOMER_FIELDS]
        self.fast_checks = {name: _fast_check(model_field) for name, model_field in self.fields}
        self.resolve_group = resolve_group

    def _check(self, name: str, model_field: Any, value: str | None) -> str | None:
        """Return why the normalised *value* breaks the field's rules, or None."""
        if value is None:
            if name == "external_id" and not self.allow_missing_external_id:
                return "is required (or pass --allow-missing-external-id to create customers without one)"
            return None
        if name == "address_country" and value not in COUNTRY_CODES:
            return f"'{value}' is not an ISO 3166-1 alpha-2 country code"
        if value == "":  # normalize_customer_value turns a blank name into "" (the other fields into None)
            return "is required"
        fast = self.fast_checks[name]
        if fast is not None and fast(value):
            return None
        try:
            model_field.run_validators(value)
        except ValidationError as error:
            return " ".join(error.messages)
        return None

    def validate(self, line: int, raw: dict[str, Any]) -> tuple[ValidRow | None, list[RowError]]:
        """Return the normalised row, or the errors that make it bad (all of them, one per column)."""
        errors: list[RowError] = []
        values: dict[str, Any] = {}
        for name, model_field in self.fields:
            if name not in raw:
                if name == "name" or (name == "external_id" and not self.allow_missing_external_id):
                    errors.append(RowError(line, name, self._check(name, model_field, None) or "is required"))
                continue
            value = raw[name]
            if value is not None and value.__class__ is not str:
                if isinstance(value, int | float) and not isinstance(value, bool):
                    value = str(value)
                else:
                    errors.append(RowError(line, name, "must be a string"))
                    continue
            value = normalize_customer_value(name, value)
            problem = self._check(name, model_field, value)
            if problem is not None:
                errors.append(RowError(line, name, problem))
            values[name] = value
        group_ids = None
        if GROUPS_COLUMN in raw:
            refs = split_groups(raw[GROUPS_COLUMN])
            if refs is None:
                errors.append(RowError(line, GROUPS_COLUMN, "must be group names or ids separated by ';' or '|'"))
            elif refs and self.resolve_group is None:
                errors.append(RowError(line, GROUPS_COLUMN, "groups cannot be set by this import"))
            else:
                group_ids = []
                for ref in refs:
                    pk = self.resolve_group(ref)
                    if pk is None:
                        errors.append(RowError(line, GROUPS_COLUMN, f"unknown group '{ref}' (give a name or an id)"))
                    elif pk not in group_ids:
                        group_ids.append(pk)
        if errors:
            return None, errors
        return ValidRow(line, values, group_ids), []


def validate_rows(
    rows: Iterable[tuple[int, dict[str, Any] | RowError]], validator: RowValidator, result: ImportResult
) -> Iterator[ValidRow]:
    """Yield the valid rows; record the bad ones in *result*."""
    for line, raw in rows:
        if isinstance(raw, RowError):
            result.rejected += 1
            result.add_error(raw)
            continue
        row, errors = validator.validate(line, raw)
        if row is None:
            result.rejected += 1
            for error in errors:
                result.add_error(error)
        else:
            yield row


def duplicate_error(line: int, external_id: str, lines: list[int]) -> RowError:
    listed = ", ".join(str(n) for n in lines)
    return RowError(line, "external_id", f"'{external_id}' appears {len(lines)} times in the file (lines {listed})")
