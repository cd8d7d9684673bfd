"""Writes of data records: validation, customer resolution and the set-based insert.

Ingestion is the hot path of a billing engine, so a batch is validated by plain Python (no serializer per
record), its customers are resolved by one query, and it is inserted, together with the hourly usage
rollup, by one statement on PostgreSQL. Every problem of a batch is reported at once, with its index.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import orjson
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billingengine.errors import Conflict, InvalidInput
from customers.models import Customer
from records.models import CODE_PATTERN, RECORD_COLUMNS, DataRecord, UsageRollup, uuid7s
from records.querysets import hour_floor

MAX_BATCH = 10_000
RECORD_FIELDS = frozenset(
    {"customer_id", "customer_external_id", "code", "quantity", "time_from", "time_to", "transaction_id"}
)
MAX_INTEGER_DIGITS = 18
MAX_FRACTION_DIGITS = 6

_CODE = re.compile(CODE_PATTERN)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class TransactionIdConflict(Conflict):
    """A transaction_id was submitted again with different content."""

    code = "transaction_id_conflict"


@dataclass(slots=True)
class RecordInput:
    """One validated record, before its customer is resolved."""

    index: int
    customer_id: UUID | None
    customer_external_id: str | None
    code: str
    quantity: Decimal
    time_from: datetime
    time_to: datetime | None
    transaction_id: str | None


@dataclass(slots=True)
class CustomerRef:
    """How record *index* names its customer: by id or by external_id."""

    index: int
    customer_id: UUID | None
    customer_external_id: str | None


@dataclass(frozen=True)
class IngestResult:
    """What a submission did: the ids of new records, and the existing ids of retries."""

    created_ids: list[UUID]
    duplicate_ids: list[UUID]

    @property
    def created(self) -> int:
        return len(self.created_ids)

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_ids)


# -- validation ------------------------------------------------------------------------------------


def _error(field: str, code: str, detail: str) -> dict:
    return {"field": field, "code": code, "detail": detail}


def _parse_quantity(value: Any) -> Decimal | str:
    """Return *value* as a Decimal, or the reason it is not an acceptable quantity."""
    if isinstance(value, bool):
        return "Must be a number or a decimal string, not a boolean."
    if isinstance(value, int):
        quantity = Decimal(value)
    elif isinstance(value, float):
        quantity = Decimal(repr(value))  # the shortest text that reads back as this float: 0.1 stays 0.1
    elif isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            return 'Must be a finite decimal number such as 1500 or "0.25".'
        try:
            quantity = Decimal(text)
        except InvalidOperation:
            return 'Must be a finite decimal number such as 1500 or "0.25".'
    else:
        return "Must be a number or a decimal string."
    if not quantity.is_finite():
        return "Must be a finite decimal number."
    _, digits, exponent = quantity.as_tuple()
    # Trailing zeros after the point do not count ("1.50000000" is 1.5); no normalize(), which rounds.
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    if exponent < -MAX_FRACTION_DIGITS:
        return f"At most {MAX_FRACTION_DIGITS} digits after the decimal point."
    if len(digits) + exponent > MAX_INTEGER_DIGITS and any(digits):
        return f"At most {MAX_INTEGER_DIGITS} digits before the decimal point."
    return quantity


def _parse_moment(value: Any) -> datetime | str:
    """Return *value* as an aware UTC datetime, or the reason it is not an RFC 3339 timestamp."""
    if not isinstance(value, str):
        return "Must be an RFC 3339 timestamp string, e.g. 2026-03-31T14:00:00Z."
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        return "Not a valid date and time (RFC 3339, e.g. 2026-03-31T14:00:00Z)."
    if moment is None:
        return "Not an RFC 3339 timestamp (e.g. 2026-03-31T14:00:00Z)."
    if moment.tzinfo is None:
        # A time without an offset is ambiguous; guessing UTC would bill the wrong hour for every non-UTC sender.
        return "Must carry a time zone offset, e.g. 2026-03-31T14:00:00Z or 2026-03-31T16:00:00+02:00."
    if moment.tzinfo is UTC:  # "Z": already UTC, the common case
        return moment
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return "Out of the supported range of dates."


def _parse_text(value: Any, *, max_length: int) -> str | tuple[str, str] | None:
    """Return *value* trimmed (None when null), or (code, reason) when it is not acceptable text."""
    if value is None:
        return None
    if not isinstance(value, str):
        return ("invalid", "Must be a string.")
    text = value.strip()
    if not text:
        return ("blank", "Must not be blank; leave the field out (or null) instead.")
    if len(text) > max_length:
        return ("max_length", f"At most {max_length} characters.")
    if _CONTROL.search(text):
        return ("control_characters", "Control characters are not allowed.")
    return text


def parse_records(
    items: Sequence[Any], field: Callable[[int, str], str]
) -> tuple[list[RecordInput], list[CustomerRef], list[dict]]:
    """Validate raw records (parsed JSON); return the valid ones typed, every well-formed customer reference
    (also of otherwise invalid records, so unknown customers are reported with the other problems), and
    every problem found.

    *field(index, name)* names a field in error reports, e.g. "records[3].code".
    """
    errors: list[dict] = []
    out: list[RecordInput] = []
    refs: list[CustomerRef] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(_error(field(index, ""), "invalid", "Must be an object (a data record)."))
            continue
        problems_before = len(errors)
        if not RECORD_FIELDS.issuperset(item):
            for name in sorted(map(str, item.keys() - RECORD_FIELDS)):
                errors.append(_error(field(index, name), "unknown_field", "Unknown field."))

        customer_id = None
        external_id = None
        raw_id = item.get("customer_id")
        raw_external = item.get("customer_external_id")
        if raw_id is not None and raw_external is not None:
            errors.append(
                _error(
                    field(index, "customer_id"),
                    "ambiguous_customer",
                    "Give customer_id or customer_external_id, not both.",
                )
            )
        elif raw_id is not None:
            try:
                customer_id = UUID(raw_id) if isinstance(raw_id, str) else None
            except ValueError:
                customer_id = None
            if customer_id is None:
                errors.append(_error(field(index, "customer_id"), "invalid", "Must be a UUID."))
        elif raw_external is not None:
            parsed = _parse_text(raw_external, max_length=255)
            if isinstance(parsed, tuple):
                errors.append(_error(field(index, "customer_external_id"), *parsed))
            else:
                external_id = parsed
        else:
            errors.append(
                _error(
                    field(index, "customer_external_id"),
                    "required",
                    "The customer is required: give customer_external_id or customer_id.",
                )
            )

        if customer_id is not None or external_id is not None:
            refs.append(CustomerRef(index, customer_id, external_id))

        code = item.get("code")
        if code is None:
            errors.append(_error(field(index, "code"), "required", "This field is required."))
        elif not isinstance(code, str) or not _CODE.match(code):
            errors.append(
                _error(
                    field(index, "code"),
                    "invalid_code",
                    "Must be 1 to 64 characters of letters, digits and _ . : -.",
                )
            )

        quantity = item.get("quantity")
        if quantity is None:
            errors.append(_error(field(index, "quantity"), "required", "This field is required."))
        else:
            quantity = _parse_quantity(quantity)
            if isinstance(quantity, str):
                errors.append(_error(field(index, "quantity"), "invalid", quantity))

        time_from = item.get("time_from")
        if time_from is None:
            errors.append(_error(field(index, "time_from"), "required", "This field is required."))
        else:
            time_from = _parse_moment(time_from)
            if isinstance(time_from, str):
                errors.append(_error(field(index, "time_from"), "invalid", time_from))

        time_to = item.get("time_to")
        if time_to is not None:
            time_to = _parse_moment(time_to)
            if isinstance(time_to, str):
                errors.append(_error(field(index, "time_to"), "invalid", time_to))
            elif isinstance(time_from, datetime) and time_to < time_from:
                errors.append(
                    _error(field(index, "time_to"), "time_to_before_time_from", "Must not be before time_from.")
                )

        transaction_id = _parse_text(item.get("transaction_id"), max_length=255)
        if isinstance(transaction_id, tuple):
            errors.append(_error(field(index, "transaction_id"), *transaction_id))

        if len(errors) == problems_before:
            out.append(RecordInput(index, customer_id, external_id, code, quantity, time_from, time_to, transaction_id))
    return out, refs, errors


def _index_of(field: str | None) -> int:
    """Return the record index of an error's field ("records[3].code" -> 3; 0 for a single record)."""
    if field and field.startswith("records["):
        return int(field[8 : field.index("]")])
    return 0


