"""The one rate resolver: which rate prices a customer's records of a code at each moment.

The walk (the contract's rule): the customer's own lists by priority, then the lists of the groups the
customer was a member of at that moment (`joined_at <= t < left_at`) by priority, then the default lists by
priority; the first list holding a rate of the code valid at t wins. None: the code is unpriced at t.

Billing (`rate_stretches`) and the explain endpoint (`explain`) both run that walk through `_walk` below;
nothing else decides a price. Reads are set-based, per chunk of customers: their memberships overlapping the
range, the candidate lists, the rates of lists not loaded yet — one statement on PostgreSQL, three ORM
queries elsewhere —, whatever the number of customers, codes or boundaries; the walk itself runs in Python on
what was loaded.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Literal
from uuid import UUID

from django.db import connection
from django.db.models import Case, F, Model, OuterRef, Q, Subquery, When
from django.db.models.lookups import In

from groups.models import Membership
from pricing.models import PriceList, Rate

_RATE_PRICE_LIST = Rate._meta.get_field("price_list")


class _AnyOf(In):
    """`column IN (ids)`, sent to PostgreSQL as `column = ANY(%s)` with one array parameter: 10,000 ids as
    10,000 placeholders cost more to build, send and plan than the query itself."""

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=False) for v in self.rhs]
        return f"{lhs} = ANY(%s::{field.db_type(connection)}[])", (*lhs_params, values)


#: Customers read per round of queries (keeps the IN lists and the memory of one round bounded).
CHUNK_SIZE = 10_000


@dataclass(frozen=True)
class Stretch:
    """A stretch of time in which one rate (or none) prices a customer's records of a code."""

    code: str
    start: datetime  # inclusive
    end: datetime  # exclusive
    rate: Rate | None  # None: no list prices the code in this stretch (unpriced)
    price_list: PriceList | None


Outcome = Literal["applied", "shadowed", "no_rate"]


@dataclass(frozen=True)
class Candidate:
    """One list of the walk, and what it had for the code at the moment."""

    price_list: PriceList
    rate: Rate | None
    outcome: Outcome


@dataclass(frozen=True)
class ExplainItem:
    """The rate chosen for a code at a moment (None: unpriced) and every candidate list in the walk's order."""

    code: str
    rate: Rate | None
    price_list: PriceList | None
    candidates: list[Candidate]


def rate_stretches(
    *,
    customer_ids: Collection[UUID],
    start: datetime,
    end: datetime,
    codes: Collection[str] | None = None,
) -> dict[UUID, dict[str, list[Stretch]]]:
    """For each customer and code, the stretches of [start, end) with one rate each: contiguous, maximal
    (neighbours with the same rate merged), covering the whole range. codes=None: every code any candidate
    list of the customer prices in the range; a given code that nothing prices gets one stretch with rate None."""
    if start >= end:
        raise ValueError("start must be before end")
    wanted = None if codes is None else sorted(set(codes))
    catalogue = _Catalogue(start=start, end=end, codes=wanted)
    out: dict[UUID, dict[str, list[Stretch]]] = {}
    ids = list(dict.fromkeys(customer_ids))
    for offset in range(0, len(ids), CHUNK_SIZE):
        chunk = ids[offset : offset + CHUNK_SIZE]
        timelines = catalogue.load(chunk)
        # Customers whose candidate lists change at the same moments get the same stretches: compute them once
        # (most customers of a large segment joined before the range, so their timelines look alike).
        memo: dict[tuple, dict[str, list[Stretch]]] = {}
        for customer_id in chunk:
            timeline = timelines[customer_id]
            key = timeline.signature()
            stretches = memo.get(key)
            if stretches is None:
                stretches = memo[key] = catalogue.stretches(timeline)
            out[customer_id] = {code: list(items) for code, items in stretches.items()}
    return out


def explain(*, customer_id: UUID, at: datetime, code: str | None = None) -> list[ExplainItem]:
    """Explain the choice for *customer_id* at *at*: per code (the given one, else every code a candidate list
    prices at that moment), the rate chosen and each candidate list with its outcome, in the walk's order."""
    try:
        end = at + timedelta(microseconds=1)
    except OverflowError:  # the last microsecond of year 9999: answered as at the one before
        end = at
        at = at - timedelta(microseconds=1)
    catalogue = _Catalogue(start=at, end=end, codes=None if code is None else [code])
    timeline = catalogue.load([customer_id])[customer_id]
    lists = timeline.candidates_at(at, catalogue)
    codes = [code] if code is not None else sorted({c for pl in lists for c in catalogue.codes_of(pl.id)})
    items = []
    for item_code in codes:
        walk = _walk(lists, item_code, at, catalogue)
        winner = next(((pl, rate) for pl, rate in walk if rate is not None), (None, None))
        candidates = [
            Candidate(pl, rate, "no_rate" if rate is None else "applied" if pl is winner[0] else "shadowed")
            for pl, rate in walk
        ]
        items.append(ExplainItem(item_code, winner[1], winner[0], candidates))
    _annotate_valid_to([item.rate for item in items if item.rate is not None])
    return items


