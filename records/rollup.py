"""Maintenance of the usage rollups: every record insert adds its quantity to its (customer, hour, code) and to
its (customer, minute, code).

The hourly rollup answers usage summaries and the whole hours of billing summaries; the per-minute rollup
answers the pieces of the hours that a rate or membership boundary cuts. Both are only ever added to, in the
same transaction as the records they count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection

from records.models import DataRecord, UsageMinuteRollup, UsageRollup
from records.querysets import hour_floor, minute_floor

#: (model, its time column, the PostgreSQL date_trunc field, the Python floor of a moment to it)
ROLLUPS = (
    (UsageRollup, "hour", "hour", hour_floor),
    (UsageMinuteRollup, "minute", "minute", minute_floor),
)


def _rollup_cte(name: str, model, column: str, field: str) -> str:
    return f"""{name} AS (
    INSERT INTO {model._meta.db_table} AS u (customer_id, {column}, code, quantity, records)
    SELECT customer_id, date_trunc('{field}', time_from, 'UTC'), code, sum(quantity), count(*)
    FROM inserted
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3  -- a fixed lock order, so concurrent batches cannot deadlock on the rollup rows
    ON CONFLICT (customer_id, {column}, code)
    DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity, records = u.records + EXCLUDED.records
)"""


#: PostgreSQL: statement fragments (CTEs) that add the rows of the CTE `inserted` (customer_id, code, quantity,
#: time_from) to both rollups, for the record insert to run as one statement. Every insert has the same text,
#: so the two upserts run in the same order in every transaction (hours, then minutes).
ROLLUP_FROM_INSERTED_SQL = ",\n".join(
    _rollup_cte(f"rolled_{column}", model, column, field) for model, column, field, _ in ROLLUPS
)


def rollup_from_records_sql() -> list[str]:
    """PostgreSQL: the statements that fill both (empty) rollups from every stored record (bulk loads)."""
    return [
        f"INSERT INTO {model._meta.db_table} (customer_id, {column}, code, quantity, records) "
        f"SELECT customer_id, date_trunc('{field}', time_from, 'UTC'), code, sum(quantity), count(*) "
        f"FROM {DataRecord._meta.db_table} GROUP BY 1, 2, 3"
        for model, column, field, _ in ROLLUPS
    ]


#: {(customer_id, hour or minute, code): [quantity, records]}
Totals = dict[tuple[UUID, datetime, str], list]


def rollup_totals(records: Iterable[tuple[UUID, str, Decimal, datetime]]) -> list[Totals]:
    """Return the additions of (customer_id, code, quantity, time_from) records to each rollup of `ROLLUPS`."""
    out: list[Totals] = [defaultdict(lambda: [Decimal(0), 0]) for _ in ROLLUPS]
    floors = [floor for *_, floor in ROLLUPS]
    for customer_id, code, quantity, time_from in records:
        for totals, floor in zip(out, floors, strict=True):
            total = totals[(customer_id, floor(time_from), code)]
            total[0] += quantity
            total[1] += 1
    return out


def rollup_add(cursor, additions: list[Totals]) -> None:
    """Add `rollup_totals` output to the rollups (portable upsert)."""
    for (model, column, _, _), totals in zip(ROLLUPS, additions, strict=True):
        if not totals:
            continue
        table = connection.ops.quote_name(model._meta.db_table)
        prep = [model._meta.get_field(n) for n in ("customer_id", column, "code", "quantity", "records")]
        sql = (
            f"INSERT INTO {table} AS u (customer_id, {column}, code, quantity, records) VALUES (%s, %s, %s, %s, %s) "
            f"ON CONFLICT (customer_id, {column}, code) "
            "DO UPDATE SET quantity = u.quantity + excluded.quantity, records = u.records + excluded.records"
        )
        params = [
            [f.get_db_prep_save(v, connection) for f, v in zip(prep, (*key, *total), strict=True)]
            for key, total in sorted(totals.items(), key=lambda item: (str(item[0][0]), item[0][1], item[0][2]))
        ]
        cursor.executemany(sql, params)
