"""Currencies and their minor units, from ISO 4217's own data (the `iso4217` package tracks its list).

Only currencies with a minor unit are accepted for prices: a bill rounds every line to its currency's minor
unit, and ISO 4217 gives none for funds codes such as XAU (gold) or XXX (no currency).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache

from iso4217 import Currency

#: Digits of precision for money arithmetic: prices have 28 digits and quantities 24, so exact products and
#: their sums fit with room to spare (the default context's 28 digits would silently round them).
MONEY_PRECISION = 120


@cache
def _exponent(code: str) -> int | None:
    try:
        return Currency(code).exponent
    except ValueError:
        return None


def normalize_currency(code: object) -> str:
    """Return *code* upper-case when it is an ISO 4217 currency with a minor unit; raise ValueError if not."""
    if not isinstance(code, str):
        raise ValueError("A currency is a three-letter ISO 4217 code string, e.g. EUR.")
    upper = code.strip().upper()
    if len(upper) != 3 or not upper.isascii() or _exponent(upper) is None:
        raise ValueError(f"'{code[:16]}' is not an ISO 4217 currency code (e.g. EUR, USD, JPY).")
    return upper


def is_currency(code: object) -> bool:
    """Return whether *code* (any case) is an ISO 4217 currency with a minor unit."""
    try:
        normalize_currency(code)
    except ValueError:
        return False
    return True


def minor_units(code: str) -> int:
    """Return the number of decimal places of *code*'s minor unit (EUR 2, JPY 0, BHD 3); ValueError if unknown."""
    exponent = _exponent(normalize_currency(code))
    assert exponent is not None  # normalize_currency refused currencies without one
    return exponent


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Return *amount* rounded to *currency*'s minor unit, half-up (0.025 EUR -> 0.03), as the contract says."""
    with localcontext(prec=MONEY_PRECISION):
        return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)
