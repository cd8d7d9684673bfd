"""Amounts at the four rate models: exact decimals, tiers with inclusive upper bounds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.amounts import Priced, TierLine, price
from pricing.currencies import round_money
from pricing.models import Rate

D = Decimal
EXAMPLE_TIERS = [
    {"up_to": "1000", "unit_price": "0.05", "flat_price": "0"},
    {"up_to": None, "unit_price": "0.04", "flat_price": "0"},
]


def unit(unit_price: str) -> Rate:
    return Rate(model="unit", unit_price=D(unit_price))


def tiered(model: str, tiers: list[dict]) -> Rate:
    return Rate(model=model, tiers=tiers)


def package(size: str, package_price: str) -> Rate:
    return Rate(model="package", package_size=D(size), package_price=D(package_price))


def test_unit_amount_is_quantity_times_unit_price_exactly():
    assert price(unit("0.0005"), D("1500")) == Priced(D("0.7500"), [])
    assert price(unit("0.067"), D("55")).amount == D("3.685")  # unrounded: the caller rounds once


def test_graduated_example_of_the_contract_is_70():
    priced = price(tiered("graduated", EXAMPLE_TIERS), D("1500"))
    assert round_money(priced.amount, "EUR") == D("70.00")
    assert priced.tiers == [
        TierLine(D("1000"), D("1000"), D("0.05"), D("0"), D("50.00")),
        TierLine(None, D("500"), D("0.04"), D("0"), D("20.00")),
    ]


def test_volume_example_of_the_contract_is_60():
    priced = price(tiered("volume", EXAMPLE_TIERS), D("1500"))
    assert round_money(priced.amount, "EUR") == D("60.00")
    assert priced.tiers == [TierLine(None, D("1500"), D("0.04"), D("0"), D("60.00"))]


@pytest.mark.parametrize(
    ("quantity", "graduated", "volume"),
    [
        # up_to is inclusive: 1000 is still in the first tier, anything above it in the second.
        ("999.999999", "49.99999995", "49.99999995"),
        ("1000", "50.00", "50.00"),
        ("1000.000001", "50.00000004", "40.00000004"),
        ("0.000001", "0.00000005", "0.00000005"),
    ],
)
def test_fractional_quantities_at_a_tier_boundary_fall_in_exactly_one_tier(quantity, graduated, volume):
    assert price(tiered("graduated", EXAMPLE_TIERS), D(quantity)).amount == D(graduated)
    assert price(tiered("volume", EXAMPLE_TIERS), D(quantity)).amount == D(volume)


def test_boundary_quantities_put_the_tier_quantities_where_they_belong():
    lines = price(tiered("graduated", EXAMPLE_TIERS), D("1000.000001")).tiers
    assert [(line.up_to, line.quantity) for line in lines] == [(D("1000"), D("1000")), (None, D("0.000001"))]
    lines = price(tiered("graduated", EXAMPLE_TIERS), D("1000")).tiers
    assert [(line.up_to, line.quantity) for line in lines] == [(D("1000"), D("1000"))]


FLAT_TIERS = [
    {"up_to": "100", "unit_price": "0", "flat_price": "10"},
    {"up_to": "1000", "unit_price": "0.02", "flat_price": "5"},
    {"up_to": None, "unit_price": "0.01", "flat_price": "1"},
]


def test_graduated_charges_the_flat_price_of_every_tier_reached():
    assert price(tiered("graduated", FLAT_TIERS), D("50")).amount == D("10")
    assert price(tiered("graduated", FLAT_TIERS), D("100")).amount == D("10")  # the second tier is not reached
    assert price(tiered("graduated", FLAT_TIERS), D("100.5")).amount == D("10") + D("0.5") * D("0.02") + D("5")
    assert price(tiered("graduated", FLAT_TIERS), D("1500")).amount == D("10") + D("18") + D("5") + D("5") + D("1")


def test_volume_charges_only_the_flat_price_of_the_tier_holding_the_quantity():
    assert price(tiered("volume", FLAT_TIERS), D("50")).amount == D("10")
    assert price(tiered("volume", FLAT_TIERS), D("500")).amount == D("500") * D("0.02") + D("5")
    assert price(tiered("volume", FLAT_TIERS), D("1500")).amount == D("15") + D("1")


@pytest.mark.parametrize("model", ["unit", "graduated", "volume", "package"])
def test_zero_quantity_reaches_no_tier_and_costs_nothing(model):
    rate = {
        "unit": unit("2"),
        "graduated": tiered("graduated", FLAT_TIERS),
        "volume": tiered("volume", FLAT_TIERS),
        "package": package("100", "3"),
    }[model]
    assert price(rate, D("0")) == Priced(D("0"), [])


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [("0.000001", "3"), ("100", "3"), ("100.000001", "6"), ("250", "9"), ("300", "9")],
)
def test_package_charges_every_started_package(quantity, amount):
    assert price(package("100", "3"), D(quantity)).amount == D(amount)


def test_package_with_a_fractional_size():
    assert price(package("0.5", "1.25"), D("1.2")).amount == D("3.75")


def test_big_prices_and_quantities_multiply_without_rounding():
    """The default decimal context (28 digits) would round this 52-digit product."""
    big = unit("999999999999999999.9999999999")
    quantity = D("999999999999999999.999999")
    exact = D(f"{9999999999999999999999999999 * 999999999999999999999999}E-16")  # integer arithmetic, exact
    assert price(big, quantity).amount == exact
    assert len(exact.as_tuple().digits) > 28


def test_negative_quantities_are_refused():
    with pytest.raises(ValueError):
        price(unit("1"), D("-1"))


quantities = st.decimals(min_value=0, max_value=10**7, places=6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(a=quantities, b=quantities)
def test_graduated_amount_never_falls_when_the_quantity_grows(a, b):
    low, high = sorted((a, b))
    rate = tiered("graduated", FLAT_TIERS)
    assert price(rate, low).amount <= price(rate, high).amount


@settings(max_examples=300, deadline=None)
@given(q=quantities)
def test_graduated_tier_quantities_add_up_to_the_quantity(q):
    priced = price(tiered("graduated", FLAT_TIERS), q)
    assert sum((line.quantity for line in priced.tiers), D(0)) == q
    assert sum((line.amount for line in priced.tiers), D(0)) == priced.amount
    assert all(line.quantity > 0 for line in priced.tiers)
