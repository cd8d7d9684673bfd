"""How bills write amounts and prices: exact decimal strings."""

from __future__ import annotations

from decimal import Decimal

from pricing.currencies import round_money
from pricing.models import decimal_text


def format_money(amount: Decimal, currency: str) -> str:
    """Return *amount* rounded half-up to *currency*'s minor unit, as a string ("70.00", JPY "70")."""
    return str(round_money(Decimal(amount), currency))


def format_price(value: Decimal | str | int) -> str:
    """Return a price or tier bound as the rates write it: plain decimal text ("0.0500000000" -> "0.05")."""
    return decimal_text(Decimal(value))
