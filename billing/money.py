"""How bills write amounts and prices: exact decimal strings."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from functools import cache

from pricing.currencies import MONEY_PRECISION, minor_units
from pricing.models import decimal_text


@cache
def _minor_unit(currency: str) -> Decimal:
    """Return *currency*'s minor unit as a quantum (EUR 0.01, JPY 1); ValueError (not remembered) if unknown."""
    return Decimal(1).scaleb(-minor_units(currency))


#: `round_money`'s arithmetic context (its precision; the default traps), built once rather than per call.
_MONEY_CONTEXT = Context(prec=MONEY_PRECISION)


def round_amount(amount: Decimal, currency: str) -> Decimal:
    """Return *amount* rounded half-up to *currency*'s minor unit: `pricing.currencies.round_money`, with the
    minor unit looked up once per currency and the context made once (a bill run rounds every line and tier)."""
    return amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP, context=_MONEY_CONTEXT)


def money_text(amount: Decimal, currency: str) -> str:
    """Return *amount* as bills write it in the API: rounded half-up to the minor unit, as a string ("70.00", JPY "70").

    Staff read money in the admin through `billingengine.display.format_money` ("1,234.50 EUR").
    """
    return str(round_amount(Decimal(amount), currency))


def format_price(value: Decimal | str | int) -> str:
    """Return a price or tier bound as the rates write it: plain decimal text ("0.0500000000" -> "0.05")."""
    return decimal_text(Decimal(value))