def _invalid(errors: list[dict]) -> InvalidInput:
    codes = {e["code"] for e in errors}
    code = codes.pop() if len(codes) == 1 and "unknown_customer" in codes else "invalid"
    first = errors[0]
    where = f"{first['field']}: " if first["field"] else ""
    more = f" (and {len(errors) - 1} more problem(s), listed in errors)" if len(errors) > 1 else ""
    return InvalidInput(f"{where}{first['detail']}{more}", code=code, errors=errors)


# -- writes ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    index: int
    id: UUID
    customer_id: UUID
    customer_external_id: str | None
    customer_name: str
    code: str
    quantity: Decimal
    time_from: datetime
    time_to: datetime | None
    transaction_id: str | None
    billing_epoch: int

    def same_content(self, other: tuple) -> bool:
        """Return whether an existing record (customer_id, code, quantity, time_from, time_to) is this record."""
        return (self.customer_id, self.code, self.quantity, self.time_from, self.time_to) == other


def _resolve_customers(refs: Sequence[CustomerRef], field: Callable[[int, str], str]) -> tuple[dict, list[dict]]:
    """Find the customers of *refs* with ONE query; return {(id, external_id) reference: customer row} and an
    `unknown_customer` problem for every reference to a customer that does not exist."""
    external_ids = {r.customer_external_id for r in refs if r.customer_external_id is not None}
    ids = {r.customer_id for r in refs if r.customer_id is not None}
    found: dict[tuple, tuple] = {}
    for customer in _customers_by_reference(external_ids, ids):
        found[(customer[0], None)] = customer
        if customer[1] is not None:
            found[(None, customer[1])] = customer
    errors = []
    for ref in refs:
        if (ref.customer_id, ref.customer_external_id) not in found:
            if ref.customer_external_id is not None:
                where, detail = "customer_external_id", f"No customer with external_id '{ref.customer_external_id}'."
            else:
                where, detail = "customer_id", f"No customer with id '{ref.customer_id}'."
            errors.append(_error(field(ref.index, where), "unknown_customer", detail))
    return found, errors


