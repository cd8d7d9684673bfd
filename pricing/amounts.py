"""What a quantity costs at a rate: exact decimals, unrounded (the caller rounds each line once).

Tiers (graduated and volume): `up_to` is an inclusive upper bound and the next tier starts right above it,
so every quantity, fractional ones included, falls in exactly one tier: with `up_to` 1000, 1000 is in the
first tier and 1000.000001 in the second.

A tier is *reached* when it contains some of the quantity (more than zero of it). Its `flat_price` is charged
only then, so a quantity of 0 reaches no tier and costs 0 under every model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, Inexact, localcontext
from typing import Protocol

from pricing.currencies import MONEY_PRECISION
from pricing.models import Rate, Tier

ZERO = Decimal(0)


class RateTerms(Protocol):
    """What `price` reads of a rate (a `Rate` instance has it)."""

    model: str
    unit_price: Decimal | None
    package_size: Decimal | None
    package_price: Decimal | None

    def tier_table(self) -> list[Tier]: ...


@dataclass(frozen=True)
class TierLine:
    """The part of a quantity one tier priced: quantity * unit_price + flat_price = amount."""

    up_to: Decimal | None
    quantity: Decimal
    unit_price: Decimal
    flat_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Priced:
    """The exact (unrounded) amount of a quantity at a rate, and the tiers that priced it (tiered models)."""

    amount: Decimal
    tiers: list[TierLine] = field(default_factory=list)


def price(rate: RateTerms, quantity: Decimal) -> Priced:
    """Return what *quantity* costs at *rate*, exactly (no rounding anywhere).

    unit: quantity * unit_price. graduated: each unit at the price of the tier it falls in, plus the flat price
    of every tier reached. volume: every unit at the price of the tier holding the whole quantity, plus that
    tier's flat price. package: ceil(quantity / package_size) * package_price. Tier lines list the tiers
    reached (none for quantity 0, or for the unit and package models).
    """
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise TypeError("quantity must be a finite Decimal")
    if quantity < 0:
        raise ValueError(f"Cannot price a negative quantity ({quantity}).")
    # Enough digits for any product of a price and a quantity, and Inexact trapped: a rounding here would be a
    # bug, so it raises instead of passing unnoticed.
    with localcontext(prec=MONEY_PRECISION, traps=[Inexact]):
        model = Rate.Model(rate.model)
        if quantity == 0:
            return Priced(ZERO)
        if model is Rate.Model.UNIT:
            return Priced(quantity * rate.unit_price)
        if model is Rate.Model.PACKAGE:
            packages, rest = divmod(quantity, rate.package_size)
            if rest:
                packages += 1
            return Priced(packages * rate.package_price)
        tiers = rate.tier_table()
        if model is Rate.Model.GRADUATED:
            return _graduated(tiers, quantity)
        return _volume(tiers, quantity)


def _graduated(tiers: list[Tier], quantity: Decimal) -> Priced:
    lines: list[TierLine] = []
    below = ZERO  # the quantity the tiers before this one hold
    for tier in tiers:
        if quantity <= below:
            break
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        part = top - below
        lines.append(
            TierLine(tier.up_to, part, tier.unit_price, tier.flat_price, part * tier.unit_price + tier.flat_price)
        )
        if tier.up_to is None:
            break
        below = tier.up_to
    return Priced(sum((line.amount for line in lines), ZERO), lines)


def _volume(tiers: list[Tier], quantity: Decimal) -> Priced:
    tier = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
    amount = quantity * tier.unit_price + tier.flat_price
    return Priced(amount, [TierLine(tier.up_to, quantity, tier.unit_price, tier.flat_price, amount)])
