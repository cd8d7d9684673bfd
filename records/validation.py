"""Validation of data records: raw records (parsed JSON objects) become typed `RecordInput`s.

Ingestion is the hot path of a billing engine, so records are validated by plain Python (no serializer per
record) and every problem of a submission is reported at once, each with the record's position
(`RecordProblem.index`) and field name; how a client sees a position (a path into the request body) is the
business of `records.api.submissions`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import orjson
from django.db import connection
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from billingengine.errors import InvalidInput
from customers.models import Customer
from records.models import CODE_PATTERN

#: The fields a raw record may have.
RECORD_FIELDS = frozenset(
    {"customer_id", "customer_external_id", "code", "quantity", "time_from", "time_to", "transaction_id"}
)
MAX_INTEGER_DIGITS = 18
MAX_FRACTION_DIGITS = 6
MAX_TEXT_LENGTH = 255

_CODE = re.compile(CODE_PATTERN)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(slots=True)  # not frozen: a frozen dataclass is slower to build, and a batch builds 10,000
class RecordInput:
    """One valid data record as submitted: its customer named by id or by external_id, not yet resolved."""

    customer_id: UUID | None
    customer_external_id: str | None
    code: str
    quantity: Decimal
    time_from: datetime
    time_to: datetime | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """What is wrong with the record at *index* of a submission: its *field* ("" for the record as a whole)."""

    index: int
    field: str
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """How the record at *index* names its customer: by id or by external_id."""

    index: int
    customer_id: UUID | None
    customer_external_id: str | None


#: A customer as records snapshot it: (id, external_id, name).
CustomerRow = tuple[UUID, str | None, str]


class RecordsInvalid(InvalidInput):
    """Records of a submission break rules; `problems` lists every one (nothing is written)."""

    def __init__(self, problems: Sequence[RecordProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.index)
        codes = {p.code for p in self.problems}
        code = "unknown_customer" if codes == {"unknown_customer"} else "invalid"
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        where = f"record {first.index}, {first.field}" if first.field else f"record {first.index}"
        super().__init__(f"{where}: {first.detail}{more}", code=code)


# -- parsing ---------------------------------------------------------------------------------------


def records_parse(items: Sequence[Any]) -> list[RecordInput]:
    """Return raw records (parsed JSON objects) as typed inputs, in order.

    Raise `RecordsInvalid` listing every problem; it then also names the unknown customers of all records
    (one query), so a single answer lists everything to fix. Whether the customers of valid records exist
    is checked when they are ingested (`resolve_customers`), by the same single query.
    """
    inputs: list[RecordInput] = []
    refs: list[CustomerRef] = []
    problems: list[RecordProblem] = []
    for index, item in enumerate(items):
        record, ref, found = parse_record(item, index)
        if ref is not None:
            refs.append(ref)
        problems.extend(found)
        if record is not None:
            inputs.append(record)
    if problems:
        _, unknown = resolve_customers(refs)
        raise RecordsInvalid(problems + unknown)
    return inputs


def parse_record(item: Any, index: int = 0) -> tuple[RecordInput | None, CustomerRef | None, list[RecordProblem]]:
    """Validate one raw record; return it typed (None when invalid), how it names its customer (None when it
    does not, well-formed) and its problems."""
    problems: list[RecordProblem] = []

    def add_problem(field: str, code: str, detail: str) -> None:
        problems.append(RecordProblem(index, field, code, detail))

    if not isinstance(item, dict):
        add_problem("", "invalid", "Must be an object (a data record).")
        return None, None, problems
    if not RECORD_FIELDS.issuperset(item):
        for name in sorted(map(str, item.keys() - RECORD_FIELDS)):
            add_problem(name, "unknown_field", "Unknown field.")

    customer_id = None
    external_id = None
    raw_id = item.get("customer_id")
    raw_external = item.get("customer_external_id")
    if raw_id is not None and raw_external is not None:
        add_problem("customer_id", "ambiguous_customer", "Give customer_id or customer_external_id, not both.")
    elif raw_id is not None:
        try:
            customer_id = UUID(raw_id) if isinstance(raw_id, str) else None
        except ValueError:
            customer_id = None
        if customer_id is None:
            add_problem("customer_id", "invalid", "Must be a UUID.")
    elif raw_external is not None:
        parsed = _parse_text(raw_external, max_length=MAX_TEXT_LENGTH)
        if isinstance(parsed, tuple):
            add_problem("customer_external_id", *parsed)
        else:
            external_id = parsed
    else:
        add_problem(
            "customer_external_id", "required", "The customer is required: give customer_external_id or customer_id."
        )
    ref = CustomerRef(index, customer_id, external_id) if customer_id is not None or external_id is not None else None

    code = item.get("code")
    if code is None:
        add_problem("code", "required", "This field is required.")
    elif not isinstance(code, str) or not _CODE.match(code):
        add_problem("code", "invalid_code", "Must be 1 to 64 characters of letters, digits and _ . : -.")

    quantity = item.get("quantity")
    if quantity is None:
        add_problem("quantity", "required", "This field is required.")
    else:
        quantity = _parse_quantity(quantity)
        if isinstance(quantity, str):
            add_problem("quantity", "invalid", quantity)

    time_from = item.get("time_from")
    if time_from is None:
        add_problem("time_from", "required", "This field is required.")
    else:
        time_from = _parse_moment(time_from)
        if isinstance(time_from, str):
            add_problem("time_from", "invalid", time_from)

    time_to = item.get("time_to")
    if time_to is not None:
        time_to = _parse_moment(time_to)
        if isinstance(time_to, str):
            add_problem("time_to", "invalid", time_to)
        elif isinstance(time_from, datetime) and time_to < time_from:
            add_problem("time_to", "time_to_before_time_from", "Must not be before time_from.")

    transaction_id = _parse_text(item.get("transaction_id"), max_length=MAX_TEXT_LENGTH)
    if isinstance(transaction_id, tuple):
        add_problem("transaction_id", *transaction_id)

    if problems:
        return None, ref, problems
    return RecordInput(customer_id, external_id, code, quantity, time_from, time_to, transaction_id), ref, problems


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


# -- customers -------------------------------------------------------------------------------------


def resolve_customers(refs: Sequence[CustomerRef]) -> tuple[dict[tuple, CustomerRow], list[RecordProblem]]:
    """Find the customers of *refs* with ONE query; return {(customer_id, customer_external_id): customer row}
    and an `unknown_customer` problem for every reference to a customer that does not exist."""
    external_ids = {r.customer_external_id for r in refs if r.customer_external_id is not None}
    ids = {r.customer_id for r in refs if r.customer_id is not None}
    found: dict[tuple, CustomerRow] = {}
    for customer in _customers_by_reference(external_ids, ids):
        found[(customer[0], None)] = customer
        if customer[1] is not None:
            found[(None, customer[1])] = customer
    problems = []
    for ref in refs:
        if (ref.customer_id, ref.customer_external_id) not in found:
            if ref.customer_external_id is not None:
                field, detail = "customer_external_id", f"No customer with external_id '{ref.customer_external_id}'."
            else:
                field, detail = "customer_id", f"No customer with id '{ref.customer_id}'."
            problems.append(RecordProblem(ref.index, field, "unknown_customer", detail))
    return found, problems


def _customers_by_reference(external_ids: set[str], ids: set[UUID]) -> list[CustomerRow]:
    """Return (id, external_id, name) of the customers with any of *external_ids* or *ids*: one query."""
    if not external_ids and not ids:
        return []
    if connection.vendor == "postgresql":
        # Two JSON parameters instead of thousands of bound values.
        table = connection.ops.quote_name(Customer._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, external_id, name FROM {table} "
                "WHERE external_id IN (SELECT json_array_elements_text(%s::json)) "
                "OR id IN (SELECT json_array_elements_text(%s::json)::uuid)",
                [orjson.dumps(list(external_ids)).decode(), orjson.dumps(list(ids)).decode()],
            )
            return cursor.fetchall()
    query = Q()
    if external_ids:
        query |= Q(external_id__in=external_ids)
    if ids:
        query |= Q(id__in=ids)
    return list(Customer.objects.filter(query).values_list("id", "external_id", "name"))
