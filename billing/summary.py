"""The billing summary: a customer's records of a period rated by the rate in force at each record's time.

`billing_summary` is the one computation behind the preview endpoint and issued bills (issuing freezes its
output). Per code the period is cut into the resolver's rate stretches; each stretch with records is one
line priced on its own quantity and rounded once. Whole UTC hours come from the hourly usage rollup; only
the partial hours (at the period's edges, and hours a stretch boundary cuts) are read from the per-minute rollup
(their whole minutes) and from raw records (at most a minute at either end of a piece), so a summary costs a
constant number of queries whatever the number of records or hours.

Late usage: every record carries the customer's billing epoch at submission (how many bills the customer
had then). A record of epoch k whose time lies in the period of one of the customer's bills was submitted
after that bill was issued; bill k+1 (the customer's next) carries it in a line marked late, priced as at
its own time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from functools import lru_cache
from uuid import UUID

import orjson
from django.db import connection

from billing.models import Bill
from billing.money import format_price, money_text, round_amount
from billing.usage_sql import HOURS, MINUTES, RECORDS, plan_sums
from customers.models import CUSTOMER_FIELDS, Customer
from pricing.amounts import price
from pricing.resolver import Stretch, rate_stretches
from records.models import DataRecord, UsageMinuteRollup, UsageRollup
from records.querysets import hour_ceil, hour_floor
from records.usage import usage_ranges

_MICRO = Decimal("0.000001")
_HOUR = timedelta(hours=1)
_PREC = 60  # sums of millions of 24-digit quantities exceed the default 28 significant digits

#: The customer fields a summary and a bill show (the bill keeps them as a snapshot).
CUSTOMER_SNAPSHOT_FIELDS = ("id", *CUSTOMER_FIELDS)


@dataclass(frozen=True)
class TierAmount:
    """The part of a line's quantity that one tier priced."""

    up_to: str | None
    quantity: Decimal
    unit_price: str
    flat_price: str
    amount: str


@dataclass(frozen=True)
class Line:
    """One stretch of one code with one rate: its usage and its amount, rounded once."""

    code: str
    start: datetime
    end: datetime
    quantity: Decimal
    records: int
    currency: str
    amount: Decimal
    rate: dict
    rate_id: UUID
    tiers: list[TierAmount]
    late: bool = False


@dataclass(frozen=True)
class Unpriced:
    """Usage of a code that no rate priced."""

    code: str
    quantity: Decimal
    records: int


@dataclass(frozen=True)
class Total:
    """The sum of the rounded lines of one currency."""

    currency: str
    amount: Decimal


@dataclass(frozen=True)
class Summary:
    """A customer's rated usage of [start, end), plus the late usage its next bill carries."""

    customer: dict
    start: datetime
    end: datetime
    epoch: int
    lines: list[Line] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    totals: list[Total] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """Return whether the summary has no usage at all."""
        return not self.lines and not self.unpriced


def customer_snapshot(customer: Customer) -> dict:
    """Return the customer's billing details as the summary and the bill show them (JSON-ready)."""
    out = {}
    for name in CUSTOMER_SNAPSHOT_FIELDS:
        value = getattr(customer, name)
        if name == "id":
            value = str(value)
        elif name == "address_country":
            value = (value.code if hasattr(value, "code") else str(value)) or None if value else None
        out[name] = value
    return out


def billing_summary(*, customer: Customer, start: datetime, end: datetime) -> Summary:
    """Return the billing summary of *customer* for the records whose time_from lies in [*start*, *end*)."""
    return billing_summaries(customers=[customer], start=start, end=end)[customer.pk]


def billing_summaries(*, customers: Sequence[Customer], start: datetime, end: datetime) -> dict[UUID, Summary]:
    """Return the billing summaries of several customers for one period: the same queries as for one."""
    by_id = {c.pk: c for c in customers}
    if not by_id:
        return {}
    usage: dict[tuple[UUID, str, int], list] = defaultdict(lambda: [Decimal(0), 0])  # (customer, code, i) -> q, n
    stretches = _period_usage(list(by_id), start, end, usage)
    late_usage: dict[tuple[UUID, str, int], list] = defaultdict(lambda: [Decimal(0), 0])
    late_stretches = _late_usage(by_id, start, end, late_usage)
    snapshots: dict[UUID, _RateView] = {}  # rate id -> its terms and the lines' "rate" block (shared)
    return {
        pk: _assemble(
            customer, start, end, stretches.get(pk, {}), usage, late_stretches.get(pk, {}), late_usage, snapshots
        )
        for pk, customer in by_id.items()
    }


