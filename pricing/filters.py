"""Query filters of the price list and rate lists."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError

from billingengine.api.filters import TimestampFilter
from billingengine.validators import no_control_characters
from pricing.currencies import is_currency
from pricing.models import PriceList, Rate
from records.models import code_validator


def _currency_code(value: str) -> None:
    if value and not is_currency(value):
        # The value goes in params: django-filter %-formats messages, so a raw "%" in one would crash.
        raise ValidationError(
            "'%(value)s' is not an ISO 4217 currency code.", code="unknown_currency", params={"value": value[:16]}
        )


class PriceListFilterSet(django_filters.FilterSet):
    """Filters of `GET /api/v1/price-lists`."""

    scope = django_filters.ChoiceFilter(
        choices=PriceList.Scope.choices, method="filter_scope", help_text="default, group or customer."
    )
    group = django_filters.UUIDFilter(field_name="group_id", help_text="Lists of this group id.")
    customer = django_filters.UUIDFilter(field_name="customer_id", help_text="Lists of this customer id.")
    currency = django_filters.CharFilter(
        method="filter_currency", max_length=3, validators=[_currency_code], help_text="ISO 4217 code, any case."
    )
    q = django_filters.CharFilter(
        method="filter_q",
        validators=[no_control_characters],
        help_text="Case-insensitive search in name and description.",
    )

    class Meta:
        model = PriceList
        fields = ()

    def filter_scope(self, queryset, name, value):
        return queryset.of_scope(value)

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency=value.strip().upper())

    def filter_q(self, queryset, name, value):
        return queryset.search(value)


class RateFilterSet(django_filters.FilterSet):
    """Filters of `GET /api/v1/price-lists/{id}/rates`."""

    code = django_filters.CharFilter(max_length=64, validators=[code_validator], help_text="Rates of this code.")
    at = TimestampFilter(method="filter_at", help_text="Rates in force at this RFC 3339 timestamp.")

    class Meta:
        model = Rate
        fields = ()

    def filter_at(self, queryset, name, value):
        return queryset.valid_at(value)
