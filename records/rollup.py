"""Maintenance of the hourly usage rollup: every record insert adds its quantity to its (customer, hour, code).

The rollup is what answers usage summaries fast (`records.usage.usage_summary`); it is only ever added to,
in the same transaction as the records it counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection

from records.models import UsageRollup
from records.querysets import hour_floor

#: PostgreSQL: a statement fragment (a CTE) that adds the rows of the CTE `inserted` (customer_id, code,
#: quantity, time_from) to the rollup, for the record insert to run as one statement.
ROLLUP_FROM_INSERTED_SQL = f"""rolled AS (
    INSERT INTO {UsageRollup._meta.db_table} AS u (customer_id, hour, code, quantity, records)
    SELECT customer_id, date_trunc('hour', time_from, 'UTC'), code, sum(quantity), count(*)
    FROM inserted
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3  -- a fixed lock order, so concurrent batches cannot deadlock on the rollup rows
    ON CONFLICT (customer_id, hour, code)
    DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity, records = u.records + EXCLUDED.records
)"""

#: {(customer_id, hour, code): [quantity, records]}
Totals = dict[tuple[UUID, datetime, str], list]


def rollup_totals(records: Iterable[tuple[UUID, str, Decimal, datetime]]) -> Totals:
    """Return the rollup additions of (customer_id, code, quantity, time_from) records."""
    totals: Totals = defaultdict(lambda: [Decimal(0), 0])
    for customer_id, code, quantity, time_from in records:
        total = totals[(customer_id, hour_floor(time_from), code)]
        total[0] += quantity
        total[1] += 1
    return totals


def rollup_add(cursor, totals: Totals) -> None:
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
