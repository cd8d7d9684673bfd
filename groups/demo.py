"""Realistic demo data (customers, groups, memberships) for demos and benchmarks.

Rows are generated from small pools built once with Faker (names, streets, cities, postcodes per country), so a
million customers cost seconds of Python. On PostgreSQL they are written with COPY in chunks, on other
databases with bulk_create; a large load into small tables rebuilds the indexes once afterwards (see
`billingengine.bulk.deferred_indexes`). Seeding writes no history rows (it is demo data, not anyone's change).
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from billingengine.bulk import deferred_indexes, should_defer_indexes
from billingengine.validators import no_control_characters, normalize_text
from customers.models import Customer
from customers.services import CUSTOMER_FIELDS
from groups.models import Group
from groups.services import group_create, memberships_load

#: Country code -> (Faker locale, weight): more customers from bigger markets.
COUNTRIES: dict[str, tuple[str, int]] = {
    "GB": ("en_GB", 14),
    "DE": ("de_DE", 14),
    "US": ("en_US", 12),
    "FR": ("fr_FR", 9),
    "NL": ("nl_NL", 6),
    "IT": ("it_IT", 6),
    "ES": ("es_ES", 6),
    "CZ": ("cs_CZ", 6),
    "PL": ("pl_PL", 5),
    "AT": ("de_AT", 4),
    "SE": ("sv_SE", 4),
    "DK": ("da_DK", 3),
    "IE": ("en_IE", 3),
    "CH": ("de_CH", 3),
    "PT": ("pt_PT", 3),
    "FI": ("fi_FI", 2),
}
SEGMENTS = (
    "VIP",
    "Enterprise",
    "SMB",
    "Startup",
    "Partner",
    "Reseller",
    "Wholesale",
    "Public sector",
    "Education",
    "Non-profit",
    "Promo",
    "Trial",
    "Legacy plan",
    "Annual contract",
    "Pay as you go",
    "High volume",
)
POOL_SIZE = 400
DEMO_PREFIX = "DEMO-"
_EXTERNAL_ID_DIGITS = 9


def _clean(value: str, max_length: int) -> str | None:
    """Return *value* trimmed and valid for a customer field (or None): demo data obeys every model rule."""
    value = normalize_text(value)
    if value is None or len(value) > max_length or any(c in value for c in "\t\\"):
        return None
    try:
        no_control_characters(value)
    except Exception:
        return None
    return value


@dataclass
class _CountryPool:
    code: str
    names: list[str] = field(default_factory=list)
    streets: list[str] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)
    zips: list[str] = field(default_factory=list)


@functools.cache
def _build_pools() -> list[_CountryPool]:
    """Return per-country pools of realistic values (built once per process, always the same)."""
    from faker import Faker

    pools = []
    for index, (code, (locale, _weight)) in enumerate(COUNTRIES.items()):
        fake = Faker(locale)
        fake.seed_instance(index)
        pool = _CountryPool(code)
        for _ in range(POOL_SIZE):
            for values, make, max_length in (
                (pool.names, fake.company, 255),
                (pool.streets, fake.street_address, 255),
                (pool.cities, fake.city, 255),
                (pool.zips, fake.postcode, 32),
            ):
                value = _clean(make(), max_length)
                if value is not None:
                    values.append(value)
        pools.append(pool)
    return pools


@dataclass
class SeedResult:
    customers: int
    groups: int
    memberships: int


def demo_groups(count: int) -> list[Group]:
    """Return *count* demo groups, creating the ones that do not exist yet (names like "VIP", "SMB 2")."""
    existing = {name.lower(): pk for pk, name in Group.objects.values_list("id", "name")}
    groups: list[Group] = []
    round_ = 1
    while len(groups) < count:
        for segment in SEGMENTS:
            if len(groups) == count:
                break
            name = segment if round_ == 1 else f"{segment} {round_}"
            if name.lower() in existing:
                groups.append(Group.objects.get(pk=existing[name.lower()]))
            else:
                groups.append(group_create(name=name, description=f"Demo segment: {name}."))
        round_ += 1
    return groups


def _next_demo_number(prefix: str) -> int:
    last = (
        Customer.objects.filter(external_id__startswith=prefix)
        .order_by("-external_id")
        .values_list("external_id", flat=True)
        .first()
    )
    if last is None:
        return 1
    suffix = last[len(prefix) :]
    return int(suffix) + 1 if suffix.isdigit() else 1


def _rows(
    *, count: int, start: int, prefix: str, group_ids: list[str], per_customer: float, rnd: random.Random
) -> Iterator[tuple[tuple, list[tuple]]]:
    """Yield (customer row, membership rows) as text values ready for COPY (None for NULL)."""
    pools = _build_pools()
    id_rnd = random.Random()  # ids stay unique even when the content is seeded
    weights = [COUNTRIES[p.code][1] for p in pools]
    # Zipf-like group popularity: a few big segments and a long tail of small ones, as in real customer bases.
    ticket = [i for i in range(len(group_ids)) for _ in range(max(1, round(100 / (i + 1))))]
    max_k = len(group_ids)
    now = timezone.now()
    span = int(timedelta(days=3 * 365).total_seconds())
    choice, rand, randrange = rnd.choice, rnd.random, rnd.randrange
    chosen_pools = rnd.choices(pools, weights=weights, k=min(count, 100_000))
    for n in range(start, start + count):
        pool = chosen_pools[n % len(chosen_pools)]
        code = pool.code
        created = now - timedelta(seconds=randrange(span), microseconds=randrange(1_000_000))
        created_text = created.isoformat()
        customer_id = uuid.UUID(int=id_rnd.getrandbits(128), version=4).hex
        has_address = rand() < 0.9
        customer = (
            customer_id,
            choice(pool.names),
            f"{prefix}{n:0{_EXTERNAL_ID_DIGITS}d}",
            f"{randrange(10**9, 10**10)}" if rand() < 0.6 else None,
            f"{code}{randrange(10**8, 10**9)}" if rand() < 0.7 else None,
            choice(pool.streets) if has_address else None,
            choice(pool.cities) if has_address else None,
            choice(pool.zips) if has_address else None,
            code,
            created_text,
            created_text,
        )
        memberships = []
        k = min(max_k, int(rand() * 2 * per_customer + 0.5))
        if k:
            picked: set[int] = set()
            attempts = 0
            while len(picked) < k:
                # Popular groups first; past a few collisions any group, so a large k always finishes.
                picked.add(choice(ticket) if attempts < 4 * k else randrange(max_k))
                attempts += 1
            joined = (created + timedelta(seconds=randrange(max(1, int((now - created).total_seconds()))))).isoformat()
            for g in picked:
                memberships.append(
                    (uuid.UUID(int=id_rnd.getrandbits(128), version=4).hex, group_ids[g], customer_id, joined)
                )
        yield customer, memberships


_CUSTOMER_COLUMNS = ("id", *CUSTOMER_FIELDS, "created_at", "updated_at")


def _copy_chunk(cursor, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    # Demo values never contain tabs, backslashes or line breaks (see _clean), so no escaping is needed.
    text = "".join("\t".join("\\N" if v is None else v for v in row) + "\n" for row in rows)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(text)


def _orm_chunk(customers: list[tuple]) -> None:
    objs = []
    for row in customers:
        values = dict(zip(_CUSTOMER_COLUMNS, row, strict=True))
        created = datetime.fromisoformat(values.pop("created_at"))
        values.pop("updated_at")
        obj = Customer(**values)
        obj.created_at = created
        objs.append(obj)
    Customer.objects.bulk_create(objs)


@transaction.atomic
def seed_demo(
    *,
    customers: int,
    groups: int,
    memberships_per_customer: float = 3.0,
    prefix: str = DEMO_PREFIX,
    seed: int | None = None,
    chunk_size: int = 20_000,
    on_progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Create *groups* demo groups and *customers* demo customers in them, all in one transaction.

    External ids are *prefix* plus a zero-padded number, continuing after the highest existing one,
    so seeding twice adds more customers instead of colliding.
    """
    rnd = random.Random(seed)
    group_objs = demo_groups(groups)
    group_ids = [g.id.hex for g in group_objs]
    start = _next_demo_number(prefix)
    postgres = connection.vendor == "postgresql"
    created_memberships = 0
    cust_buf: list[tuple] = []
    memb_buf: list[tuple] = []

    def flush() -> None:
        nonlocal created_memberships
        if not cust_buf:
            return
        if postgres:
            with connection.cursor() as cursor:
                _copy_chunk(cursor, "customers_customer", _CUSTOMER_COLUMNS, cust_buf)
        else:
            _orm_chunk(cust_buf)
        memberships_load(rows=memb_buf)
        created_memberships += len(memb_buf)
        if on_progress:
            on_progress(len(cust_buf))
        cust_buf.clear()
        memb_buf.clear()

    rows = _rows(
        count=customers,
        start=start,
        prefix=prefix,
        group_ids=group_ids,
        per_customer=memberships_per_customer if group_ids else 0,
        rnd=rnd,
    )
    tables = ["customers_customer", "groups_membership"]
    with deferred_indexes(tables) if should_defer_indexes(tables, customers) else nullcontext():
        for customer, memberships in rows:
            cust_buf.append(customer)
            memb_buf.extend(memberships)
            if len(cust_buf) >= chunk_size:
                flush()
        flush()
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers_customer")
            cursor.execute("ANALYZE groups_membership")
    return SeedResult(customers=customers, groups=len(group_objs), memberships=created_memberships)