def _annotate_valid_to(rates: list[Rate]) -> None:
    """Set `valid_to` on *rates* with one query (the loader only knows the rates that start before its end)."""
    if rates:
        ends = dict(Rate.objects.filter(pk__in=[r.pk for r in rates]).with_valid_to().values_list("pk", "valid_to"))
        for rate in rates:
            rate.valid_to = ends[rate.pk]


# -- the walk ---------------------------------------------------------------------------------------------------


def _walk(
    lists: Iterable[PriceList], code: str, at: datetime, catalogue: _Catalogue
) -> list[tuple[PriceList, Rate | None]]:
    """Return each candidate list, in order, with its rate of *code* valid at *at* (or None)."""
    return [(pl, catalogue.rate_at(pl.id, code, at)) for pl in lists]


def _winner(
    lists: Iterable[PriceList], code: str, at: datetime, catalogue: _Catalogue
) -> tuple[PriceList | None, Rate | None]:
    """Return the first list of the walk holding a rate of *code* valid at *at*, and that rate."""
    for pl in lists:  # the walk of `_walk`, stopping at the first list with a rate
        rate = catalogue.rate_at(pl.id, code, at)
        if rate is not None:
            return pl, rate
    return None, None


def _by_priority(lists: Iterable[PriceList]) -> list[PriceList]:
    return sorted(lists, key=lambda pl: (pl.priority, str(pl.id)))


@dataclass
class _Timeline:
    """What decides one customer's candidate lists over the range: its own lists and its memberships."""

    own_lists: list[PriceList] = field(default_factory=list)
    # (group_id, joined_at, left_at) clipped to the range.
    memberships: list[tuple[UUID, datetime, datetime | None]] = field(default_factory=list)

    def signature(self) -> tuple:
        return (tuple(pl.id for pl in self.own_lists), frozenset(self.memberships))

    def groups_at(self, at: datetime) -> set[UUID]:
        return {g for g, joined, left in self.memberships if joined <= at and (left is None or at < left)}

    def candidates_at(self, at: datetime, catalogue: _Catalogue) -> list[PriceList]:
        """Return the candidate lists at *at* in the walk's order."""
        group_lists = [pl for g in self.groups_at(at) for pl in catalogue.group_lists.get(g, ())]
        return [*self.own_lists, *_by_priority(group_lists), *catalogue.default_lists]


