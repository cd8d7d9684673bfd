"""The billing summary's usage sums on PostgreSQL: one set-based statement per batch of customers.

`billing.summary` plans, for one customer standing for all with the same rate stretches, which ranges to sum
(whole UTC hours from the rollup, pieces of cut hours from the records) and where each sum goes
(usage[(customer, code, stretch index)] += sign * sum). This module hands that plan to PostgreSQL, which
reads each range of each member customer (one index range scan) and adds the sums up per customer, code
and stretch itself, in exact numeric arithmetic: Python receives one row per line instead of a row per range
and code. Private to `billing.summary`; SQLite takes the generic path there (same plan, summed in Python).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

import orjson
from django.db import connection

from records.models import DataRecord, UsageRollup

if TYPE_CHECKING:
    from billing.summary import _Plan


def plan_sums(plan: _Plan) -> list[tuple[UUID, str, int, Decimal, int]]:
    """Return (customer id, code, stretch index, quantity, records) for every target *plan* has usage for."""
    if not plan.ranges:
        return []
    members = [{"c": c, "o": owner} for owner, customers in plan.members.items() for c in customers]
    ranges = [
        {"r": i, "o": owner, "u": rollup, "lo": lo, "hi": hi} for (rollup, owner, lo, hi), i in plan.ranges.items()
    ]
    targets = [
        {"r": i, "k": code, "x": index, "s": sign}
        for (_, i, code), items in plan.targets.items()
        for index, sign in items
    ]
    qn = connection.ops.quote_name
    rollup, records = qn(UsageRollup._meta.db_table), qn(DataRecord._meta.db_table)
    # LATERAL: one index range scan per member and range (the gate `g.u` / `NOT g.u` skips the other table).
    sql = f"""
        WITH m AS (SELECT * FROM json_to_recordset(%s::json) AS m(c uuid, o uuid)),
             g AS (SELECT * FROM json_to_recordset(%s::json) AS g(r int, o uuid, u bool, lo timestamptz,
                                                                   hi timestamptz)),
             t AS (SELECT * FROM json_to_recordset(%s::json) AS t(r int, k text, x int, s int)),
             sums AS (
                SELECT m.c, g.r, a.code, a.q, a.n
                FROM m JOIN g ON g.o = m.o
                CROSS JOIN LATERAL (
                    SELECT h.code, sum(h.quantity) AS q, sum(h.records) AS n FROM {rollup} h
                    WHERE g.u AND h.customer_id = m.c AND h.hour >= g.lo AND h.hour < g.hi GROUP BY h.code
                    UNION ALL
                    SELECT d.code, sum(d.quantity), count(*) FROM {records} d
                    WHERE NOT g.u AND d.customer_id = m.c AND d.time_from >= g.lo AND d.time_from < g.hi
                    GROUP BY d.code
                ) AS a
             )
        SELECT sums.c, t.k, t.x, sum(t.s * sums.q), sum(t.s * sums.n)
        FROM sums JOIN t ON t.r = sums.r AND t.k = sums.code
        GROUP BY sums.c, t.k, t.x
    """
    params = [orjson.dumps(rows).decode() for rows in (members, ranges, targets)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(c, code, index, q, int(n)) for c, code, index, q, n in cursor.fetchall()]
