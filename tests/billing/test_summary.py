"""The billing summary: per code, one line per rate stretch, priced on its own quantity, rounded once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection
from django.db.models import F

from billing.representation import summary_representation
from billing.summary import _Plan, billing_summaries, billing_summary
from billing.usage_sql import MINUTES, RECORDS
from groups.models import Membership
from pricing.models import Rate
from records.models import UsageMinuteRollup, UsageRollup
from tests.billing.conftest import at, submit
from tests.factories import CustomerFactory, GroupFactory
from tests.pricing.factories import GRADUATED_TIERS, PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

MARCH = (at("2026-03-01T00:00"), at("2026-04-01T00:00"))


def summary(customer, start=MARCH[0], end=MARCH[1]) -> dict:
    return summary_representation(billing_summary(customer=customer, start=start, end=end))


def graduated(price_list, valid_from=None, code="SMS"):
    return RateFactory(
        price_list=price_list,
        code=code,
        model=Rate.Model.GRADUATED,
        unit_price=None,
        tiers=GRADUATED_TIERS,
        valid_from=valid_from or at("2026-01-01T00:00"),
    )


def test_the_contract_example_prices_1500_sms_graduated_at_70_with_tiers_itemised(customer):
    price_list = PriceListFactory(currency="EUR", name="Standard")
    rate = graduated(price_list)
    submit(
        customer,
        [
            ("SMS", 1000, at("2026-03-02T10:00")),
            ("SMS", 400, at("2026-03-15T00:00")),
            ("SMS", 100, at("2026-03-31T23:59")),
        ],
    )
    body = summary(customer)
    assert body["customer"] == {
        "id": str(customer.pk),
        "name": "Acme Ltd",
        "external_id": "EXT-ACME",
        "tax_id": "T-1",
        "vat_id": "GB123",
        "address_street": "1 High Street\nUnit 2",
        "address_city": "London",
        "address_zip": "N1 1AA",
        "address_country": "GB",
    }
    assert (body["from"], body["to"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    assert body["lines"] == [
        {
            "code": "SMS",
            "from": "2026-03-01T00:00:00Z",
            "to": "2026-04-01T00:00:00Z",
            "quantity": "1500.000000",
            "records": 3,
            "currency": "EUR",
            "amount": "70.00",
            "rate": {
                "id": str(rate.pk),
                "model": "graduated",
                "price_list_id": str(price_list.pk),
                "price_list_name": "Standard",
                "scope": "default",
                "group_id": None,
            },
            "tiers": [
                {
                    "up_to": "1000",
                    "quantity": "1000.000000",
                    "unit_price": "0.05",
                    "flat_price": "0",
                    "amount": "50.00",
                },
                {"up_to": None, "quantity": "500.000000", "unit_price": "0.04", "flat_price": "0", "amount": "20.00"},
            ],
            "late": False,
        }
    ]
    assert body["unpriced"] == []
    assert body["totals"] == [{"currency": "EUR", "amount": "70.00"}]


def test_a_rate_change_inside_an_hour_cuts_the_period_and_tiers_restart(customer):
    price_list = PriceListFactory(currency="EUR")
    graduated(price_list)
    graduated(price_list, valid_from=at("2026-03-10T10:30"))  # same terms, new rate: tiers start again
    submit(
        customer,
        [
            ("SMS", 1000, at("2026-03-05T00:00")),
            ("SMS", 500, at("2026-03-10T10:29:59")),
            ("SMS", 1000, at("2026-03-10T10:30")),
            ("SMS", 500, at("2026-03-20T00:00")),
        ],
    )
    lines = summary(customer)["lines"]
    assert [(ln["from"], ln["to"], ln["quantity"], ln["records"], ln["amount"]) for ln in lines] == [
        ("2026-03-01T00:00:00Z", "2026-03-10T10:30:00Z", "1500.000000", 2, "70.00"),
        ("2026-03-10T10:30:00Z", "2026-04-01T00:00:00Z", "1500.000000", 2, "70.00"),
    ]


def test_a_membership_change_cuts_the_period_and_each_stretch_is_priced_by_its_list(customer):
    vip = GroupFactory(name="VIP")
    PriceListFactory(currency="EUR", name="Default")
    default_rate = RateFactory(
        price_list=PriceListFactory._meta.model.objects.get(name="Default"), unit_price=Decimal("0.10")
    )
    vip_list = PriceListFactory(currency="EUR", name="VIP list", group=vip)
    vip_rate = RateFactory(price_list=vip_list, unit_price=Decimal("0.01"))
    Membership.objects.create(
        customer=customer, group=vip, joined_at=at("2026-03-10T12:15"), left_at=at("2026-03-20T00:00")
    )
    submit(
        customer,
        [
            ("SMS", 10, at("2026-03-10T12:14")),
            ("SMS", 10, at("2026-03-10T12:15")),
            ("SMS", 10, at("2026-03-19T23:59:59")),
            ("SMS", 10, at("2026-03-20T00:00")),
        ],
    )
    lines = summary(customer)["lines"]
    assert [(ln["from"], ln["to"], ln["quantity"], ln["amount"], ln["rate"]["id"]) for ln in lines] == [
        ("2026-03-01T00:00:00Z", "2026-03-10T12:15:00Z", "10.000000", "1.00", str(default_rate.pk)),
        ("2026-03-10T12:15:00Z", "2026-03-20T00:00:00Z", "20.000000", "0.20", str(vip_rate.pk)),
        ("2026-03-20T00:00:00Z", "2026-04-01T00:00:00Z", "10.000000", "1.00", str(default_rate.pk)),
    ]
    assert lines[1]["rate"]["scope"] == "group" and lines[1]["rate"]["group_id"] == str(vip.pk)


def test_a_stretch_without_records_gives_no_line(customer):
    price_list = PriceListFactory(currency="EUR")
    RateFactory(price_list=price_list, unit_price=Decimal("1"))
    RateFactory(price_list=price_list, unit_price=Decimal("2"), valid_from=at("2026-03-15T00:00"))
    submit(customer, [("SMS", 3, at("2026-03-20T00:00"))])
    lines = summary(customer)["lines"]
    assert [(ln["from"], ln["amount"]) for ln in lines] == [("2026-03-15T00:00:00Z", "6.00")]


def test_codes_without_a_rate_are_reported_unpriced_never_priced_at_zero(customer):
    RateFactory(
        price_list=PriceListFactory(currency="EUR"),
        code="SMS",
        unit_price=Decimal("1"),
        valid_from=at("2026-03-10T00:00"),
    )
    submit(
        customer,
        [
            ("MMS", "1.5", at("2026-03-02T00:00")),
            ("MMS", 2, at("2026-03-03T00:00")),
            ("SMS", 4, at("2026-03-05T00:00")),
            ("SMS", 1, at("2026-03-11T00:00")),
        ],
    )
    body = summary(customer)
    assert body["unpriced"] == [
        {"code": "MMS", "quantity": "3.500000", "records": 2},
        {"code": "SMS", "quantity": "4.000000", "records": 1},
    ]
    assert [(ln["code"], ln["quantity"]) for ln in body["lines"]] == [("SMS", "1.000000")]


def test_each_line_is_rounded_once_half_up_and_totals_sum_rounded_lines_per_currency(customer):
    eur = PriceListFactory(currency="EUR", priority=1)
    jpy = PriceListFactory(currency="JPY", priority=2)
    bhd = PriceListFactory(currency="BHD", priority=3)
    RateFactory(price_list=eur, code="A", unit_price=Decimal("0.025"))  # 0.025 -> 0.03 (half-even: 0.02)
    RateFactory(price_list=eur, code="B", unit_price=Decimal("0.0005"))  # 0.0155 -> 0.02
    RateFactory(price_list=jpy, code="C", unit_price=Decimal("2.5"))  # 2.5 -> 3
    RateFactory(price_list=bhd, code="D", unit_price=Decimal("0.0005"))  # 0.0005 -> 0.001
    submit(
        customer,
        [
            ("A", 1, at("2026-03-02T00:00")),
            ("B", 31, at("2026-03-02T00:00")),
            ("C", 1, at("2026-03-02T00:00")),
            ("D", 1, at("2026-03-02T00:00")),
        ],
    )
    body = summary(customer)
    assert [(ln["code"], ln["currency"], ln["amount"]) for ln in body["lines"]] == [
        ("A", "EUR", "0.03"),
        ("B", "EUR", "0.02"),
        ("C", "JPY", "3"),
        ("D", "BHD", "0.001"),
    ]
    assert body["totals"] == [
        {"currency": "BHD", "amount": "0.001"},
        {"currency": "EUR", "amount": "0.05"},
        {"currency": "JPY", "amount": "3"},
    ]


def test_only_records_whose_time_from_lies_in_the_period_count_at_both_partial_edges(customer):
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    submit(
        customer,
        [
            ("SMS", 1, at("2026-03-01T10:14:59")),
            ("SMS", 2, at("2026-03-01T10:15")),
            ("SMS", 4, at("2026-03-01T11:00")),
            ("SMS", 8, at("2026-03-02T17:44:59")),
            ("SMS", 16, at("2026-03-02T17:45")),
        ],
    )
    lines = summary(customer, at("2026-03-01T10:15"), at("2026-03-02T17:45"))["lines"]
    assert [(ln["from"], ln["to"], ln["quantity"], ln["records"]) for ln in lines] == [
        ("2026-03-01T10:15:00Z", "2026-03-02T17:45:00Z", "14.000000", 3)
    ]
    inside_one_hour = summary(customer, at("2026-03-01T10:10"), at("2026-03-01T10:20"))["lines"]
    assert [(ln["quantity"], ln["records"]) for ln in inside_one_hour] == [("3.000000", 2)]


def test_lines_are_ordered_by_code_then_from_and_quantities_have_six_places(customer):
    price_list = PriceListFactory(currency="EUR")
    for code in ("ZZ", "AA"):
        RateFactory(price_list=price_list, code=code, unit_price=Decimal("1"))
        RateFactory(price_list=price_list, code=code, unit_price=Decimal("2"), valid_from=at("2026-03-15T00:00"))
    submit(customer, [(code, "0.000001", at(f"2026-03-{day}T00:00")) for code in ("ZZ", "AA") for day in (10, 20)])
    lines = summary(customer)["lines"]
    assert [(ln["code"], ln["from"][:10], ln["quantity"]) for ln in lines] == [
        ("AA", "2026-03-01", "0.000001"),
        ("AA", "2026-03-15", "0.000001"),
        ("ZZ", "2026-03-01", "0.000001"),
        ("ZZ", "2026-03-15", "0.000001"),
    ]


def test_a_customer_without_records_has_an_empty_summary(customer):
    RateFactory(price_list=PriceListFactory(currency="EUR"))
    body = summary(customer)
    assert (body["lines"], body["unpriced"], body["totals"]) == ([], [], [])


def test_other_customers_records_do_not_count(customer):
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    submit(CustomerFactory(), [("SMS", 5, at("2026-03-02T00:30"))])
    submit(customer, [("SMS", 1, at("2026-03-02T00:30"))])
    assert [ln["quantity"] for ln in summary(customer)["lines"]] == ["1.000000"]


def test_the_summary_costs_the_same_queries_for_a_month_of_hours_and_many_boundaries(
    customer, django_assert_num_queries
):
    price_list = PriceListFactory(currency="EUR")
    RateFactory(price_list=price_list, unit_price=Decimal("1"))
    for day in range(2, 28, 3):  # nine boundaries, each inside an hour
        RateFactory(price_list=price_list, unit_price=Decimal(day), valid_from=at(f"2026-03-{day:02d}T05:30"))
    submit(customer, [("SMS", 1, at("2026-03-01T00:00") + timedelta(minutes=37 * i)) for i in range(1200)])
    # The pricing catalogue (one statement on PostgreSQL, three ORM queries elsewhere) and the range sums; the
    # codes with usage come with the sums.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 4):
        body = summary(customer, at("2026-03-01T00:10"), at("2026-03-31T23:50"))
    assert sum(ln["records"] for ln in body["lines"]) == sum(
        1
        for i in range(1200)
        if at("2026-03-01T00:10") <= at("2026-03-01T00:00") + timedelta(minutes=37 * i) < at("2026-03-31T23:50")
    )
    assert len(body["lines"]) == 10


def test_a_stretch_across_one_hour_boundary_without_a_whole_hour_counts_both_partial_hours(customer):
    """Bug guarded (found by the property test): a stretch from 00:01 to 01:01 was treated as lying in one hour
    when the larger piece of an hour was derived from the hourly rollup, and its records were lost."""
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"))
    submit(
        customer,
        [
            ("SMS", 1, at("2026-03-01T00:00")),
            ("SMS", 2, at("2026-03-01T00:30")),
            ("SMS", 4, at("2026-03-01T01:00:59")),
            ("SMS", 8, at("2026-03-01T01:01")),
        ],
    )
    lines = summary(customer, at("2026-03-01T00:01"), at("2026-03-01T01:01"))["lines"]
    assert [(ln["quantity"], ln["records"]) for ln in lines] == [("6.000000", 2)]


def test_a_cut_hour_adds_up_whichever_side_is_larger(customer):
    price_list = PriceListFactory(currency="EUR")
    RateFactory(price_list=price_list, unit_price=Decimal("1"))
    RateFactory(price_list=price_list, unit_price=Decimal("10"), valid_from=at("2026-03-05T10:50"))
    RateFactory(price_list=price_list, unit_price=Decimal("100"), valid_from=at("2026-03-06T10:05"))
    submit(
        customer,
        [
            ("SMS", 1, at("2026-03-05T10:49:59")),
            ("SMS", 2, at("2026-03-05T10:50")),
            ("SMS", 4, at("2026-03-06T10:04:59")),
            ("SMS", 8, at("2026-03-06T10:05")),
        ],
    )
    lines = summary(customer)["lines"]
    assert [(ln["quantity"], ln["amount"]) for ln in lines] == [
        ("1.000000", "1.00"),
        ("6.000000", "60.00"),
        ("8.000000", "800.00"),
    ]


def test_a_boundary_inside_a_minute_is_priced_to_the_second(customer):
    price_list = PriceListFactory(currency="EUR")
    RateFactory(price_list=price_list, unit_price=Decimal("1"))
    RateFactory(price_list=price_list, unit_price=Decimal("10"), valid_from=at("2026-03-05T10:30:30"))
    submit(
        customer,
        [
            ("SMS", 1, at("2026-03-05T10:00")),
            ("SMS", 2, at("2026-03-05T10:29:59")),
            ("SMS", 4, at("2026-03-05T10:30")),
            ("SMS", 8, at("2026-03-05T10:30:29.999999")),
            ("SMS", 16, at("2026-03-05T10:30:30")),
            ("SMS", 32, at("2026-03-05T10:30:59")),
            ("SMS", 64, at("2026-03-05T10:31")),
            ("SMS", 128, at("2026-03-05T10:59:59")),
        ],
    )
    lines = summary(customer)["lines"]
    assert [(ln["quantity"], ln["records"], ln["amount"]) for ln in lines] == [
        ("15.000000", 4, "15.00"),
        ("240.000000", 4, "2400.00"),
    ]


def test_a_cut_hour_reads_its_whole_minutes_from_the_minute_rollup_and_the_cut_minute_from_records(customer):
    """Where each piece of a cut hour is read from, shown by adding usage to the rollups behind the summary's
    back (to a minute and to its hour, as a record of that minute would): added to a whole minute of the
    smaller piece, it shows in that piece; added to the minute the boundary cuts, whose records are read, it
    shows only in the larger piece, which is the hour's rollup minus the smaller piece."""
    price_list = PriceListFactory(currency="EUR")
    RateFactory(price_list=price_list, unit_price=Decimal("1"))
    RateFactory(price_list=price_list, unit_price=Decimal("10"), valid_from=at("2026-03-05T10:45:30"))
    submit(customer, [("SMS", 1, at("2026-03-05T10:00") + timedelta(seconds=20 * i)) for i in range(180)])
    assert [(ln["quantity"], ln["records"]) for ln in summary(customer)["lines"]] == [
        ("137.000000", 137),
        ("43.000000", 43),
    ]

    def add_behind_the_back(minute: str) -> list:
        more = {"quantity": F("quantity") + 1000, "records": F("records") + 1000}
        UsageMinuteRollup.objects.filter(customer_id=customer.pk, minute=at(minute)).update(**more)
        UsageRollup.objects.filter(customer_id=customer.pk, hour=at("2026-03-05T10:00")).update(**more)
        return [(ln["quantity"], ln["records"]) for ln in summary(customer)["lines"]]

    assert add_behind_the_back("2026-03-05T10:45") == [("1137.000000", 1137), ("43.000000", 43)]
    assert add_behind_the_back("2026-03-05T10:50") == [("1137.000000", 1137), ("1043.000000", 1043)]


