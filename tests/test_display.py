"""Numbers, money and moments in the admin: one format each (`billingengine.display`), used by every app's admin."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from billingengine.display import format_moment, format_money, format_quantity


def test_money_shows_thousands_separators_the_minor_unit_and_its_currency():
    assert format_money(Decimal("1234.5"), "EUR") == "1,234.50 EUR"
    assert format_money("70", "EUR") == "70.00 EUR"
    assert format_money(Decimal("-1234567.125"), "EUR") == "-1,234,567.125 EUR"  # never rounded here
    assert format_money(Decimal("1235"), "JPY") == "1,235 JPY"
    assert format_money(Decimal("1.5"), "BHD") == "1.500 BHD"
    assert format_money(None, "EUR") == "—"


def test_quantities_drop_trailing_zeros_and_keep_thousands_separators():
    assert format_quantity(Decimal("1234.500")) == "1,234.5"
    assert format_quantity(Decimal("12.000000")) == "12"


def test_moments_are_shown_with_seconds_and_the_time_zone():
    assert format_moment(datetime(2026, 3, 1, 14, 5, 9, tzinfo=UTC)) == "2026-03-01 14:05:09 UTC"
    assert format_moment(None) == "—"