def _customers_by_reference(external_ids: set[str], ids: set[UUID]) -> list[tuple]:
    """Return (id, external_id, name, billing_epoch) of the customers with any of *external_ids* or *ids*: one
    query, which holds a SHARE lock on those customers until the records are committed (PostgreSQL).

    The lock orders ingestion and bill issuing (which locks the customer FOR UPDATE and then increments its
    billing epoch): each record is stamped with the epoch it was submitted in, so it lands in exactly one bill.
    On SQLite the write transaction (BEGIN IMMEDIATE) already serialises the two.
    """
    if not external_ids and not ids:
        return []
    if connection.vendor == "postgresql":
        # Two JSON parameters instead of thousands of bound values.
        table = connection.ops.quote_name(Customer._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, external_id, name, billing_epoch FROM {table} "
                "WHERE external_id IN (SELECT json_array_elements_text(%s::json)) "
                "OR id IN (SELECT json_array_elements_text(%s::json)::uuid) "
                "ORDER BY id FOR SHARE",  # a fixed lock order: no deadlock with a bill run locking many customers
                [orjson.dumps(list(external_ids)).decode(), orjson.dumps(list(ids)).decode()],
            )
            return cursor.fetchall()
    query = Q()
    if external_ids:
        query |= Q(external_id__in=external_ids)
    if ids:
        query |= Q(id__in=ids)
    return list(Customer.objects.filter(query).values_list("id", "external_id", "name", "billing_epoch"))


def _rows(records: Sequence[RecordInput], customers: dict[tuple, tuple]) -> list[_Row]:
    """Return the rows to insert: each record with a new id and its customer as it is now."""
    rows = []
    for record, new_id in zip(records, uuid7s(len(records)), strict=True):
        customer_id, external_id, name, epoch = customers[(record.customer_id, record.customer_external_id)]
        rows.append(
            _Row(
                record.index,
                new_id,
                customer_id,
                external_id,
                name,
                record.code,
                record.quantity,
                record.time_from,
                record.time_to,
                record.transaction_id,
                epoch,
            )
        )
    return rows


def _conflict(
    conflicts: list[tuple[int, str]], field: Callable[[int, str], str], **extra: Any
) -> TransactionIdConflict:
    errors = [_error(field(index, "transaction_id"), "transaction_id_conflict", detail) for index, detail in conflicts]
    first = errors[0]
    where = f"{first['field']}: " if first["field"] else ""
    more = f" (and {len(errors) - 1} more, listed in errors)" if len(errors) > 1 else ""
    return TransactionIdConflict(f"{where}{first['detail']}{more}", errors=errors, **extra)