def test_a_piece_of_an_hour_is_its_whole_minutes_and_less_than_a_minute_of_records_at_either_end():
    plan, owner = _Plan(), uuid4()
    plan.add_piece(owner, at("2026-03-05T10:17:23"), at("2026-03-05T10:42:10"), "SMS", 0, 1)
    plan.add_piece(owner, at("2026-03-05T11:05"), at("2026-03-05T11:20"), "SMS", 1, 1)
    plan.add_piece(owner, at("2026-03-05T12:05:10"), at("2026-03-05T12:05:50"), "SMS", 2, -1)
    plan.add_piece(owner, at("2026-03-05T13:05:10"), at("2026-03-05T13:06:50"), "SMS", 3, 1)
    assert sorted((kind, lo, hi) for kind, _, lo, hi in plan.ranges) == [
        (RECORDS, at("2026-03-05T10:17:23"), at("2026-03-05T10:18")),
        (RECORDS, at("2026-03-05T10:42"), at("2026-03-05T10:42:10")),
        (RECORDS, at("2026-03-05T12:05:10"), at("2026-03-05T12:05:50")),
        (RECORDS, at("2026-03-05T13:05:10"), at("2026-03-05T13:06:50")),  # no whole minute: one range
        (MINUTES, at("2026-03-05T10:18"), at("2026-03-05T10:42")),
        (MINUTES, at("2026-03-05T11:05"), at("2026-03-05T11:20")),
    ]
    assert sorted(target for (_, _, code), targets in plan.targets.items() for target in targets) == [
        (0, 1),
        (0, 1),
        (0, 1),
        (1, 1),
        (2, -1),
        (3, 1),
    ]


