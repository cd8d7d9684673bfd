"""Factories of the pricing models (kept beside the pricing tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import factory

from pricing.models import PriceList, Rate


class PriceListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceList

    name = factory.Sequence(lambda n: f"Price list {n}")
    currency = "EUR"
    priority = factory.Sequence(lambda n: n)


class RateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rate

    price_list = factory.SubFactory(PriceListFactory)
    code = "SMS"
    model = Rate.Model.UNIT
    valid_from = datetime(2026, 1, 1, tzinfo=UTC)
    unit_price = Decimal("0.05")


GRADUATED_TIERS = [
    {"up_to": "1000", "unit_price": "0.05", "flat_price": "0"},
    {"up_to": None, "unit_price": "0.04", "flat_price": "0"},
]
