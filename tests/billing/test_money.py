"""Bills round with the contract's rule (half-up to the currency's minor unit), looked up once per currency."""

from decimal import Decimal

import pytest

from billing.money import money_text, round_amount
from pricing.currencies import round_money


@pytest.mark.parametrize("currency", ["EUR", "JPY", "BHD", "USD"])
@pytest.mark.parametrize(
    "amount", ["0.005", "0.0049999", "2.675", "-2.675", "1234567890123456789.9995", "0", "7", "0.5", "1e-30"]
)
def test_round_amount_rounds_exactly_as_round_money(amount, currency):
    """round_amount (the bill run's faster rounding) gives round_money's result, digit for digit."""
    value = Decimal(amount)
    assert str(round_amount(value, currency)) == str(round_money(value, currency))
    assert money_text(value, currency) == str(round_money(value, currency))


def test_round_amount_refuses_an_unknown_currency_every_time():
    """An unknown currency is an error on every call (the failed lookup is not remembered as a result)."""
    for _ in range(2):
        with pytest.raises(ValueError):
            round_amount(Decimal("1.005"), "XXZ")