class _Catalogue:
    """Lists and rates loaded for one resolver call, and the customers' timelines over its range."""

    def __init__(self, *, start: datetime, end: datetime, codes: list[str] | None) -> None:
        self.start, self.end, self.codes = start, end, codes
        self.default_lists: list[PriceList] = []
        self.group_lists: dict[UUID, list[PriceList]] = {}
        # list id -> code -> (sorted valid_froms, rates in the same order)
        self.rates: dict[UUID, dict[str, tuple[list[datetime], list[Rate]]]] = {}
        self.boundaries: dict[UUID, list[datetime]] = {}  # list id -> valid_froms inside (start, end)
        self.lists: dict[UUID, PriceList] = {}
        # Moments at which some loaded rate starts (and the range's start): between two of them every loaded
        # list's rates stay the same. Memos of the candidate lists and of the walk's answers (see `stretches`).
        self.epochs: list[datetime] = [start]
        self._candidates: dict[tuple, list[PriceList]] = {}
        self._plans: dict[tuple, tuple[list[str], frozenset[datetime]]] = {}
        self._winners: dict[tuple, tuple[PriceList | None, Rate | None]] = {}

    def load(self, customer_ids: list[UUID]) -> dict[UUID, _Timeline]:
        """Read the memberships and own lists of *customer_ids*, and the lists and rates they may use."""
        timelines = {customer_id: _Timeline() for customer_id in customer_ids}
        read = self._read_in_one_statement if connection.vendor == "postgresql" else self._read
        memberships, lists, rates_of = read(customer_ids)
        for customer_id, group_id, joined_at, left_at in memberships:
            clipped = (group_id, joined_at or self.start, left_at)
            timelines[customer_id].memberships.append(clipped)
        group_lists: dict[UUID, list[PriceList]] = defaultdict(list)
        default_lists = []
        own: dict[UUID, list[PriceList]] = defaultdict(list)
        for pl in lists:
            if pl.customer_id is not None:
                own[pl.customer_id].append(pl)
            elif pl.group_id is not None:
                group_lists[pl.group_id].append(pl)
            else:
                default_lists.append(pl)
        self.lists.update((pl.id, pl) for pl in lists)
        self.default_lists = _by_priority(default_lists)
        self.group_lists.update({g: _by_priority(items) for g, items in group_lists.items()})
        for customer_id, items in own.items():
            timelines[customer_id].own_lists = _by_priority(items)
        list_ids = [
            pl.id
            for pl in (
                *default_lists,
                *(p for v in group_lists.values() for p in v),
                *(p for v in own.values() for p in v),
            )
        ]
        missing = [i for i in list_ids if i not in self.rates]
        if missing:
            self._store_rates(missing, rates_of(missing))
        return timelines

    def _read(self, customer_ids: list[UUID]) -> tuple[Iterable[tuple], list[PriceList], Callable]:
        """The ORM reading of `load` (SQLite): three queries, the rates' once the lists are known.

        Return the memberships (customer, group, joined_at or None if before the range, left_at or None if
        after it), the candidate lists, and a function returning the rates of the lists not loaded yet."""
        # Clipped to the range in the query: most memberships started before it and end after it, and a NULL
        # costs nothing to read where a timestamp costs its parsing.
        memberships = list(
            Membership.objects.filter(_AnyOf(F("customer_id"), customer_ids), joined_at__lt=self.end)
            .filter(Q(left_at__isnull=True) | Q(left_at__gt=self.start))
            .exclude(left_at__lte=F("joined_at"))  # never active
            .order_by()
            .values_list(
                "customer_id",
                "group_id",
                Case(When(joined_at__gt=self.start, then=F("joined_at")), default=None),
                Case(When(left_at__lt=self.end, then=F("left_at")), default=None),
            )
        )
        group_ids = {group_id for _, group_id, _, _ in memberships}
        lists = PriceList.objects.filter(
            Q(_AnyOf(F("customer_id"), customer_ids))
            | Q(_AnyOf(F("group_id"), group_ids))
            | Q(customer_id__isnull=True, group_id__isnull=True)
        ).order_by()
        return memberships, list(lists), self._rates_of

    def _rates_of(self, list_ids: list[UUID]) -> Iterable[Rate]:
        """The rates of *list_ids* that may apply in the range, by (list, code, valid_from)."""
        # The rates starting inside the range, and for each code the one in force at its start; older ones
        # cannot apply (one correlated lookup per (list, code), served by the unique index).
        in_force_at_start = (
            Rate.objects.filter(
                price_list_id=OuterRef("price_list_id"), code=OuterRef("code"), valid_from__lte=self.start
            )
            .order_by("-valid_from")
            .values("valid_from")[:1]
        )
        rates = (
            Rate.objects.filter(price_list_id__in=list_ids, valid_from__lt=self.end)
            .filter(Q(valid_from__gt=self.start) | Q(valid_from=Subquery(in_force_at_start)))
            .order_by("price_list_id", "code", "valid_from")
        )
        if self.codes is not None:
            rates = rates.filter(code__in=self.codes)
        return rates

    def _read_in_one_statement(self, customer_ids: list[UUID]) -> tuple[Iterable[tuple], list[PriceList], Callable]:
        """`_read` on PostgreSQL: the same three reads (same conditions, same rows) as one statement, so one
        round trip and no ORM compilation. Its text does not depend on the number of customers, lists or
        codes (array parameters), so PostgreSQL prepares it once per connection."""
        sql, list_fields, rate_fields = _one_statement(self.codes is not None)
        params = {
            "customers": customer_ids,
            "start": self.start,
            "end": self.end,
            "loaded": list(self.rates),
            "codes": self.codes,
        }
        memberships, lists, rates = [], [], []
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        lists_from, rates_from = 5, 5 + len(list_fields[0])
        for row in rows:
            kind = row[0]
            if kind == 0:
                memberships.append(row[1:5])
            elif kind == 1:
                lists.append(_instance(PriceList, list_fields, row[lists_from:rates_from]))
            else:
                rates.append(_instance(Rate, rate_fields, row[rates_from:]))
        return memberships, lists, lambda _list_ids: rates

    def _store_rates(self, missing: list[UUID], rates: Iterable[Rate]) -> None:
        """Keep the rates of the lists *missing* (read by list, code and valid_from)."""
        for list_id in missing:
            self.rates[list_id] = {}
            self.boundaries[list_id] = []
        for rate in rates:
            _RATE_PRICE_LIST.set_cached_value(rate, self.lists[rate.price_list_id])  # no query for rate.price_list
            froms, items = self.rates[rate.price_list_id].setdefault(rate.code, ([], []))
            froms.append(rate.valid_from)
            items.append(rate)
            if self.start < rate.valid_from:
                self.boundaries[rate.price_list_id].append(rate.valid_from)
        self.epochs = sorted({*self.epochs, *(m for i in missing for m in self.boundaries[i])})
        # valid_to of each loaded rate whose next one was loaded too.
        for list_id in missing:
            for froms, items in self.rates[list_id].values():
                for rate, following in zip(items, froms[1:], strict=False):
                    rate.valid_to = following

    def codes_of(self, list_id: UUID) -> Collection[str]:
        """Return the codes the list has a rate of before the end of the range."""
        return self.rates.get(list_id, {}).keys()

    def rate_at(self, list_id: UUID, code: str, at: datetime) -> Rate | None:
        """Return the list's rate of *code* valid at *at*: the one with the latest valid_from <= at."""
        found = self.rates.get(list_id, {}).get(code)
        if found is None:
            return None
        froms, items = found
        index = bisect_right(froms, at) - 1
        return items[index] if index >= 0 else None

    def _plan(self, own_lists: list[PriceList], member_of: frozenset) -> tuple[list[str], frozenset[datetime]]:
        """Return the codes to resolve for a customer with these own lists and groups, and the moments inside
        the range at which a rate of one of those lists starts."""
        all_lists = {pl.id for pl in own_lists}
        for group_id in member_of:
            all_lists.update(pl.id for pl in self.group_lists.get(group_id, ()))
        all_lists.update(pl.id for pl in self.default_lists)
        codes = self.codes if self.codes is not None else sorted({c for i in all_lists for c in self.codes_of(i)})
        return codes, frozenset(m for i in all_lists for m in self.boundaries.get(i, ()))

    def stretches(self, timeline: _Timeline) -> dict[str, list[Stretch]]:
        """Return the stretches of every code for one customer's timeline.

        The range is cut where the customer's candidate lists change (a membership starts or ends) and where a
        rate of one of them starts; each piece is walked once per code. The walk's answer depends only on the
        candidate lists and on which rates are in force, so it is remembered per (candidate lists, code, rate
        epoch) and shared by every customer with the same candidates: a large book costs a few walks, not one
        per customer.
        """
        own = tuple(pl.id for pl in timeline.own_lists)
        member_of = frozenset(group for group, _joined, _left in timeline.memberships)
        plan = self._plans.get((own, member_of))
        if plan is None:
            plan = self._plans[(own, member_of)] = self._plan(timeline.own_lists, member_of)
        codes, boundaries = plan
        if not codes:
            return {}
        cuts = {self.start, self.end, *boundaries}
        for _group, joined, left in timeline.memberships:
            cuts.add(joined)
            if left is not None:
                cuts.add(left)
        moments = sorted(cuts)
        out: dict[str, list[Stretch]] = {code: [] for code in codes}
        for begin, finish in pairwise(moments):
            groups = frozenset(timeline.groups_at(begin))
            lists = self._candidates.get((own, groups))
            if lists is None:
                lists = self._candidates[(own, groups)] = timeline.candidates_at(begin, self)
            epoch = self.epochs[bisect_right(self.epochs, begin) - 1]
            for code in codes:
                key = (own, groups, code, epoch)
                found = self._winners.get(key)
                if found is None:
                    found = self._winners[key] = _winner(lists, code, begin, self)
                price_list, rate = found
                stretches = out[code]
                if stretches and stretches[-1].rate is rate:
                    previous = stretches[-1]
                    stretches[-1] = Stretch(code, previous.start, finish, rate, previous.price_list)
                else:
                    stretches.append(Stretch(code, begin, finish, rate, price_list))
        return out