# -- the period's usage per stretch ------------------------------------------------------------------


def _period_usage(
    customer_ids: list[UUID], start: datetime, end: datetime, usage: dict
) -> dict[UUID, dict[str, list[Stretch]]]:
    """Add the usage of [start, end) per (customer, code, stretch index) to *usage*; return the stretches.

    Each stretch (clipped to the period) is its whole UTC hours, summed from the hourly rollup, plus the
    partial hours at its ends (at the period's edges, or where a boundary falls inside an hour). In an hour
    that is cut, only the smaller pieces are read (their whole minutes from the per-minute rollup, the
    seconds at their ends from the records); the largest piece is the hour's rollup minus them (exact
    decimals; one statement, so one snapshot). One query, whatever the number of customers, codes,
    stretches and hours; each range is read once for all codes.
    """
    # Every code a list of the customer prices in the period; a code none prices (found in the sums) gets one
    # unpriced stretch over the period, planned once for all such codes (code None in the plan).
    stretches = rate_stretches(customer_ids=customer_ids, start=start, end=end)
    anything_else = [Stretch(code="", start=start, end=end, rate=None, price_list=None)]
    plan = _Plan()
    # The plan depends only on the stretches' boundaries: customers with the same ones (most of a bill run's
    # batch) share the plan of the first of them, which stands for them all.
    owners: dict[tuple, UUID] = {}
    for customer_id in customer_ids:
        priced = stretches[customer_id]
        shape = tuple((code, *((s.start, s.end) for s in priced[code])) for code in sorted(priced))
        owner = owners.setdefault(shape, customer_id)
        plan.members[owner].append(customer_id)
        if owner != customer_id:
            continue
        plan.priced[owner] = frozenset(priced)
        for code, spans in [*priced.items(), (None, anything_else)]:
            pieces: dict[datetime, list[tuple[datetime, datetime, int]]] = defaultdict(list)  # hour -> pieces
            for index, span in enumerate(spans):
                lo, hi = max(span.start, start), min(span.end, end)
                first, last = hour_ceil(lo), hour_floor(hi)
                if first < last:
                    plan.add(HOURS, customer_id, first, last, code, index, 1)
                # Each part lies inside one hour (lo and hi may be in neighbouring hours with no whole one between).
                parts = [(lo, first), (last, hi)] if first <= last else [(lo, hi)]
                for a, b in parts:
                    if a < b:
                        pieces[hour_floor(a)].append((a, b, index))
            for hour, parts in pieces.items():
                # The hour's regions: the pieces, and what lies outside the period (not counted).
                regions = [*parts]
                if hour < start:
                    regions.append((hour, start, None))
                if end < hour + _HOUR:
                    regions.append((end, hour + _HOUR, None))
                largest = max(regions, key=lambda r: r[1] - r[0])
                derived = largest[2] is not None and len(regions) > 1
                if derived:
                    plan.add(HOURS, customer_id, hour, hour + _HOUR, code, largest[2], 1)
                for a, b, index in regions:
                    if derived and (a, b, index) == largest:
                        continue
                    if index is not None:
                        plan.add_piece(customer_id, a, b, code, index, 1)
                    if derived:
                        plan.add_piece(customer_id, a, b, code, largest[2], -1)
    plan.apply(usage)
    for customer_id, code, _ in list(usage):
        if code not in stretches[customer_id]:
            stretches[customer_id][code] = [replace(anything_else[0], code=code)]
    return stretches


