"""The one resolver: the walk of the contract (customer lists, then the lists of the groups the customer was in at
the moment, then default lists, each by priority) at every instant, and the stretches billing prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.db import connection

from pricing import resolver
from pricing.resolver import Stretch, explain, rate_stretches
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def chosen(customer, at, code="SMS"):
    """Return the rate explain() applies for *code* at *at*."""
    (item,) = explain(customer_id=customer.pk, at=at, code=code)
    return item.rate


def stretches_of(customer, code="SMS", start=START, end=END) -> list[tuple[datetime, datetime, object]]:
    result = rate_stretches(customer_ids=[customer.pk], start=start, end=end, codes=[code])
    return [(s.start, s.end, s.rate) for s in result[customer.pk][code]]


@pytest.fixture
def customer():
    return CustomerFactory()


@pytest.fixture
def default_rate():
    return RateFactory(price_list=PriceListFactory(name="Standard", priority=0), valid_from=LONG_AGO)


def test_customer_list_beats_group_list_beats_default_list(customer, default_rate):
    group = GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=LONG_AGO)
    group_rate = RateFactory(price_list=PriceListFactory(group=group, priority=10), valid_from=LONG_AGO)
    assert chosen(customer, START) == group_rate
    own_rate = RateFactory(price_list=PriceListFactory(customer=customer, priority=20), valid_from=LONG_AGO)
    assert chosen(customer, START) == own_rate
    assert chosen(CustomerFactory(), START) == default_rate  # not in the group, no own list


def test_lower_priority_number_wins_within_a_scope(customer):
    low = RateFactory(price_list=PriceListFactory(priority=-5), valid_from=LONG_AGO)
    RateFactory(price_list=PriceListFactory(priority=3), valid_from=LONG_AGO)
    assert chosen(customer, START) == low
    g1, g2 = GroupFactory(), GroupFactory()
    MembershipFactory(customer=customer, group=g1, joined_at=LONG_AGO)
    MembershipFactory(customer=customer, group=g2, joined_at=LONG_AGO)
    RateFactory(price_list=PriceListFactory(group=g1, priority=7), valid_from=LONG_AGO)
    second_group = RateFactory(price_list=PriceListFactory(group=g2, priority=2), valid_from=LONG_AGO)
    assert chosen(customer, START) == second_group


def test_a_list_without_a_rate_for_the_code_is_passed_over(customer, default_rate):
    group = GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=LONG_AGO)
    RateFactory(price_list=PriceListFactory(group=group), code="MMS", valid_from=LONG_AGO)
    assert chosen(customer, START) == default_rate


def test_explain_lists_every_candidate_in_the_walks_order_with_its_outcome(customer, default_rate):
    group = GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=LONG_AGO)
    own = PriceListFactory(customer=customer, priority=1)
    RateFactory(price_list=own, code="MMS", valid_from=LONG_AGO)
    group_list = PriceListFactory(group=group, priority=1)
    group_rate = RateFactory(price_list=group_list, valid_from=LONG_AGO)
    (item,) = explain(customer_id=customer.pk, at=START, code="SMS")
    assert (item.code, item.rate, item.price_list) == ("SMS", group_rate, group_list)
    assert [(c.price_list, c.rate, c.outcome) for c in item.candidates] == [
        (own, None, "no_rate"),
        (group_list, group_rate, "applied"),
        (default_rate.price_list, default_rate, "shadowed"),
    ]


def test_explain_without_a_code_covers_every_code_a_candidate_prices_at_the_moment(customer, default_rate):
    RateFactory(price_list=default_rate.price_list, code="MMS", valid_from=LONG_AGO)
    RateFactory(price_list=default_rate.price_list, code="LATER", valid_from=END)
    RateFactory(price_list=PriceListFactory(group=GroupFactory()), code="OTHERS", valid_from=LONG_AGO)
    assert [item.code for item in explain(customer_id=customer.pk, at=START)] == ["MMS", "SMS"]


def test_a_code_nothing_prices_is_unpriced(customer, default_rate):
    (item,) = explain(customer_id=customer.pk, at=START, code="FAX")
    assert (item.rate, item.price_list) == (None, None)
    assert [c.outcome for c in item.candidates] == ["no_rate"]
    assert stretches_of(customer, "FAX") == [(START, END, None)]


def test_before_its_first_rate_a_code_falls_through_to_the_next_list(customer, default_rate):
    own = RateFactory(price_list=PriceListFactory(customer=customer), valid_from=START + timedelta(days=10))
    assert stretches_of(customer) == [
        (START, own.valid_from, default_rate),
        (own.valid_from, END, own),
    ]


@pytest.mark.parametrize(
    ("offset", "in_group"),
    [(-US, False), (timedelta(0), True), (US, True)],
)
def test_the_group_list_applies_from_the_instant_the_membership_starts(customer, default_rate, offset, in_group):
    group = GroupFactory()
    joined = START + timedelta(days=9, hours=13, minutes=7, seconds=5, microseconds=123457)
    MembershipFactory(customer=customer, group=group, joined_at=joined)
    vip = RateFactory(price_list=PriceListFactory(group=group), valid_from=LONG_AGO)
    assert chosen(customer, joined + offset) == (vip if in_group else default_rate)


@pytest.mark.parametrize(
    ("offset", "in_group"),
    [(-US, True), (timedelta(0), False), (US, False)],
)
def test_the_group_list_stops_at_the_instant_the_membership_ends(customer, default_rate, offset, in_group):
    group = GroupFactory()
    left = START + timedelta(days=20, microseconds=999999)
    MembershipFactory(customer=customer, group=group, joined_at=LONG_AGO, left_at=left)
    vip = RateFactory(price_list=PriceListFactory(group=group), valid_from=LONG_AGO)
    assert chosen(customer, left + offset) == (vip if in_group else default_rate)


@pytest.mark.parametrize(
    ("offset", "new"),
    [(-US, False), (timedelta(0), True), (US, True)],
)
def test_a_new_rate_applies_from_its_valid_from_instant(customer, offset, new):
    pl = PriceListFactory()
    old = RateFactory(price_list=pl, valid_from=LONG_AGO)
    starts = START + timedelta(days=14, microseconds=1)
    newer = RateFactory(price_list=pl, valid_from=starts, unit_price="0.06")
    assert chosen(customer, starts + offset) == (newer if new else old)


def test_membership_and_rate_boundaries_cut_the_stretches_at_the_exact_instants(customer, default_rate):
    group = GroupFactory()
    joined = START + timedelta(days=3, microseconds=5)
    left = START + timedelta(days=20, microseconds=7)
    MembershipFactory(customer=customer, group=group, joined_at=joined, left_at=left)
    vip_list = PriceListFactory(group=group)
    vip = RateFactory(price_list=vip_list, valid_from=LONG_AGO)
    rise = START + timedelta(days=10, microseconds=3)
    vip_rise = RateFactory(price_list=vip_list, valid_from=rise, unit_price="0.07")
    result = rate_stretches(customer_ids=[customer.pk], start=START, end=END, codes=["SMS"])
    assert result[customer.pk]["SMS"] == [
        Stretch("SMS", START, joined, default_rate, default_rate.price_list),
        Stretch("SMS", joined, rise, vip, vip_list),
        Stretch("SMS", rise, left, vip_rise, vip_list),
        Stretch("SMS", left, END, default_rate, default_rate.price_list),
    ]
    # Each stretch's rate is what explain says at its first and last microsecond.
    for stretch in result[customer.pk]["SMS"]:
        assert chosen(customer, stretch.start) == stretch.rate
        assert chosen(customer, stretch.end - US) == stretch.rate


def test_only_the_rate_in_force_at_the_start_and_later_ones_apply(customer):
    pl = PriceListFactory()
    for month in (1, 2, 3):
        RateFactory(price_list=pl, valid_from=datetime(2025, month, 1, tzinfo=UTC), unit_price=f"0.0{month}")
    in_force = RateFactory(price_list=pl, valid_from=datetime(2025, 4, 1, tzinfo=UTC), unit_price="0.04")
    later = RateFactory(price_list=pl, valid_from=START + timedelta(days=1), unit_price="0.05")
    RateFactory(price_list=pl, valid_from=END, unit_price="0.06")  # starts when the range ends
    assert stretches_of(customer) == [(START, later.valid_from, in_force), (later.valid_from, END, later)]
    assert chosen(customer, START - US) == in_force
    result = rate_stretches(customer_ids=[customer.pk], start=START, end=END)[customer.pk]["SMS"]
    assert result[0].rate.valid_to == later.valid_from and result[0].rate.price_list == pl


def test_neighbours_with_the_same_rate_are_merged(customer, default_rate):
    group = GroupFactory()  # a group without prices for SMS: joining it changes nothing for SMS
    RateFactory(price_list=PriceListFactory(group=group), code="MMS", valid_from=LONG_AGO)
    MembershipFactory(customer=customer, group=group, joined_at=START + timedelta(days=5))
    RateFactory(price_list=PriceListFactory(priority=50), valid_from=START + timedelta(days=7))  # shadowed
    assert stretches_of(customer) == [(START, END, default_rate)]


def test_rejoining_a_group_gives_its_prices_back(customer, default_rate):
    group = GroupFactory()
    vip = RateFactory(price_list=PriceListFactory(group=group), valid_from=LONG_AGO)
    day = timedelta(days=1)
    MembershipFactory(customer=customer, group=group, joined_at=LONG_AGO, left_at=START + 5 * day)
    MembershipFactory(customer=customer, group=group, joined_at=START + 9 * day)
    assert stretches_of(customer) == [
        (START, START + 5 * day, vip),
        (START + 5 * day, START + 9 * day, default_rate),
        (START + 9 * day, END, vip),
    ]


def test_memberships_ended_before_the_range_or_starting_after_it_do_not_apply(customer, default_rate):
    group = GroupFactory()
    RateFactory(price_list=PriceListFactory(group=group), valid_from=LONG_AGO)
    MembershipFactory(customer=customer, group=group, joined_at=LONG_AGO, left_at=START)
    MembershipFactory(customer=customer, group=group, joined_at=END)
    assert stretches_of(customer) == [(START, END, default_rate)]


def test_without_codes_every_code_a_candidate_list_prices_in_the_range_is_resolved(customer, default_rate):
    group = GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=START + timedelta(days=2))
    mms = RateFactory(price_list=PriceListFactory(group=group), code="MMS", valid_from=LONG_AGO)
    RateFactory(price_list=default_rate.price_list, code="LATER", valid_from=END)  # not yet in the range
    RateFactory(price_list=PriceListFactory(group=GroupFactory()), code="OTHER", valid_from=LONG_AGO)
    result = rate_stretches(customer_ids=[customer.pk], start=START, end=END)[customer.pk]
    assert sorted(result) == ["MMS", "SMS"]
    assert [(s.start, s.end, s.rate) for s in result["MMS"]] == [
        (START, START + timedelta(days=2), None),
        (START + timedelta(days=2), END, mms),
    ]
    assert [(s.start, s.end, s.rate) for s in result["SMS"]] == [(START, END, default_rate)]


def test_a_customer_with_no_candidate_prices_gets_no_codes(customer):
    assert rate_stretches(customer_ids=[customer.pk], start=START, end=END) == {customer.pk: {}}


def test_many_customers_cost_the_same_few_queries(django_assert_num_queries, default_rate):
    groups = [GroupFactory() for _ in range(3)]
    for i, group in enumerate(groups):
        RateFactory(price_list=PriceListFactory(group=group, priority=100 + i), valid_from=LONG_AGO)
    customers = [CustomerFactory() for _ in range(30)]
    for i, customer in enumerate(customers):
        MembershipFactory(customer=customer, group=groups[i % 3], joined_at=START + timedelta(hours=i))
        if i % 5 == 0:
            RateFactory(price_list=PriceListFactory(customer=customer, priority=1), valid_from=LONG_AGO)
    # Memberships, candidate lists, their rates: one statement on PostgreSQL, three ORM queries elsewhere.
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 3):
        result = rate_stretches(customer_ids=[c.pk for c in customers], start=START, end=END)
    assert set(result) == {c.pk for c in customers}
    for stretches in result.values():
        covered = stretches["SMS"]
        assert covered[0].start == START and covered[-1].end == END
        assert all(a.end == b.start and a.rate is not b.rate for a, b in pairwise(covered))


def test_chunked_calls_give_the_same_stretches(monkeypatch, default_rate):
    group = GroupFactory()
    RateFactory(price_list=PriceListFactory(group=group), valid_from=LONG_AGO)
    customers = [CustomerFactory() for _ in range(7)]
    for i, customer in enumerate(customers):
        MembershipFactory(customer=customer, group=group, joined_at=START + timedelta(days=i))
    ids = [c.pk for c in customers]
    whole = rate_stretches(customer_ids=ids, start=START, end=END)
    monkeypatch.setattr(resolver, "CHUNK_SIZE", 2)
    chunked = rate_stretches(customer_ids=ids, start=START, end=END)
    assert {k: {c: [(s.start, s.end, s.rate.pk) for s in v] for c, v in d.items()} for k, d in whole.items()} == {
        k: {c: [(s.start, s.end, s.rate.pk) for s in v] for c, v in d.items()} for k, d in chunked.items()
    }


def test_an_empty_range_is_refused(customer):
    with pytest.raises(ValueError):
        rate_stretches(customer_ids=[customer.pk], start=END, end=START)


def catalogue_state(catalogue, timelines) -> dict:
    """Everything a load leaves behind, with every field of every list and rate read."""

    def fields(instance) -> tuple:
        return tuple((f.attname, getattr(instance, f.attname)) for f in instance._meta.concrete_fields)

    return {
        "timelines": {
            pk: ([fields(pl) for pl in t.own_lists], sorted(t.memberships, key=str)) for pk, t in timelines.items()
        },
        "default_lists": [fields(pl) for pl in catalogue.default_lists],
        "group_lists": {g: [fields(pl) for pl in items] for g, items in catalogue.group_lists.items()},
        "lists": {pk: fields(pl) for pk, pl in catalogue.lists.items()},
        "rates": {
            pk: {
                code: (
                    froms,
                    [(fields(r), getattr(r, "valid_to", None), r.price_list is catalogue.lists[pk]) for r in rs],
                )
                for code, (froms, rs) in by_code.items()
            }
            for pk, by_code in catalogue.rates.items()
        },
        "boundaries": catalogue.boundaries,
        "epochs": catalogue.epochs,
    }


@pytest.mark.postgres
@pytest.mark.parametrize("codes", [None, ["SMS", "MMS"], []])
def test_the_one_statement_on_postgresql_reads_what_the_orm_reads(monkeypatch, codes):
    """The PostgreSQL reading of the catalogue (one statement) leaves exactly the lists, rates, memberships and
    boundaries the ORM's three queries leave, chunk after chunk (lists of an earlier chunk are not re-read)."""
    from tests.pricing.factories import GRADUATED_TIERS

    groups = [GroupFactory() for _ in range(3)]
    defaults = [PriceListFactory(priority=p) for p in (0, 5)]
    RateFactory(price_list=defaults[0], valid_from=LONG_AGO)
    RateFactory(price_list=defaults[0], valid_from=START - US)  # in force at the start: the older one is not
    RateFactory(price_list=defaults[0], valid_from=START + timedelta(days=3, minutes=7))
    RateFactory(price_list=defaults[0], valid_from=END)  # starts at the end: never applies
    RateFactory(price_list=defaults[1], code="MMS", model="graduated", unit_price=None, tiers=GRADUATED_TIERS)
    RateFactory(
        price_list=defaults[1], code="DATA", model="package", unit_price=None, package_size=10, package_price="1.5"
    )
    for i, group in enumerate(groups):
        group_list = PriceListFactory(group=group, priority=10 + i, description=f"group {i}")
        RateFactory(price_list=group_list, valid_from=START + timedelta(hours=i), unit_price=f"0.0{i + 1}")
        RateFactory(
            price_list=group_list,
            code="MMS",
            valid_from=LONG_AGO,
            model="volume",
            unit_price=None,
            tiers=GRADUATED_TIERS,
        )
    PriceListFactory(group=GroupFactory())  # a group nobody here is in
    customers = [CustomerFactory() for _ in range(9)]
    for i, customer in enumerate(customers):
        group = groups[i % 3]
        if i % 4 == 0:
            MembershipFactory(customer=customer, group=group, joined_at=LONG_AGO)
        elif i % 4 == 1:
            MembershipFactory(
                customer=customer,
                group=group,
                joined_at=START + timedelta(days=i),
                left_at=START + timedelta(days=i + 2),
            )
        elif i % 4 == 2:
            MembershipFactory(customer=customer, group=group, joined_at=LONG_AGO, left_at=START)  # ended before
            MembershipFactory(customer=customer, group=groups[(i + 1) % 3], joined_at=END)  # starts after
        if i % 3 == 0:
            own = PriceListFactory(customer=customer, priority=1)
            RateFactory(price_list=own, valid_from=START + timedelta(days=i, seconds=30))
    ids = [c.pk for c in customers]

    def load(reader) -> list[dict]:
        monkeypatch.setattr(resolver._Catalogue, "_read_in_one_statement", reader)
        catalogue = resolver._Catalogue(start=START, end=END, codes=codes)
        return [catalogue_state(catalogue, catalogue.load(chunk)) for chunk in (ids[:4], ids[4:])]

    one_statement = load(resolver._Catalogue._read_in_one_statement)
    orm = load(resolver._Catalogue._read)
    assert one_statement == orm
    assert one_statement[0]["rates"] and one_statement[1]["timelines"]  # the data set is not trivially empty
