"""Numbers, money and moments as staff read them in the admin: one format each, used by every app's admin."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.timezone import localtime
from iso4217 import Currency


def format_quantity(value: Decimal | int | None) -> str:
    """Return a quantity as staff read it: thousands separators, no trailing zeros ("1,234.5", "12")."""
    if value is None:
        return "—"
    value = Decimal(value)
    text = format(value.normalize() if value == value.to_integral_value() else value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = f"{int(whole.lstrip('-') or 0):,}"
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _minor_units(currency: str) -> int:
    try:
        exponent = Currency(currency.upper()).exponent
    except (ValueError, AttributeError):
        exponent = None
    return 2 if exponent is None else exponent


def format_money(amount: Decimal | str | int | None, currency: str) -> str:
    """Return an amount with its currency, e.g. "1,234.50 EUR" or "1,235 JPY".

    At least the currency's minor unit of decimals ("70" EUR -> "70.00 EUR"), more if the amount has them; the
    amount is shown as given, never rounded here (bills round when they are issued).
    """
    if amount is None or amount == "":
        return "—"
    amount = Decimal(amount)
    places = _minor_units(currency)
    if amount.as_tuple().exponent > -places:
        amount = amount.quantize(Decimal(1).scaleb(-places))
    sign = "-" if amount < 0 else ""
    whole, _, fraction = format(abs(amount), "f").partition(".")
    return f"{sign}{int(whole):,}.{fraction} {currency}" if fraction else f"{sign}{int(whole):,} {currency}"


def format_moment(value: datetime | None) -> str:
    """Return a moment in the admin's one format, with its time zone: "2026-03-01 14:05:09 UTC"."""
    if value is None:
        return "—"
    return date_format(localtime(value), "DATETIME_FORMAT")