class _Plan:
    """Ranges to sum (hours of the hourly rollup, minutes of the per-minute rollup, or raw records) and, per
    code, where each sum goes: usage[(customer, code, stretch index)] += sign * sum. A range is read once for
    every code and target. The ranges are planned for an owner customer and read for each of its members (the
    customers with the same stretches). The targets of code None take the sums of every code the owner's
    lists do not price (`priced`)."""

    def __init__(self) -> None:
        self.ranges: dict[tuple, int] = {}  # (kind, owner, from, to) -> segment index
        self.targets: dict[tuple, list[tuple[int, int]]] = defaultdict(list)  # (kind, i, code) -> [(index, sign)]
        self.members: dict[UUID, list[UUID]] = defaultdict(list)  # owner -> the customers it plans for
        self.priced: dict[UUID, frozenset[str]] = {}  # owner -> the codes its lists price

    def add(self, kind: int, customer_id: UUID, lo: datetime, hi: datetime, code: str | None, index: int, sign: int):
        i = self.ranges.setdefault((kind, customer_id, lo, hi), len(self.ranges))
        self.targets[(kind, i, code)].append((index, sign))

    def add_piece(self, customer_id: UUID, lo: datetime, hi: datetime, code: str | None, index: int, sign: int):
        """Add [lo, hi), a piece of one hour: its whole minutes from the per-minute rollup, the rest (less
        than a minute at either end) from the records."""
        _, minutes, rest = usage_ranges(lo, hi)  # no whole hour: the piece lies inside one
        for kind, ranges in ((MINUTES, minutes), (RECORDS, rest)):
            for a, b in ranges:
                self.add(kind, customer_id, a, b, code, index, sign)

    def apply(self, usage: dict) -> None:
        if connection.vendor == "postgresql" and sum(map(len, self.members.values())) > 1:
            # A batch (a bill run's): PostgreSQL adds the sums up per (customer, code, stretch index) itself, in
            # one statement. One customer (a preview, a bill) takes the path below, the statement of its shape.
            with localcontext(prec=_PREC):
                for customer_id, code, index, quantity, count in plan_sums(self):
                    total = usage[(customer_id, code, index)]
                    total[0] += quantity
                    total[1] += count
            return
        segments = {RECORDS: [], HOURS: [], MINUTES: []}
        positions = {}
        for key, i in self.ranges.items():
            kind, owner, lo, hi = key
            for customer_id in self.members[owner]:
                positions[(kind, len(segments[kind]))] = (i, owner, customer_id)
                segments[kind].append((customer_id, None, lo, hi, None))
        rows = _segment_sums(segments[RECORDS], hour_segments=segments[HOURS], minute_segments=segments[MINUTES])
        with localcontext(prec=_PREC):
            for kind, j, code, quantity, count in rows:
                i, owner, customer_id = positions[(kind, j)]
                planned = code if code in self.priced[owner] else None
                for index, sign in self.targets.get((kind, i, planned), ()):
                    total = usage[(customer_id, code, index)]
                    total[0] += sign * quantity
                    total[1] += sign * count


def _split(spans: list[Stretch], lo: datetime, hi: datetime) -> Iterable[tuple[int, datetime, datetime]]:
    """Yield (stretch index, from, to) for the parts of [lo, hi) in each stretch."""
    for index, span in enumerate(spans):
        a, b = max(lo, span.start), min(hi, span.end)
        if a < b:
            yield index, a, b


def _add_segment_usage(segments: list[tuple], usage: dict) -> None:
    """Add the raw records of each (customer, code, key, from, to, epoch) segment to usage[(customer, code, key)]."""
    rows = _segment_sums([(c, code, lo, hi, epoch) for c, code, _, lo, hi, epoch in segments])
    with localcontext(prec=_PREC):
        for _, i, _, quantity, count in rows:
            customer_id, code, key, *_ = segments[i]
            total = usage[(customer_id, code, key)]
            total[0] += quantity
            total[1] += count


