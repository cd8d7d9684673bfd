"""The billing summary's usage sums on PostgreSQL: one set-based statement per batch of customers.

`billing.summary` plans, for one customer standing for all with the same rate stretches, which ranges to sum
(whole UTC hours from the hourly rollup; pieces of cut hours: their whole minutes from the per-minute rollup,
the seconds at their ends from the records) and where each sum goes
(usage[(customer, code, stretch index)] += sign * sum). This module hands a batch's plan to PostgreSQL,
which reads each member customer's rollup hours in one pass (bucketed by the ends of the ranges, as the
single summary does) and each range of minutes or records with one index range scan, and adds the sums up per
customer, code and stretch itself, in exact numeric arithmetic: Python receives one row per line instead of
a row per range and code. Private to `billing.summary`; a single customer, and SQLite, take the generic
path there (same plan, summed in Python).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

import orjson
from django.db import connection

from records.models import DataRecord, UsageMinuteRollup, UsageRollup

if TYPE_CHECKING:
    from billing.summary import _Plan

#: Where a planned range's usage is read from: the records, the hourly rollup, the per-minute rollup.
RECORDS, HOURS, MINUTES = 0, 1, 2


def plan_sums(plan: _Plan) -> list[tuple[UUID, str, int, Decimal, int]]:
    """Return (customer id, code, stretch index, quantity, records) for every target *plan* has usage for."""
    if not plan.ranges:
        return []
    # Per owner, the ends of its rollup ranges cut the hours into buckets: a range [lo, hi) is buckets k1..k2
    # (numbered from 1 as width_bucket numbers them: bucket k is [cuts[k - 1], cuts[k]), 0-based cuts).
    ends: dict[UUID, set] = defaultdict(set)
    for kind, owner, lo, hi in plan.ranges:
        if kind == HOURS:
            ends[owner].update((lo, hi))
    cuts = {owner: sorted(moments) for owner, moments in ends.items()}
    owners = [{"o": owner, "t": moments} for owner, moments in cuts.items()]
    members = [
        {"c": c, "o": owner, "p": sorted(plan.priced[owner])}
        for owner, customers in plan.members.items()
        for c in customers
    ]
    rollup_ranges, minute_ranges, record_ranges = [], [], []
    for (kind, owner, lo, hi), i in plan.ranges.items():
        if kind == HOURS:
            moments = cuts[owner]
            k1, k2 = bisect_left(moments, lo) + 1, bisect_left(moments, hi)
            rollup_ranges.append({"r": i, "o": owner, "a": k1, "b": k2})
        else:
            (minute_ranges if kind == MINUTES else record_ranges).append({"r": i, "o": owner, "lo": lo, "hi": hi})
    targets = [
        {"r": i, "k": code, "x": index, "s": sign}
        for (_, i, code), items in plan.targets.items()
        for index, sign in items
    ]
    qn = connection.ops.quote_name
    rollup, minutes, records = (qn(m._meta.db_table) for m in (UsageRollup, UsageMinuteRollup, DataRecord))
    # The hourly rollup: one index range scan per member over its owner's cut hours, summed per bucket and code
    # in one pass (as the usage summary sums a period), each bucket then added to the ranges holding it. The
    # per-minute rollup and the records: one index range scan per member and range (LATERAL). A target without
    # a code (k NULL) takes the sums of every code the member's lists do not price (m.p).
    sql = f"""
        WITH m AS (SELECT * FROM json_to_recordset(%s::json) AS m(c uuid, o uuid, p text[])),
             w AS (SELECT * FROM json_to_recordset(%s::json) AS w(o uuid, t timestamptz[])),
             g AS (SELECT * FROM json_to_recordset(%s::json) AS g(r int, o uuid, a int, b int)),
             p AS (SELECT * FROM json_to_recordset(%s::json) AS p(r int, o uuid, lo timestamptz, hi timestamptz)),
             mr AS (SELECT * FROM json_to_recordset(%s::json) AS mr(r int, o uuid, lo timestamptz, hi timestamptz)),
             t AS (SELECT * FROM json_to_recordset(%s::json) AS t(r int, k text, x int, s int)),
             buckets AS (
                SELECT m.c, m.o, a.k, a.code, a.q, a.n
                FROM m JOIN w ON w.o = m.o
                CROSS JOIN LATERAL (
                    SELECT width_bucket(h.hour, w.t) AS k, h.code, sum(h.quantity) AS q, sum(h.records) AS n
                    FROM {rollup} h
                    WHERE h.customer_id = m.c AND h.hour >= w.t[1] AND h.hour < w.t[cardinality(w.t)]
                    GROUP BY 1, 2
                ) AS a
             ),
             sums AS (
                SELECT b.c, g.r, b.code, b.q, b.n
                FROM buckets b JOIN g ON g.o = b.o AND b.k BETWEEN g.a AND g.b
                UNION ALL
                SELECT m.c, p.r, a.code, a.q, a.n
                FROM m JOIN p ON p.o = m.o
                CROSS JOIN LATERAL (
                    SELECT d.code, sum(d.quantity) AS q, count(*) AS n FROM {records} d
                    WHERE d.customer_id = m.c AND d.time_from >= p.lo AND d.time_from < p.hi GROUP BY d.code
                ) AS a
                UNION ALL
                SELECT m.c, mr.r, a.code, a.q, a.n
                FROM m JOIN mr ON mr.o = m.o
                CROSS JOIN LATERAL (
                    SELECT u.code, sum(u.quantity) AS q, sum(u.records) AS n FROM {minutes} u
                    WHERE u.customer_id = m.c AND u.minute >= mr.lo AND u.minute < mr.hi GROUP BY u.code
                ) AS a
             )
        SELECT sums.c, sums.code, t.x, sum(t.s * sums.q), sum(t.s * sums.n)
        FROM sums JOIN m ON m.c = sums.c
        JOIN t ON t.r = sums.r AND (t.k = sums.code OR (t.k IS NULL AND sums.code <> ALL(m.p)))
        GROUP BY sums.c, sums.code, t.x
    """
    tables = (members, owners, rollup_ranges, record_ranges, minute_ranges, targets)
    params = [orjson.dumps(rows).decode() for rows in tables]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(c, code, index, q, int(n)) for c, code, index, q, n in cursor.fetchall()]