def test_a_batch_gives_each_customer_the_summary_it_gets_alone():
    """Customers whose rates change at different moments (inside hours) summed in one batch: each customer's
    whole hours are read in one pass and split at its own boundaries, never at another customer's."""
    RateFactory(price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("1"), valid_from=at("2026-01-01T00:00"))
    customers = [CustomerFactory() for _ in range(4)]
    for i, customer in enumerate(customers):
        own = PriceListFactory(customer=customer, currency="EUR", priority=1)
        RateFactory(price_list=own, unit_price=Decimal(2 + i), valid_from=at(f"2026-03-{3 + i:02d}T0{i}:2{i}"))
        RateFactory(price_list=own, code="MMS", unit_price=Decimal(9), valid_from=at(f"2026-03-{10 + 2 * i:02d}T12:00"))
        submit(
            customer,
            [
                (code, Decimal(i + 1) + Decimal(minute) / 1000, at("2026-03-01T00:00") + timedelta(minutes=minute))
                for minute in range(0, 31 * 24 * 60, 97 + i)
                for code in ("SMS", "MMS")
            ],
        )
    batch = billing_summaries(customers=customers, start=MARCH[0], end=MARCH[1])
    for customer in customers:
        alone = billing_summary(customer=customer, start=MARCH[0], end=MARCH[1])
        assert summary_representation(batch[customer.pk]) == summary_representation(alone)
        # SMS: the default list's rate, then its own; MMS: unpriced (no default rate), then its own
        assert [ln.code for ln in alone.lines] == ["MMS", "SMS", "SMS"] and len(alone.unpriced) == 1