def _segment_sums(
    segments: list[tuple], *, hour_segments: list[tuple] = (), minute_segments: list[tuple] = ()
) -> list[tuple[int, int, str, Decimal, int]]:
    """Return (kind, segment index, code, quantity, records) per segment and code: one statement.

    A segment is (customer_id, code, from, to, epoch): the customer's records with time_from in [from, to),
    of that code (None: per code, every code) and of that billing epoch (None: any epoch). All segments of
    one call have an epoch, or none has (so the planner can use the (customer, epoch, time) index); their
    kind is RECORDS. *hour_segments* (kind HOURS) and *minute_segments* (kind MINUTES), each
    (customer_id, None, from, to, None), are whole UTC hours summed from the hourly rollup and whole UTC
    minutes summed from the per-minute rollup.
    """
    kinds = [(RECORDS, segments), (HOURS, list(hour_segments)), (MINUTES, list(minute_segments))]
    kinds = [(kind, items) for kind, items in kinds if items]
    if not kinds:
        return []
    postgres = connection.vendor == "postgresql"
    selects, params = [], []
    buckets = None
    for kind, items in kinds:
        model, moment, count = {
            RECORDS: (DataRecord, "time_from", "count(*)"),
            HOURS: (UsageRollup, "hour", "sum(r.records)"),
            MINUTES: (UsageMinuteRollup, "minute", "sum(r.records)"),
        }[kind]
        table = connection.ops.quote_name(model._meta.db_table)
        condition = f"r.customer_id = s.c AND r.{moment} >= s.lo AND r.{moment} < s.hi"
        if items[0][1] is not None:
            condition += " AND r.code = s.k"
        if items[0][4] is not None:
            condition += " AND r.billing_epoch = s.e"
        if postgres and kind == HOURS:
            buckets = _HourBuckets(items)
            sql, bucket_params = buckets.select(table)
            selects.append(sql)
            params += bucket_params
        elif postgres:
            # LATERAL: one index range scan per segment (a plain join let the planner, which guesses the JSON's
            # row count, hash-join a sequential scan of every record).
            selects.append(
                f"SELECT {kind}, s.i, a.code, a.q, a.n "
                "FROM json_to_recordset(%s::json) AS s(i int, c uuid, k text, lo timestamptz, hi timestamptz, e int) "
                f"CROSS JOIN LATERAL (SELECT r.code, sum(r.quantity) AS q, {count} AS n FROM {table} r "
                f"WHERE {condition} GROUP BY r.code) AS a"
            )
            params.append(
                orjson.dumps(
                    [{"i": i, "c": c, "k": k, "lo": lo, "hi": hi, "e": e} for i, (c, k, lo, hi, e) in enumerate(items)]
                ).decode()
            )
        else:
            if len(items) > 5000:  # SQLite allows 32,766 parameters per statement
                raise ValueError("too many ranges for one SQLite statement")
            uuid_field, time_field = DataRecord._meta.get_field("customer_id"), DataRecord._meta.get_field("time_from")
            values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(items))
            selects.append(
                f"SELECT {kind}, s.i, r.code, sum(r.quantity), {count} "
                f"FROM (SELECT * FROM (WITH s(i, c, k, lo, hi, e) AS (VALUES {values}) SELECT * FROM s)) AS s "
                f"JOIN {table} r ON {condition} GROUP BY s.i, r.code"
            )
            for i, (c, k, lo, hi, e) in enumerate(items):
                params += [
                    i,
                    uuid_field.get_db_prep_value(c, connection),
                    k,
                    time_field.get_db_prep_value(lo, connection),
                    time_field.get_db_prep_value(hi, connection),
                    e,
                ]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        rows = [(int(kind), i, code, _decimal(q), int(n)) for kind, i, code, q, n in cursor.fetchall()]
    if buckets is None:
        return rows
    return [row for row in rows if row[0] != HOURS] + buckets.segment_sums([row for row in rows if row[0] == HOURS])