@transaction.atomic
def records_ingest(items: Sequence[Any], *, field: Callable[[int, str], str] = lambda i, name: name) -> IngestResult:
    """Validate and store raw records (parsed JSON): all of them, or none and every problem listed.

    A record whose transaction_id is already stored with the same content is a retry, reported as a
    duplicate with the stored id; with different content it is a `transaction_id_conflict` (409).
    The insert and the hourly rollup update are one statement on PostgreSQL.
    """
    records, refs, errors = parse_records(items, field)
    customers, unknown = _resolve_customers(refs, field)
    if errors or unknown:
        raise _invalid(sorted(errors + unknown, key=lambda e: _index_of(e["field"])))
    rows = _rows(records, customers)

    # Repeats of a transaction_id inside the batch: identical ones are retries, different ones conflicts.
    first_of: dict[str, _Row] = {}
    unique_rows: list[_Row] = []
    repeats: list[tuple[_Row, _Row]] = []
    conflicts: list[tuple[int, str]] = []
    for row in rows:
        if row.transaction_id is None:
            unique_rows.append(row)
            continue
        first = first_of.get(row.transaction_id)
        if first is None:
            first_of[row.transaction_id] = row
            unique_rows.append(row)
        elif first.same_content((row.customer_id, row.code, row.quantity, row.time_from, row.time_to)):
            repeats.append((row, first))
        else:
            conflicts.append(
                (
                    row.index,
                    f"transaction_id '{row.transaction_id}' is also used by record {first.index}, with other content.",
                )
            )
    if conflicts:
        raise _conflict(conflicts, field)

    inserted = _insert(unique_rows)
    duplicate_ids: list[UUID] = []
    if len(inserted) < len(unique_rows):
        # The rest have a transaction_id stored before (or by a concurrent request that just committed).
        missing = {row.transaction_id: row for row in unique_rows if row.id not in inserted}
        existing = {
            tx: (pk, content)
            for tx, pk, *content in DataRecord.objects.filter(transaction_id__in=missing).values_list(
                "transaction_id", "id", "customer_id", "code", "quantity", "time_from", "time_to"
            )
        }
        conflicting_ids = []
        for tx, row in missing.items():
            pk, content = existing[tx]
            if row.same_content(tuple(content)):
                duplicate_ids.append(pk)
            else:
                conflicting_ids.append(pk)
                conflicts.append(
                    (row.index, f"transaction_id '{tx}' is already stored (record {pk}) with other content.")
                )
        if conflicts:
            existing_id = str(conflicting_ids[0]) if len(conflicting_ids) == 1 else None
            raise _conflict(sorted(conflicts), field, existing_id=existing_id)
    duplicate_ids.extend(first.id for _, first in repeats)
    created_ids = [row.id for row in unique_rows if row.id in inserted]
    return IngestResult(created_ids=created_ids, duplicate_ids=duplicate_ids)


def _insert(rows: list[_Row]) -> set[UUID]:
    """Insert *rows* (skipping stored transaction_ids) and add them to the rollup; return the inserted ids."""
    if not rows:
        return set()
    if connection.vendor == "postgresql":
        return _insert_postgresql(rows)
    return _insert_portable(rows)


_PG_INSERT = """
WITH inserted AS (
    INSERT INTO {records} (id, customer_id, customer_external_id, customer_name, code, quantity,
                           time_from, time_to, transaction_id, created_at, billing_epoch)
    SELECT id, customer_id, customer_external_id, customer_name, code, quantity,
           time_from, time_to, transaction_id, statement_timestamp(), billing_epoch
    FROM json_to_recordset(%s::json) AS r(
        id uuid, customer_id uuid, customer_external_id text, customer_name text, code text, quantity numeric,
        time_from timestamptz, time_to timestamptz, transaction_id text, billing_epoch integer
    )
    ON CONFLICT (transaction_id) DO NOTHING
    RETURNING id, customer_id, code, quantity, time_from
), rolled AS (
    INSERT INTO {rollup} AS u (customer_id, hour, code, quantity, records)
    SELECT customer_id, date_trunc('hour', time_from, 'UTC'), code, sum(quantity), count(*)
    FROM inserted
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3  -- a fixed lock order, so concurrent batches cannot deadlock on the rollup rows
    ON CONFLICT (customer_id, hour, code)
    DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity, records = u.records + EXCLUDED.records
)
SELECT id FROM inserted
"""


