"""Property: the billing summary (hourly rollup for whole hours; for cut hours, the per-minute rollup for whole
minutes and raw records for the seconds around a boundary) equals, to the cent, a naive reference that prices
record by record: random memberships, rates of all four models with tiers, and records on both sides of
boundaries that fall inside hours, on a minute or inside one. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from billing.summary import billing_summary
from groups.models import Membership
from pricing.amounts import price
from pricing.currencies import round_money
from pricing.models import Rate
from pricing.resolver import rate_stretches
from records.models import DataRecord
from tests.billing.conftest import at, submit
from tests.factories import CustomerFactory, GroupFactory
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

BASE = at("2026-03-01T00:00")
HOURS = 30
CODES = ("A", "B", "C")  # nothing ever prices C

#: Moments in seconds from BASE: on the hour, on a minute, or inside a minute (a boundary there is read
#: from the per-minute rollup and from the records around it).
seconds = st.builds(
    lambda minute, second: minute * 60 + second,
    st.integers(min_value=-90, max_value=HOURS * 60 + 90),
    st.sampled_from([0, 0, 0, 1, 30, 59]),
)
quantities = st.decimals(min_value=0, max_value=2000, places=6, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=0, max_value=3, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def terms(draw):
    model = draw(st.sampled_from(["unit", "graduated", "volume", "package"]))
    if model == "unit":
        return {"model": model, "unit_price": draw(prices)}
    if model == "package":
        return {
            "model": model,
            "unit_price": None,
            "package_size": draw(st.decimals(min_value=Decimal("0.5"), max_value=100, places=1)),
            "package_price": draw(prices),
        }
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=3000), min_size=0, max_size=3)))
    tiers = [
        {"up_to": str(bound), "unit_price": str(draw(prices)), "flat_price": str(draw(prices))} for bound in bounds
    ]
    tiers.append({"up_to": None, "unit_price": str(draw(prices)), "flat_price": str(draw(prices))})
    return {"model": model, "unit_price": None, "tiers": tiers}


@st.composite
def scenarios(draw):
    start = draw(st.integers(min_value=0, max_value=120)) * 60 + draw(st.sampled_from([0, 0, 0, 1, 30, 59]))
    length = draw(st.integers(min_value=1, max_value=HOURS * 60 - 130)) * 60 + draw(st.sampled_from([0, 0, 29]))
    moments = draw(st.lists(seconds, min_size=0, max_size=6, unique=True))  # membership and rate boundaries
    memberships = []
    for group in (0, 1):
        points = sorted(draw(st.sets(st.sampled_from(moments) if moments else seconds, max_size=4)))
        for joined, left in zip(points[::2], points[1::2], strict=False):
            memberships.append((group, joined, left))
        if len(points) % 2:
            memberships.append((group, points[-1], None))
    lists = []  # (scope, currency, rates: [(code, valid_from, terms)])
    for scope, currency in (("default", "EUR"), ("group0", "JPY"), ("group1", "EUR"), ("customer", "BHD")):
        if scope != "default" and not draw(st.booleans()):
            continue
        rates = []
        for code in ("A", "B"):
            froms = draw(st.sets(st.sampled_from(moments) if moments else seconds, max_size=2))
            if scope == "default" or draw(st.booleans()):
                froms.add(-600_000)  # a rate valid long before the period
            rates += [(code, valid_from, draw(terms())) for valid_from in sorted(froms)]
        lists.append((scope, currency, rates))
    records = []
    for _ in range(draw(st.integers(min_value=1, max_value=24))):
        near = draw(st.sampled_from([*moments, start, start + length, None]))
        if near is None:
            moment = timedelta(seconds=draw(seconds) + draw(st.integers(0, 59)))
        else:  # just before, at, or just after a boundary, or a minute away (in the per-minute rollup's reach)
            moment = timedelta(seconds=near + draw(st.sampled_from([-61, -1, 0, 0, 1, 59, 61])))
        records.append((draw(st.sampled_from(CODES)), draw(quantities), BASE + moment))
    return start, length, memberships, lists, records


def build_scenario(scenario, *, customers: list, members: list) -> tuple[datetime, datetime]:
    """Create the scenario's groups, memberships (for *members*) and price lists (customer-scoped lists once per
    customer of *customers*); return its period. The scenario's moments are seconds from BASE."""
    start_second, length, memberships, lists, _ = scenario
    groups = [GroupFactory(), GroupFactory()]
    for customer in members:
        for group, joined, left in memberships:
            Membership.objects.create(
                customer=customer,
                group=groups[group],
                joined_at=BASE + timedelta(seconds=joined),
                left_at=None if left is None else BASE + timedelta(seconds=left),
            )
    for priority, (scope, currency, rates) in enumerate(lists):
        owners = {"default": [{}], "group0": [{"group": groups[0]}], "group1": [{"group": groups[1]}]}.get(
            scope, [{"customer": c} for c in customers]
        )
        for owner in owners:
            price_list = PriceListFactory(currency=currency, priority=priority, **owner)
            for code, valid_from, rate_terms in rates:
                RateFactory(
                    price_list=price_list, code=code, valid_from=BASE + timedelta(seconds=valid_from), **rate_terms
                )
    start = BASE + timedelta(seconds=start_second)
    return start, start + timedelta(seconds=length)