# -- PostgreSQL: the catalogue in one statement -----------------------------------------------------------------


@lru_cache(maxsize=2)
def _one_statement(with_codes: bool) -> tuple[str, tuple, tuple]:
    """Return the statement of `_Catalogue._read_in_one_statement` and the fields of its list and rate columns.

    The conditions are `_Catalogue._read`'s and `_rates_of`'s, written out: memberships of the customers
    overlapping the range (and active at all), clipped to it; the customers' own lists, their groups' lists
    and the default lists; the rates of those lists not loaded yet that start before the end, either inside
    the range or as the one in force at its start, of the wanted codes. One row per membership (kind 0),
    list (1) and rate (2), the rates by (list, code, valid_from).
    """
    quote = connection.ops.quote_name
    membership, price_list, rate = (quote(m._meta.db_table) for m in (Membership, PriceList, Rate))
    list_fields, rate_fields = list(PriceList._meta.concrete_fields), list(Rate._meta.concrete_fields)

    def columns(fields, alias):
        return [f"{alias}.{quote(f.column)}" for f in fields]

    def nulls(fields):
        return [f"NULL::{f.db_type(connection)}" for f in fields]

    column = {name: quote(Rate._meta.get_field(name).column) for name in ("price_list", "code", "valid_from")}
    member = {name: quote(Membership._meta.get_field(name).column) for name in ("customer", "group")}
    owner = {name: quote(PriceList._meta.get_field(name).column) for name in ("customer", "group")}
    joined, left = (quote(Membership._meta.get_field(name).column) for name in ("joined_at", "left_at"))
    list_id = quote(PriceList._meta.pk.column)
    codes = f" AND r.{column['code']} = ANY(%(codes)s::text[])" if with_codes else ""
    membership_columns = ["m.customer_id", "m.group_id", "m.joined_at", "m.left_at"]
    membership_nulls = ["NULL::uuid"] * 2 + ["NULL::timestamptz"] * 2
    position = 1 + len(membership_columns) + len(list_fields)  # 0-based offset of the rate columns
    order = ", ".join(str(position + 1 + rate_fields.index(Rate._meta.get_field(n))) for n in column)
    sql = f"""
WITH m AS (
    SELECT {member["customer"]} AS customer_id, {member["group"]} AS group_id,
        CASE WHEN {joined} > %(start)s::timestamptz THEN {joined} END AS joined_at,
        CASE WHEN {left} < %(end)s::timestamptz THEN {left} END AS left_at
    FROM {membership}
    WHERE {member["customer"]} = ANY(%(customers)s::uuid[]) AND {joined} < %(end)s::timestamptz
        AND ({left} IS NULL OR {left} > %(start)s::timestamptz) AND ({left} IS NULL OR {left} > {joined})
), l AS (
    SELECT * FROM {price_list}
    WHERE {owner["customer"]} = ANY(%(customers)s::uuid[]) OR {owner["group"]} IN (SELECT group_id FROM m)
        OR ({owner["customer"]} IS NULL AND {owner["group"]} IS NULL)
), r AS (
    SELECT r.* FROM {rate} r
    WHERE r.{column["price_list"]} IN (SELECT {list_id} FROM l)
        AND NOT (r.{column["price_list"]} = ANY(%(loaded)s::uuid[])) AND r.{column["valid_from"]} < %(end)s::timestamptz
        AND (r.{column["valid_from"]} > %(start)s::timestamptz OR r.{column["valid_from"]} = (
            SELECT p.{column["valid_from"]} FROM {rate} p
            WHERE p.{column["price_list"]} = r.{column["price_list"]} AND p.{column["code"]} = r.{column["code"]}
                AND p.{column["valid_from"]} <= %(start)s::timestamptz
            ORDER BY p.{column["valid_from"]} DESC LIMIT 1
        )){codes}
)
SELECT 0, {", ".join([*membership_columns, *nulls(list_fields), *nulls(rate_fields)])} FROM m
UNION ALL SELECT 1, {", ".join([*membership_nulls, *columns(list_fields, "l"), *nulls(rate_fields)])} FROM l
UNION ALL SELECT 2, {", ".join([*membership_nulls, *nulls(list_fields), *columns(rate_fields, "r")])} FROM r
ORDER BY 1, {order}"""
    return sql, _converters(list_fields), _converters(rate_fields)


def _converters(fields: list) -> tuple[list[str], list[tuple]]:
    """Return the attribute names of *fields* and, per field, its column and the converters the ORM applies to
    it when it reads a row (e.g. JSON decoding)."""
    columns = []
    for model_field in fields:
        col = model_field.get_col(model_field.model._meta.db_table)
        columns.append((col, [*connection.ops.get_db_converters(col), *model_field.get_db_converters(connection)]))
    return [model_field.attname for model_field in fields], columns


def _instance(model: type[Model], fields: tuple[list[str], list[tuple]], values: tuple) -> Model:
    """Return the *model* instance of a row, built as the ORM builds it (converters, then `from_db`)."""
    names, columns = fields
    converted = []
    for (col, converters), value in zip(columns, values, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, names, converted)
