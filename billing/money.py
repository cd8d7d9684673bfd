"""How bills write amounts and prices: exact decimal strings."""

from __future__ import annotations

from decimal import Decimal

from pricing.currencies import round_money
from pricing.models import decimal_text


def money_text(amount: Decimal, currency: str) -> str:
    """Return *amount* as bills write it in the API: rounded half-up to the minor unit, as a string ("70.00", JPY "70").

    Staff read money in the admin through `billingengine.display.format_money` ("1,234.50 EUR").
    """
    return str(round_money(Decimal(amount), currency))


def format_price(value: Decimal | str | int) -> str:
    """Return a price or tier bound as the rates write it: plain decimal text ("0.0500000000" -> "0.05")."""
    return decimal_text(Decimal(value))