def reference(customer, start, end) -> tuple[list, dict, dict]:
    """Price record by record: find each record's stretch (checked against the resolver asked at the record's own
    time), sum per stretch, price each stretch's quantity, round once; sum rounded lines per currency."""
    period = rate_stretches(customer_ids=[customer.pk], start=start, end=end, codes=list(CODES))[customer.pk]
    sums: dict = defaultdict(lambda: [Decimal(0), 0])
    unpriced: dict = defaultdict(lambda: [Decimal(0), 0])
    for code, quantity, moment in DataRecord.objects.filter(
        customer_id=customer.pk, time_from__gte=start, time_from__lt=end
    ).values_list("code", "quantity", "time_from"):
        (span,) = [s for s in period[code] if s.start <= moment < s.end]
        (own,) = rate_stretches(
            customer_ids=[customer.pk], start=moment, end=moment + timedelta(microseconds=1), codes=[code]
        )[customer.pk][code]
        assert own.rate == span.rate
        target = unpriced[code] if span.rate is None else sums[(code, span.start, span.end, span.rate.pk)]
        target[0] += quantity
        target[1] += 1
    lines = []
    totals: dict = defaultdict(Decimal)
    for (code, lo, hi, _), (quantity, count) in sorted(sums.items()):
        (span,) = [s for s in period[code] if s.start == lo]
        currency = span.price_list.currency
        amount = round_money(price(span.rate, quantity).amount, currency)
        lines.append((code, lo, hi, quantity, count, currency, amount))
        totals[currency] += amount
    return lines, {code: tuple(v) for code, v in unpriced.items()}, dict(totals)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(scenario=scenarios())
def test_summary_equals_a_record_by_record_reference(db, scenario):
    records = scenario[-1]
    with transaction.atomic():
        customer = CustomerFactory()
        start, end = build_scenario(scenario, customers=[customer], members=[customer])
        if records:
            submit(customer, records)

        summary = billing_summary(customer=customer, start=start, end=end)
        lines, unpriced, totals = reference(customer, start, end)
        event(f"lines: {min(len(lines), 3)}{'+' if len(lines) >= 3 else ''}; unpriced: {bool(unpriced)}")

        assert [
            (ln.code, ln.start, ln.end, ln.quantity, ln.records, ln.currency, ln.amount) for ln in summary.lines
        ] == lines
        assert {u.code: (u.quantity, u.records) for u in summary.unpriced} == unpriced
        assert {t.currency: t.amount for t in summary.totals} == totals
        assert all(ln.rate["model"] in Rate.Model.values for ln in summary.lines)
        transaction.set_rollback(True)
