"""Currencies and their minor units come from ISO 4217's list; money rounds half-up once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pricing.currencies import is_currency, minor_units, normalize_currency, round_money


@pytest.mark.parametrize(("code", "digits"), [("EUR", 2), ("JPY", 0), ("BHD", 3), ("USD", 2), ("CLF", 4)])
def test_minor_units_are_iso_4217s(code, digits):
    assert minor_units(code) == digits


@pytest.mark.parametrize("code", ["ABC", "DEM", "EURO", "EU", "", "XAU", "XXX", "€", 978, None, ["EUR"]])
def test_unknown_or_unbillable_currencies_are_refused(code):
    """DEM is withdrawn; XAU (gold) and XXX have no minor unit, so no bill can be rounded in them."""
    assert not is_currency(code)
    with pytest.raises(ValueError):
        normalize_currency(code)


def test_minor_units_of_an_unknown_code_raise():
    with pytest.raises(ValueError):
        minor_units("ZZZ")


@pytest.mark.parametrize("code", ["eur", "Eur", " EUR "])
def test_currency_codes_are_accepted_in_any_case_and_returned_upper_case(code):
    assert is_currency(code)
    assert normalize_currency(code) == "EUR"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.025", "EUR", "0.03"),  # half-even would give 0.02
        ("0.015", "EUR", "0.02"),
        ("-0.025", "EUR", "-0.03"),
        ("3.685", "EUR", "3.69"),
        ("2.5", "JPY", "3"),
        ("0.0005", "BHD", "0.001"),
        ("70", "EUR", "70.00"),
        ("123456789012345678.12345678901234567890", "EUR", "123456789012345678.12"),
    ],
)
def test_round_money_is_half_up_to_the_minor_unit(amount, currency, expected):
    rounded = round_money(Decimal(amount), currency)
    assert str(rounded) == expected