class _HourBuckets:
    """The rollup segments of `_segment_sums` on PostgreSQL, read with one index range scan per customer.

    Per customer, the ends of its segments cut its hours into consecutive buckets; the statement sums each
    bucket per code in one pass (`width_bucket`), as the usage summary sums a period in one pass, instead of
    one scan, sort and aggregate per segment. Each segment's sum is then the exact sum of its buckets.
    """

    def __init__(self, segments: list[tuple]) -> None:
        self.segments = segments
        cuts: dict[UUID, set[datetime]] = defaultdict(set)
        for customer_id, _, lo, hi, _ in segments:
            cuts[customer_id].update((lo, hi))
        self.cuts = {customer_id: sorted(moments) for customer_id, moments in cuts.items()}
        # Bucket k (1-based, as width_bucket numbers them) of a customer is [cuts[k - 1], cuts[k]); its global
        # number is the customer's base + k.
        self.base: dict[UUID, int] = {}
        base = 0
        for customer_id, moments in self.cuts.items():
            self.base[customer_id] = base
            base += len(moments)

    def select(self, table: str) -> tuple[str, list]:
        """Return the SELECT of (HOURS, global bucket, code, quantity, records) and its parameters."""
        if len(self.cuts) == 1:
            # One customer (a summary): the shape of the usage summary's statement, whose plan it then gets.
            ((customer_id, moments),) = self.cuts.items()
            return (
                f"SELECT {HOURS}, width_bucket(r.hour, %s::timestamptz[]), r.code, sum(r.quantity), sum(r.records) "
                f"FROM {table} r WHERE r.customer_id = %s AND r.hour >= %s AND r.hour < %s GROUP BY 2, 3"
            ), [moments, customer_id, moments[0], moments[-1]]
        param = orjson.dumps([{"c": c, "b": self.base[c], "t": moments} for c, moments in self.cuts.items()])
        return (
            f"SELECT {HOURS}, s.b + a.k, a.code, a.q, a.n "
            "FROM json_to_recordset(%s::json) AS s(c uuid, b int, t timestamptz[]) "
            "CROSS JOIN LATERAL (SELECT width_bucket(r.hour, s.t) AS k, r.code, sum(r.quantity) AS q, "
            f"sum(r.records) AS n FROM {table} r WHERE r.customer_id = s.c AND r.hour >= s.t[1] "
            "AND r.hour < s.t[cardinality(s.t)] GROUP BY 1, 2) AS a"
        ), [param.decode()]

    def segment_sums(self, rows: list[tuple]) -> list[tuple[int, int, str, Decimal, int]]:
        """Return (HOURS, segment index, code, quantity, records) per segment and code from the buckets' rows."""
        found: dict[int, list[tuple[str, Decimal, int]]] = defaultdict(list)
        for _, k, code, quantity, count in rows:
            found[k].append((code, quantity, count))
        out = []
        with localcontext(prec=_PREC):
            for i, (customer_id, _, lo, hi, _) in enumerate(self.segments):
                moments, base = self.cuts[customer_id], self.base[customer_id]
                sums: dict[str, list] = {}
                for k in range(bisect_left(moments, lo) + 1, bisect_left(moments, hi) + 1):
                    for code, quantity, count in found.get(base + k, ()):
                        total = sums.setdefault(code, [Decimal(0), 0])
                        total[0] += quantity
                        total[1] += count
                out.extend((HOURS, i, code, quantity, count) for code, (quantity, count) in sums.items())
        return out


def _decimal(value) -> Decimal:
    """Return a SUM() result as an exact Decimal (SQLite may return the sum of a decimal column as text)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(value) if isinstance(value, int) else Decimal(str(value))


# -- late usage ---------------------------------------------------------------------------------------


def _late_usage(customers: dict[UUID, Customer], start: datetime, end: datetime, usage: dict) -> dict[UUID, dict]:
    """Add each customer's late usage per (customer, code, stretch index) to *usage*; return the stretches,
    each cut to the billed period it lies in.

    Late: records of the customer's current billing epoch whose time_from lies in the period of one of its
    bills (all issued before those records were submitted), outside [start, end).
    """
    billed = [pk for pk, c in customers.items() if c.billing_epoch > 0]
    if not billed:
        return {}
    periods: dict[UUID, list[tuple[datetime, datetime]]] = defaultdict(list)
    rows = Bill.objects.filter(customer_id__in=billed).order_by("period_from")
    for customer_id, lo, hi in rows.values_list("customer_id", "period_from", "period_to"):
        periods[customer_id].extend(_minus(lo, hi, start, end))
    # Which codes have records of the current epoch in a billed period (usually none: an index probe each).
    probes = [
        (customer_id, None, lo, hi, customers[customer_id].billing_epoch)
        for customer_id, spans in periods.items()
        for lo, hi in spans
    ]
    found = {(probes[i][0], code) for _, i, code, _, _ in _segment_sums(probes)}
    if not found:
        return {}
    customer_ids = sorted({customer_id for customer_id, _ in found}, key=str)
    codes = sorted({code for _, code in found})
    lo = min(a for c in customer_ids for a, _ in periods[c])
    hi = max(b for c in customer_ids for _, b in periods[c])
    stretches = rate_stretches(customer_ids=customer_ids, start=lo, end=hi, codes=codes)
    cut: dict[UUID, dict[str, list[Stretch]]] = defaultdict(lambda: defaultdict(list))
    segments = []
    for customer_id, code in sorted(found, key=lambda item: (str(item[0]), item[1])):
        for span_lo, span_hi in periods[customer_id]:
            for index, a, b in _split(stretches[customer_id][code], span_lo, span_hi):
                pieces = cut[customer_id][code]
                pieces.append(replace(stretches[customer_id][code][index], start=a, end=b))
                epoch = customers[customer_id].billing_epoch
                segments.append((customer_id, code, len(pieces) - 1, a, b, epoch))
    _add_segment_usage(segments, usage)
    return cut


def _minus(lo: datetime, hi: datetime, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Return [lo, hi) without [start, end)."""
    parts = []
    if lo < min(hi, start):
        parts.append((lo, min(hi, start)))
    if max(lo, end) < hi:
        parts.append((max(lo, end), hi))
    return parts


