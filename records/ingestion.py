"""The set-based insert of data records, with the hourly rollup kept in step.

On PostgreSQL a whole batch is ONE statement (records and rollup); elsewhere (SQLite, a development database)
records are inserted row by row and the rollup is added to afterwards, in the same transaction. Either way a
row whose transaction_id is already stored is skipped, and the caller learns which rows went in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import orjson
from django.db import connection
from django.utils import timezone

from records.models import RECORD_COLUMNS, DataRecord
from records.rollup import ROLLUP_FROM_INSERTED_SQL, rollup_add, rollup_totals


@dataclass(slots=True)
class RecordRow:
    """A record ready to insert: its new id, and its customer as it is now."""

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

    def content(self) -> tuple:
        """Return what makes two submissions of a transaction_id the same record."""
        return (self.customer_id, self.code, self.quantity, self.time_from, self.time_to)


#: The columns `RecordRow.content()` compares, to read them from a stored record.
CONTENT_COLUMNS = ("customer_id", "code", "quantity", "time_from", "time_to")


def insert_records(rows: Sequence[RecordRow]) -> set[UUID]:
    """Insert *rows* (skipping stored transaction_ids) and add them to the rollup; return the inserted ids."""
    if not rows:
        return set()
    if connection.vendor == "postgresql":
        return _insert_postgresql(rows)
    return _insert_portable(rows)


_PG_INSERT = f"""
WITH inserted AS (
    INSERT INTO {DataRecord._meta.db_table} (
        id, customer_id, customer_external_id, customer_name, code, quantity,
        time_from, time_to, transaction_id, created_at
    )
    SELECT id, customer_id, customer_external_id, customer_name, code, quantity,
           time_from, time_to, transaction_id, statement_timestamp()
    FROM json_to_recordset(%s::json) AS r(
        id uuid, customer_id uuid, customer_external_id text, customer_name text, code text, quantity numeric,
        time_from timestamptz, time_to timestamptz, transaction_id text
    )
    ON CONFLICT (transaction_id) DO NOTHING
    RETURNING id, customer_id, code, quantity, time_from
), {ROLLUP_FROM_INSERTED_SQL}
SELECT id FROM inserted
"""


def _insert_postgresql(rows: Sequence[RecordRow]) -> set[UUID]:
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
            }
            for r in rows
        ]
    ).decode()
    with connection.cursor() as cursor:
        cursor.execute(_PG_INSERT, [payload])
        return {row[0] for row in cursor.fetchall()}


def _insert_portable(rows: Sequence[RecordRow]) -> set[UUID]:
    """Insert row by row (SQLite and others): `ON CONFLICT DO NOTHING` tells which rows went in."""
    fields = [DataRecord._meta.get_field(name) for name in RECORD_COLUMNS]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    insert = (
        f"INSERT INTO {qn(DataRecord._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT ({qn('transaction_id')}) DO NOTHING"
    )
    now = timezone.now()
    inserted: list[RecordRow] = []
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
            )
            cursor.execute(insert, [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)])
            if cursor.rowcount == 1:
                inserted.append(row)
        rollup_add(cursor, rollup_totals((r.customer_id, r.code, r.quantity, r.time_from) for r in inserted))
    return {row.id for row in inserted}
