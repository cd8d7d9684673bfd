"""Bulk import and export of customers (CSV or JSON Lines), with the same rules as the API.

Every row is checked by `validate_row`, which applies the very normalisation (`normalize_customer_value`) and
field validators (max length, control characters, ISO country) that `customer_create` applies through
`full_clean`. Writes are set-based: on PostgreSQL the valid rows are COPied into a temporary staging table and
merged with a few statements; elsewhere the ORM's bulk operations do the same. Both write change-history rows
(simple-history) for every customer created or changed and every membership started or ended, and both run in
one transaction: one bad row means nothing is written, unless the caller skips invalid rows.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_countries import countries
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from billingengine import bulk
from billingengine.bulk import deferred_indexes
from billingengine.errors import DomainError, ImportFailed, RowError
from customers.models import Customer
from customers.services import CUSTOMER_FIELDS, normalize_customer_value
from groups.models import Group, Membership
from groups.references import GroupResolver
from groups.services import memberships_replace

GROUPS_COLUMN = "groups"
COLUMNS = (*CUSTOMER_FIELDS, GROUPS_COLUMN)
#: Separators between group names or ids in one CSV cell.
GROUP_SEPARATORS = (";", "|")
CHANGE_REASON = "import_customers"
#: Errors kept for the report; further ones are only counted.
MAX_REPORTED_ERRORS = 1000
CHUNK_ROWS = 10_000

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


@dataclass
class ValidRow:
    """A row that passed validation: normalised values of the columns the file has, and its group ids."""

    line: int
    values: dict[str, Any]
    group_ids: list[uuid.UUID] | None  # None: the row does not set groups


# --- Reading ---------------------------------------------------------------------------------------------------


def detect_format(path: str, fmt: str | None) -> str:
    """Return "csv" or "jsonl": *fmt* if given, else from the file name (stdin defaults to CSV)."""
    if fmt:
        return fmt
    return "jsonl" if path.lower().endswith((".jsonl", ".ndjson", ".json")) else "csv"


def _check_columns(columns: Iterable[str], line: int) -> None:
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise ImportFailed(
            f"line {line}: unknown column(s) {', '.join(repr(c) for c in unknown)}; allowed: {', '.join(COLUMNS)}."
        )


def read_csv(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, raw row) from CSV with a header row; a malformed row yields a RowError instead."""
    reader = csv.reader(stream, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ImportFailed(f"line 1: the header row is not valid CSV ({error}).") from error
    if not header or not any(h.strip() for h in header):
        raise ImportFailed("line 1: the file is empty; a header row naming the columns is required.")
    header = [h.strip() for h in header]
    _check_columns(header, 1)
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise ImportFailed(f"line 1: column(s) {', '.join(duplicated)} appear more than once in the header.")
    width = len(header)
    end = reader.line_num
    while True:
        start = end + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportFailed(f"line {start}: not valid CSV ({error}); nothing was written.") from error
        end = reader.line_num
        if not record:  # a blank line
            continue
        if len(record) != width:
            yield start, RowError(start, None, f"has {len(record)} values but the header has {width} columns")
            continue
        yield start, dict(zip(header, record, strict=True))


def read_jsonl(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, raw row) from JSON Lines, one object per line; blank lines are skipped."""
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as error:
            yield number, RowError(number, None, f"is not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(obj, dict):
            yield number, RowError(number, None, "must be a JSON object")
            continue
        unknown = [k for k in obj if k not in COLUMNS]
        if unknown:
            yield number, RowError(number, unknown[0], f"unknown column; allowed: {', '.join(COLUMNS)}")
            continue
        yield number, obj


# --- Validation ------------------------------------------------------------------------------------------------


def split_groups(value: Any) -> list[str] | None:
    """Return the group references of a cell ("VIP;Promo", "VIP|Promo") or a JSON list; None if malformed."""
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            return None
        refs = value
    elif isinstance(value, str):
        for separator in GROUP_SEPARATORS[1:]:
            value = value.replace(separator, GROUP_SEPARATORS[0])
        refs = value.split(GROUP_SEPARATORS[0])
    else:
        return None
    return [r.strip() for r in refs if r.strip()]


class RowValidator:
    """Check one raw row with the model's own rules; build once per import (it caches the fields and groups)."""

    def __init__(self, *, allow_missing_external_id: bool = False) -> None:
        self.allow_missing_external_id = allow_missing_external_id
        self.fields = [(name, Customer._meta.get_field(name)) for name in CUSTOMER_FIELDS]
        self.groups = GroupResolver()

    def _check(self, name: str, model_field: Any, value: str | None) -> str | None:
        """Return why the normalised *value* breaks the field's rules, or None."""
        if value is None:
            if name == "external_id" and not self.allow_missing_external_id:
                return "is required (or pass --allow-missing-external-id to create customers without one)"
            return None
        if name == "address_country":
            return None if value in COUNTRY_CODES else f"'{value}' is not an ISO 3166-1 alpha-2 country code"
        if value == "":  # normalize_customer_value turns a blank name into "" (the other fields into None)
            return "is required"
        # Fast path for the common case: printable text within the limit passes every validator of the field
        # (the validators only reject control characters and overlong values); anything else runs them all.
        if value.isprintable() and len(value) <= model_field.max_length:
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
            else:
                group_ids = []
                for ref in refs:
                    pk = self.groups.resolve(ref)
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


def _duplicate_error(line: int, external_id: str, lines: list[int]) -> RowError:
    listed = ", ".join(str(n) for n in lines)
    return RowError(line, "external_id", f"'{external_id}' appears {len(lines)} times in the file (lines {listed})")


# --- Import ----------------------------------------------------------------------------------------------------


def import_customers(
    rows: Iterable[tuple[int, dict[str, Any] | RowError]],
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    allow_missing_external_id: bool = False,
    user: AbstractBaseUser | None = None,
    method: str = "auto",
    on_progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Upsert customers by external_id from raw *rows* (see `read_csv`/`read_jsonl`), all in one transaction.

    A row creates a customer when its external_id is new and updates the customer with that external_id
    otherwise; columns the file does not have are left as they are. A `groups` column replaces the customer's
    current groups like the API's group_ids. Raise ImportFailed (nothing written) when a row is bad, unless
    *skip_invalid*; with *dry_run* everything is computed and then rolled back. *method* is "copy"
    (PostgreSQL), "orm" or "auto".
    """
    if method == "auto":
        method = "copy" if connection.vendor == "postgresql" else "orm"
    validator = RowValidator(allow_missing_external_id=allow_missing_external_id)
    result = ImportResult(dry_run=dry_run)
    merge = _merge_copy if method == "copy" else _merge_orm
    try:
        with transaction.atomic():
            merge(validate_rows(rows, validator, result), result, skip_invalid, user, on_progress)
            if dry_run:
                transaction.set_rollback(True)
    except IntegrityError as error:
        raise ImportFailed(
            f"The import conflicts with a change made at the same time ({error}); nothing was written, run it again."
        ) from error
    return result


def _fail_if_invalid(result: ImportResult, skip_invalid: bool) -> None:
    if result.rejected and not skip_invalid:
        result.errors.sort(key=lambda e: e.line)
        raise ImportFailed(
            f"{result.rejected} bad row(s); nothing was written (use --skip-invalid to import the good rows).",
            errors=result.errors,
        )


# ORM path (any database) -------------------------------------------------------------------------------------


def _merge_orm(rows, result, skip_invalid, user, on_progress) -> None:
    valid = []
    for row in rows:
        valid.append(row)
        if on_progress and len(valid) % CHUNK_ROWS == 0:
            on_progress(CHUNK_ROWS)
    lines_by_external_id: dict[str, list[int]] = {}
    for row in valid:
        external_id = row.values.get("external_id")
        if external_id is not None:
            lines_by_external_id.setdefault(external_id, []).append(row.line)
    duplicated = {e: lines for e, lines in lines_by_external_id.items() if len(lines) > 1}
    if duplicated:
        kept = []
        for row in valid:
            external_id = row.values.get("external_id")
            if external_id in duplicated:
                result.rejected += 1
                result.add_error(_duplicate_error(row.line, external_id, duplicated[external_id]))
            else:
                kept.append(row)
        valid = kept
    _fail_if_invalid(result, skip_invalid)

    now = timezone.now()
    existing: dict[str, Customer] = {}
    external_ids = [r.values["external_id"] for r in valid if r.values.get("external_id") is not None]
    for start in range(0, len(external_ids), 500):
        for customer in Customer.objects.filter(external_id__in=external_ids[start : start + 500]):
            existing[customer.external_id] = customer
    to_create: list[Customer] = []
    to_update: list[Customer] = []
    changed_fields: set[str] = set()
    group_targets: list[tuple[Customer, list[uuid.UUID], bool]] = []
    for row in valid:
        customer = existing.get(row.values.get("external_id"))
        if customer is None:
            customer = Customer(id=uuid.uuid4(), **row.values)
            customer.created_at = customer.updated_at = now
            to_create.append(customer)
            created = True
        else:
            changed = [f for f, v in row.values.items() if getattr(customer, f) != v]
            if changed:
                for f in changed:
                    setattr(customer, f, row.values[f])
                customer.updated_at = now
                changed_fields.update(changed)
                to_update.append(customer)
            created = False
        if row.group_ids is not None:
            group_targets.append((customer, row.group_ids, created))
    history = {"default_user": user, "default_change_reason": CHANGE_REASON, "default_date": now}
    if to_create:
        bulk_create_with_history(to_create, Customer, batch_size=500, **history)
    if to_update:
        bulk_update_with_history(
            to_update, Customer, [*sorted(changed_fields), "updated_at"], batch_size=500, **history
        )
    updated_ids = {c.pk for c in to_update}
    if group_targets:
        groups_changed = _set_groups_orm(group_targets, now, history)
        created_ids = {c.pk for c in to_create}
        updated_ids |= {pk for pk in groups_changed if pk not in created_ids}
    result.created = len(to_create)
    result.updated = len(updated_ids)
    result.unchanged = len(valid) - result.created - result.updated


def _set_groups_orm(targets, now: datetime, history: dict) -> set[uuid.UUID]:
    """Give each customer exactly its wanted current groups; return the ids of customers whose groups changed."""
    return memberships_replace(
        customer_ids_to_group_ids={c.pk: wanted for c, wanted, _created in targets},
        at=now,
        user=history["default_user"],
        reason=CHANGE_REASON,
        method="orm",
    )


# PostgreSQL path: COPY into a staging table, then set-based statements ------------------------------------------

_STAGING = "import_customers_staging"
_HISTORY_COLUMNS = ("history_date", "history_change_reason", "history_type", "history_user_id")


def _merge_copy(rows, result, skip_invalid, user, on_progress) -> None:
    columns = list(CUSTOMER_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGING}")
        cursor.execute(
            f"""
            CREATE TEMP TABLE {_STAGING} (
                line integer NOT NULL,
                new_id uuid NOT NULL DEFAULT gen_random_uuid(),
                present integer NOT NULL,  -- bit i set: the file has column i (columns it lacks stay)
                {", ".join(f"{c} text" for c in columns)},
                set_groups boolean NOT NULL,
                group_ids uuid[]
            ) ON COMMIT DROP
            """
        )
        staged = 0
        copy_sql = f"COPY {_STAGING} (line, present, {', '.join(columns)}, set_groups, group_ids) FROM STDIN"
        masks: dict[tuple[str, ...], int] = {}
        # One COPY for the whole file: the server stores rows while Python reads and validates the next ones.
        with cursor.copy(copy_sql) as copy:
            for row in rows:
                values = row.values
                keys = tuple(values)
                mask = masks.get(keys)
                if mask is None:
                    mask = masks[keys] = sum(1 << i for i, c in enumerate(columns) if c in values)
                copy.write_row(
                    (row.line, mask, *[values.get(c) for c in columns], row.group_ids is not None, row.group_ids)
                )
                staged += 1
                if on_progress and staged % CHUNK_ROWS == 0:
                    on_progress(CHUNK_ROWS)
        if on_progress:
            on_progress(staged % CHUNK_ROWS)

        cursor.execute(
            f"""
            SELECT external_id, array_agg(line ORDER BY line) FROM {_STAGING}
            WHERE external_id IS NOT NULL GROUP BY external_id HAVING count(*) > 1
            """
        )
        duplicated = cursor.fetchall()
        for external_id, lines in duplicated:
            for line in lines:
                result.rejected += 1
                result.add_error(_duplicate_error(line, external_id, lines))
        _fail_if_invalid(result, skip_invalid)
        if duplicated:
            cursor.execute(f"DELETE FROM {_STAGING} s WHERE s.external_id = ANY(%s)", [[e for e, _ in duplicated]])
            staged -= cursor.rowcount
        if not staged:
            return
        empty = not Customer.objects.exists()
        if not empty:
            cursor.execute(f"CREATE INDEX ON {_STAGING} (external_id)")
        cursor.execute(f"ANALYZE {_STAGING}")

        now = timezone.now()
        user_id = user.pk if user is not None else None
        user_type = Customer.history.model._meta.get_field("history_user").target_field.rel_db_type(connection)
        history_values = f"%(now)s::timestamptz, %(reason)s::text, %(type)s, %(user)s::{user_type}"
        params = {"now": now, "reason": CHANGE_REASON, "user": user_id, "user_obj": user}
        history_cols = ", ".join(_HISTORY_COLUMNS)
        fields = ", ".join(columns)
        customer_table = Customer._meta.db_table
        history_table = Customer.history.model._meta.db_table
        tables = [customer_table, history_table]
        # Loading into an empty table (first onboarding, the benchmark): build the indexes once at the end.
        with deferred_indexes(tables) if empty and staged >= bulk.DEFER_INDEXES_MIN_ROWS else nullcontext():
            # Created: rows whose external_id is new (or absent, with --allow-missing-external-id).
            cursor.execute(
                f"""
                WITH ins AS (
                    INSERT INTO {customer_table} (id, {fields}, created_at, updated_at)
                    SELECT s.new_id, {", ".join(f"s.{c}" for c in columns)}, %(now)s, %(now)s
                    FROM {_STAGING} s
                    WHERE s.external_id IS NULL
                       OR NOT EXISTS (SELECT 1 FROM {customer_table} c WHERE c.external_id = s.external_id)
                    RETURNING id, {fields}, created_at
                )
                INSERT INTO {history_table} (id, {fields}, created_at, {history_cols})
                SELECT id, {fields}, created_at, {history_values} FROM ins
                """,
                {**params, "type": "+"},
            )
            result.created = cursor.rowcount
            # Updated: existing customers whose columns in the file differ (others stay untouched).
            compare_old = ", ".join(
                f"CASE WHEN s.present & {1 << i} <> 0 THEN c.{c} END"
                for i, c in enumerate(columns)
                if c != "external_id"
            )
            compare_new = ", ".join(
                f"CASE WHEN s.present & {1 << i} <> 0 THEN s.{c} END"
                for i, c in enumerate(columns)
                if c != "external_id"
            )
            assignments = ", ".join(
                f"{c} = CASE WHEN s.present & {1 << i} <> 0 THEN s.{c} ELSE c.{c} END"
                for i, c in enumerate(columns)
                if c != "external_id"
            )
            if empty:  # nothing to update: every row was just created
                cursor.execute("CREATE TEMP TABLE import_customers_changed (customer_id uuid) ON COMMIT DROP")
            else:
                cursor.execute(
                    f"""
                CREATE TEMP TABLE import_customers_changed ON COMMIT DROP AS
                WITH upd AS (
                    UPDATE {customer_table} c SET {assignments}, updated_at = %(now)s
                    FROM {_STAGING} s
                    WHERE c.external_id = s.external_id
                      AND ROW({compare_old}) IS DISTINCT FROM ROW({compare_new})
                    RETURNING c.id, {", ".join(f"c.{c}" for c in columns)}, c.created_at
                ), hist AS (
                    INSERT INTO {history_table} (id, {fields}, created_at, {history_cols})
                    SELECT id, {fields}, created_at, {history_values} FROM upd
                )
                SELECT id AS customer_id FROM upd
                """,
                    {**params, "type": "~"},
                )
        cursor.execute("SELECT count(*) FROM import_customers_changed")
        updated_ids = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM " + _STAGING + " WHERE set_groups")
        if cursor.fetchone()[0]:
            _set_groups_copy(cursor, now, params, history_values)
            cursor.execute("SELECT count(*) FROM import_customers_changed")
            updated_ids = cursor.fetchone()[0]
        cursor.execute("DROP TABLE import_customers_changed")
        cursor.execute(f"DROP TABLE {_STAGING}")
    result.updated = updated_ids
    result.unchanged = staged - result.created - result.updated


def _set_groups_copy(cursor, now: datetime, params: dict, history_values: str) -> None:
    """Set the staged rows' current groups; add changed existing customers to the changed table."""
    customer_table = Customer._meta.db_table
    cursor.execute(
        f"""
        SELECT COALESCE(c.id, s.new_id), s.group_ids, c.created_at = %(now)s
        FROM {_STAGING} s LEFT JOIN {customer_table} c ON c.external_id = s.external_id
        WHERE s.set_groups
        """,
        params,
    )
    targets = cursor.fetchall()
    changed = memberships_replace(
        customer_ids_to_group_ids={pk: group_ids or [] for pk, group_ids, _created in targets},
        at=now,
        user=params["user_obj"],
        reason=CHANGE_REASON,
        method="sql",
    )
    created = {pk for pk, _group_ids, was_created in targets if was_created}
    cursor.execute("SELECT customer_id FROM import_customers_changed")
    updated = {row[0] for row in cursor.fetchall()}
    new = [(pk,) for pk in changed if pk not in created and pk not in updated]
    if new:
        cursor.executemany("INSERT INTO import_customers_changed (customer_id) VALUES (%s)", new)


# --- Export ----------------------------------------------------------------------------------------------------


def export_customers(
    stream: IO[str],
    *,
    fmt: str = "csv",
    group: Group | uuid.UUID | None = None,
    country: str | None = None,
    group_format: str = "ids",
    chunk_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write customers to *stream* as CSV or JSON Lines in the import's own format; return how many.

    Streams in keyset-ordered chunks (created_at, id), so memory stays flat however many customers there are.
    """
    names = dict(Group.objects.values_list("id", "name"))
    if group_format == "names":
        bad = [n for n in names.values() if any(s in n for s in GROUP_SEPARATORS)]
        if bad:
            raise DomainError(
                f"Group name '{bad[0]}' contains ';' or '|', so names cannot be listed in one cell; "
                "export with group ids instead."
            )
    queryset = Customer.objects.order_by("created_at", "id")
    if group is not None:
        queryset = queryset.in_group(group)
    if country:
        queryset = queryset.filter(address_country=country)
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
    count = 0
    after: tuple | None = None
    while True:
        page = queryset
        if after is not None:
            # The plain >= gives the index scan its start; the OR then skips the rows already written.
            page = page.filter(created_at__gte=after[0]).filter(Q(created_at__gt=after[0]) | Q(id__gt=after[1]))
        chunk = list(page.values_list("id", "created_at", *CUSTOMER_FIELDS)[:chunk_size])
        if not chunk:
            break
        memberships: dict[uuid.UUID, list[uuid.UUID]] = {}
        for customer_id, group_id in (
            Membership.objects.current()
            .filter(customer_id__in=[r[0] for r in chunk])
            .order_by()
            .values_list("customer_id", "group_id")
        ):
            memberships.setdefault(customer_id, []).append(group_id)
        for record in chunk:
            values = dict(zip(CUSTOMER_FIELDS, record[2:], strict=True))
            # Groups in name order, so the same memberships always give the same cell.
            group_ids = sorted(memberships.get(record[0], []), key=lambda g: (names[g].lower(), str(g)))
            refs = [names[g] if group_format == "names" else str(g) for g in group_ids]
            if fmt == "csv":
                writer.writerow([*("" if v is None else v for v in values.values()), ";".join(refs)])
            else:
                values[GROUPS_COLUMN] = refs
                stream.write(json.dumps(values, ensure_ascii=False) + "\n")
        count += len(chunk)
        if on_progress:
            on_progress(len(chunk))
        after = (chunk[-1][1], chunk[-1][0])
    return count