# -- lines, unpriced, totals --------------------------------------------------------------------------


def _assemble(
    customer: Customer,
    start: datetime,
    end: datetime,
    stretches: dict[str, list[Stretch]],
    usage: dict,
    late_stretches: dict[str, list[Stretch]],
    late_usage: dict,
    snapshots: dict,
) -> Summary:
    lines: list[Line] = []
    unpriced: dict[str, list] = defaultdict(lambda: [Decimal(0), 0])
    with localcontext(prec=_PREC):
        for late, spans_of, totals in ((False, stretches, usage), (True, late_stretches, late_usage)):
            for code, spans in spans_of.items():
                for index, span in enumerate(spans):
                    quantity, records = totals.get((customer.pk, code, index), (Decimal(0), 0))
                    if not records:
                        continue
                    quantity = Decimal(quantity).quantize(_MICRO)
                    if span.rate is None:
                        entry = unpriced[code]
                        entry[0] += quantity
                        entry[1] += records
                        continue
                    lines.append(_line(code, span, quantity, records, late, snapshots))
    lines.sort(key=lambda line: (line.code, line.start, line.late))
    totals_by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        totals_by_currency[line.currency] += line.amount
    return Summary(
        customer=customer_snapshot(customer),
        start=start,
        end=end,
        epoch=customer.billing_epoch,
        lines=lines,
        unpriced=[Unpriced(code, q.quantize(_MICRO), n) for code, (q, n) in sorted(unpriced.items())],
        totals=[Total(currency, amount) for currency, amount in sorted(totals_by_currency.items())],
    )


def _line(code: str, span: Stretch, quantity: Decimal, records: int, late: bool, snapshots: dict) -> Line:
    rate, price_list = span.rate, span.price_list
    currency = price_list.currency
    cached = snapshots.get(rate.pk)
    if cached is None:
        cached = snapshots[rate.pk] = _RateView(rate, rate_snapshot(span))
    priced = price(cached, quantity)
    tiers = [
        TierAmount(
            up_to=up_to,
            quantity=tier.quantity.quantize(_MICRO),
            unit_price=unit_price,
            flat_price=flat_price,
            amount=money_text(tier.amount, currency),
        )
        for tier in priced.tiers
        for up_to, unit_price, flat_price in (cached.texts[tier.up_to, tier.unit_price, tier.flat_price],)
    ]
    return Line(
        code=code,
        start=span.start,
        end=span.end,
        quantity=quantity,
        records=records,
        currency=currency,
        amount=round_amount(priced.amount, currency),
        rate=cached.snapshot,
        rate_id=rate.pk,
        tiers=tiers,
        late=late,
    )


class _RateView:
    """A rate's terms as `price` reads them, read once for every line the rate prices (its tier table parsed
    once, its tiers' prices formatted once), and the lines' "rate" block."""

    __slots__ = ("model", "package_price", "package_size", "snapshot", "texts", "tiers", "unit_price")

    def __init__(self, rate, snapshot: dict) -> None:
        self.model = rate.model
        self.unit_price, self.package_size, self.package_price = rate.unit_price, rate.package_size, rate.package_price
        self.tiers = rate.tier_table()
        #: (up_to, unit_price, flat_price) -> their texts on a line's tiers
        self.texts = {
            (t.up_to, t.unit_price, t.flat_price): (
                None if t.up_to is None else _price_text(str(t.up_to)),
                _price_text(str(t.unit_price)),
                _price_text(str(t.flat_price)),
            )
            for t in self.tiers
        }
        self.snapshot = snapshot

    def tier_table(self) -> list:
        return self.tiers


@lru_cache(maxsize=4096)
def _price_text(value: str) -> str:
    """Return `format_price(value)`, remembered: a bill run formats the same few tier prices for every line."""
    return format_price(value)


def rate_snapshot(span: Stretch) -> dict:
    """Return the line's "rate" block: which rate of which price list priced it."""
    rate, price_list = span.rate, span.price_list
    return {
        "id": str(rate.pk),
        "model": rate.model,
        "price_list_id": str(price_list.pk),
        "price_list_name": price_list.name,
        "scope": price_list.scope,
        "group_id": str(price_list.group_id) if price_list.group_id else None,
    }
