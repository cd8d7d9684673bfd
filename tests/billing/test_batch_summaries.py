"""The batch path of the billing summary (what a bill run computes for a whole batch at once: one plan shared by
the customers with the same rate stretches, summed per customer, code and stretch by PostgreSQL in one
statement) gives every customer exactly the summary it gets alone, for a mix of customers: several sharing
the default stretches, one whose group and one whose own list cut the month elsewhere, one with usage only
in cut hours, one with late usage, one without usage; and for the property test's random scenarios. Runs on
SQLite and on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import summary as summary_module
from billing.services import bill_issue, bills_issue
from billing.summary import billing_summaries, billing_summary
from groups.models import Membership
from pricing.models import Rate
from tests.billing.conftest import at, submit
from tests.billing.test_summary_property import build_scenario, scenarios
from tests.factories import CustomerFactory, GroupFactory
from tests.pricing.factories import GRADUATED_TIERS, PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

FEBRUARY = (at("2026-02-01T00:00"), at("2026-03-01T00:00"))
# The period starts and ends inside hours: its edge hours are cut too.
MARCH = (at("2026-03-01T00:20"), at("2026-03-31T23:40"))


@pytest.fixture
def mix(db):
    """Customers of every kind, in one batch."""
    default = PriceListFactory(currency="EUR", priority=0)
    RateFactory(price_list=default, code="SMS", unit_price=Decimal("0.05"))
    RateFactory(
        price_list=default,
        code="SMS",
        model=Rate.Model.GRADUATED,
        unit_price=None,
        tiers=GRADUATED_TIERS,
        valid_from=at("2026-03-10T10:30"),  # cut inside an hour
    )
    RateFactory(price_list=default, code="CALL", unit_price=Decimal("0.0125"))
    RateFactory(
        price_list=default,
        code="CALL",
        model=Rate.Model.PACKAGE,
        unit_price=None,
        package_size=Decimal("10"),
        package_price=Decimal("0.35"),
        valid_from=at("2026-03-20T14:45:30"),
    )
    plain = [CustomerFactory() for _ in range(4)]
    for i, customer in enumerate(plain):
        submit(
            customer,
            [
                ("SMS", Decimal("1.5") + i, at("2026-03-01T00:10")),  # before the period (same hour as its start)
                ("SMS", 3 + i, at("2026-03-01T00:30")),
                ("SMS", 7, at("2026-03-10T10:29:59")),
                ("SMS", 11, at("2026-03-10T10:30")),
                ("SMS", 1200 + i, at("2026-03-15T08:00")),
                ("CALL", Decimal("0.333333"), at("2026-03-20T14:45:29")),
                ("CALL", 25 + i, at("2026-03-20T14:50")),
                ("CALL", 4, at("2026-03-31T23:39:59")),
                ("CALL", 5, at("2026-03-31T23:40")),  # after the period
            ],
        )
    # A group whose own list cuts SMS at another moment (its members' stretches differ from the others').
    group = GroupFactory()
    member = CustomerFactory()
    Membership.objects.create(customer=member, group=group, joined_at=at("2026-03-05T12:15"))
    group_list = PriceListFactory(currency="EUR", priority=5, group=group)
    RateFactory(price_list=group_list, code="SMS", unit_price=Decimal("0.02"), valid_from=at("2026-03-07T06:20"))
    submit(member, [("SMS", 10, at("2026-03-05T12:10")), ("SMS", 20, at("2026-03-07T06:25"))])
    # A customer with its own list, in another currency, and a code nothing prices.
    own = CustomerFactory()
    own_list = PriceListFactory(currency="JPY", priority=9, customer=own)
    RateFactory(price_list=own_list, code="SMS", unit_price=Decimal("3"), valid_from=at("2026-03-12T00:00"))
    submit(own, [("SMS", 4, at("2026-03-11T23:59")), ("SMS", 6, at("2026-03-12T00:01")), ("DATA", 9, MARCH[0])])
    # Usage only inside cut hours.
    cut_only = CustomerFactory()
    submit(cut_only, [("SMS", 2, at("2026-03-10T10:00")), ("CALL", 3, at("2026-03-20T14:46"))])
    # Late usage: February billed, then a February record submitted.
    late = CustomerFactory()
    submit(late, [("SMS", 1, at("2026-02-10T00:00")), ("SMS", 2, at("2026-03-02T00:00"))])
    bill_issue(customer=late, start=FEBRUARY[0], end=FEBRUARY[1])
    submit(late, [("SMS", 5, at("2026-02-20T10:45"))])
    late.refresh_from_db()
    idle = CustomerFactory()
    return [*plain, member, own, cut_only, late, idle]


def test_the_batch_gives_every_customer_its_own_summary(mix):
    batch = billing_summaries(customers=mix, start=MARCH[0], end=MARCH[1])
    alone = {c.pk: billing_summary(customer=c, start=MARCH[0], end=MARCH[1]) for c in mix}
    assert batch == alone
    # The mix covers what it claims: lines in two currencies, late lines, unpriced usage, an empty summary.
    lines = [line for s in batch.values() for line in s.lines]
    assert {line.currency for line in lines} == {"EUR", "JPY"}
    assert any(line.late for line in lines)
    assert any(s.unpriced for s in batch.values())
    assert batch[mix[-1].pk].is_empty
    assert len({line.rate_id for line in lines}) >= 5
    assert all(len(batch[c.pk].lines) == 4 for c in mix[:4])


def test_customers_with_the_same_stretches_share_one_plan_read_for_each_of_them(mix, monkeypatch):
    planned = []
    apply = summary_module._Plan.apply

    def spy(plan, usage):
        planned.append({owner: list(members) for owner, members in plan.members.items()})
        return apply(plan, usage)

    monkeypatch.setattr(summary_module._Plan, "apply", spy)
    batch = billing_summaries(customers=mix, start=MARCH[0], end=MARCH[1])
    (members,) = planned
    plain = {c.pk for c in mix[:4]}
    # The four customers on the default stretches (and the cut-hour one: same stretches) share one plan.
    assert any(plain <= set(group) for group in members.values())
    assert sum(len(group) for group in members.values()) == len(mix)  # each customer is read once
    assert len(members) < len(mix) - 1
    # Shared plan, own sums: the four differ only in their own quantities (SMS from 10:30 on March 10).
    assert [batch[c.pk].lines[-1].quantity for c in mix[:4]] == [Decimal(11 + 1200 + i) for i in range(4)]


def test_issued_bills_freeze_the_batch_summaries(mix):
    expected = {c.pk: billing_summary(customer=c, start=MARCH[0], end=MARCH[1]) for c in mix}
    outcome = bills_issue(customer_ids=[c.pk for c in mix], start=MARCH[0], end=MARCH[1])
    assert outcome.empty == [mix[-1].pk]
    assert len(outcome.issued) == len(mix) - 1
    from billing.models import Bill

    for bill in Bill.objects.filter(period_from=MARCH[0]).prefetch_related("lines"):
        summary = expected[bill.customer_id]
        assert [
            (ln.code, ln.period_from, ln.period_to, ln.quantity, ln.records, ln.currency, ln.amount, ln.late)
            for ln in bill.lines.all()
        ] == [
            (ln.code, ln.start, ln.end, ln.quantity, ln.records, ln.currency, ln.amount, ln.late)
            for ln in summary.lines
        ]
        assert [ln.rate_snapshot for ln in bill.lines.all()] == [ln.rate for ln in summary.lines]
        assert bill.totals == [{"currency": t.currency, "amount": str(t.amount)} for t in summary.totals]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(scenario=scenarios(), factor=st.sampled_from([Decimal(1), Decimal(3)]))
def test_a_batch_of_random_scenarios_equals_each_customer_alone(db, scenario, factor):
    """The property test's random scenarios (memberships, rates of all models cut inside hours and minutes,
    records on both sides of boundaries), given to three customers at once: two alike (one plan shared, different
    quantities) and one without the memberships (other stretches); each gets its summary alone."""
    records = scenario[-1]
    with transaction.atomic():
        customers = [CustomerFactory() for _ in range(3)]
        start, end = build_scenario(scenario, customers=customers, members=customers[:2])
        if records:
            submit(customers[0], records)
            submit(customers[1], [(code, quantity * factor, moment) for code, quantity, moment in records])
            submit(customers[2], records[::2])

        batch = billing_summaries(customers=customers, start=start, end=end)
        assert batch == {c.pk: billing_summary(customer=c, start=start, end=end) for c in customers}
        transaction.set_rollback(True)


@pytest.mark.postgres
def test_a_failing_copy_raises_djangos_database_error(mix):
    """Bug: bills and lines are COPYed through psycopg's own cursor, whose errors are not Django's, so a dropped
    connection during the COPY was not the OperationalError a bill run retries. Now they are turned into
    Django's: here a duplicate line position is Django's IntegrityError."""
    from django.db import IntegrityError, transaction

    from billing.models import BillLine
    from billing.services import _copy

    bill_issue(customer=mix[0], start=MARCH[0], end=MARCH[1])
    line = BillLine.objects.filter(bill__customer=mix[0]).values(
        "bill_id",
        "position",
        "code",
        "period_from",
        "period_to",
        "quantity",
        "records",
        "currency",
        "amount",
        "rate_id",
        "rate_snapshot",
        "tiers",
        "late",
    )[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        _copy(BillLine, [line])