def _insert_postgresql(rows: list[_Row]) -> set[UUID]:
    # The batch travels as ONE JSON parameter (orjson writes UUIDs and datetimes in C): adapting nine
    # arrays of 1,000 Python values one by one cost more than everything else the request does.
    payload = orjson.dumps(
        [
            {
                "id": r.id,
                "customer_id": r.customer_id,
                "customer_external_id": r.customer_external_id,
                "customer_name": r.customer_name,
                "code": r.code,
                "quantity": str(r.quantity),
                "time_from": r.time_from,
                "time_to": r.time_to,
                "transaction_id": r.transaction_id,
                "billing_epoch": r.billing_epoch,
            }
            for r in rows
        ]
    ).decode()
    sql = _PG_INSERT.format(records=DataRecord._meta.db_table, rollup=UsageRollup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])
        return {row[0] for row in cursor.fetchall()}


def _insert_portable(rows: list[_Row]) -> set[UUID]:
    """Insert row by row (SQLite and others): `ON CONFLICT DO NOTHING` tells which rows went in."""
    fields = [DataRecord._meta.get_field(name) for name in (*RECORD_COLUMNS, "billing_epoch")]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    insert = (
        f"INSERT INTO {qn(DataRecord._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT ({qn('transaction_id')}) DO NOTHING"
    )
    now = timezone.now()
    inserted: set[UUID] = set()
    totals: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
    with connection.cursor() as cursor:
        for row in rows:
            values = (
                row.id,
                row.customer_id,
                row.customer_external_id,
                row.customer_name,
                row.code,
                row.quantity,
                row.time_from,
                row.time_to,
                row.transaction_id,
                now,
                row.billing_epoch,
            )
            cursor.execute(insert, [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)])
            if cursor.rowcount == 1:
                inserted.add(row.id)
                total = totals[(row.customer_id, hour_floor(row.time_from), row.code)]
                total[0] += row.quantity
                total[1] += 1
        rollup_add(cursor, totals)
    return inserted


def rollup_add(cursor, totals: dict[tuple, list]) -> None:
    """Add {(customer_id, hour, code): [quantity, records]} to the rollup (portable upsert)."""
    if not totals:
        return
    table = connection.ops.quote_name(UsageRollup._meta.db_table)
    meta = UsageRollup._meta
    prep = [meta.get_field(n) for n in ("customer_id", "hour", "code", "quantity", "records")]
    sql = (
        f"INSERT INTO {table} AS u (customer_id, hour, code, quantity, records) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (customer_id, hour, code) "
        "DO UPDATE SET quantity = u.quantity + excluded.quantity, records = u.records + excluded.records"
    )
    params = [
        [f.get_db_prep_save(v, connection) for f, v in zip(prep, (*key, *total), strict=True)]
        for key, total in sorted(totals.items(), key=lambda item: (str(item[0][0]), item[0][1], item[0][2]))
    ]
    cursor.executemany(sql, params)


def record_submit(data: Any) -> tuple[UUID, bool]:
    """Validate and store one raw record; return its id and whether it was created (False: a retry)."""
    result = records_ingest([data], field=_single_field)
    if result.created_ids:
        return result.created_ids[0], True
    return result.duplicate_ids[0], False


def records_submit_batch(data: Any) -> IngestResult:
    """Validate and store a raw batch `{"records": [...]}`: all records, or none and every problem listed."""
    if not isinstance(data, dict):
        raise InvalidInput('The body must be an object: {"records": [...]}.', field="records")
    unknown = sorted(str(key) for key in data if key != "records")
    items = data.get("records")
    errors = [_error(key, "unknown_field", "Unknown field.") for key in unknown]
    if items is None:
        errors.append(_error("records", "required", "This field is required."))
    elif not isinstance(items, list):
        errors.append(_error("records", "invalid", "Must be a list of data records."))
    elif not 1 <= len(items) <= MAX_BATCH:
        errors.append(_error("records", "batch_size", f"Must hold 1 to {MAX_BATCH:,} records (got {len(items):,})."))
    if errors:
        raise _invalid(errors)
    return records_ingest(items, field=_batch_field)


def _single_field(index: int, name: str) -> str:
    return name


def _batch_field(index: int, name: str) -> str:
    return f"records[{index}].{name}" if name else f"records[{index}]"
