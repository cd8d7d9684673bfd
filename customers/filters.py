"""Query filters of the customer list."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError
from django_countries import countries

from billingengine.api.filters import FormCachedFilterSet, NameContainsFilter, SearchFilter, TimestampFilter
from billingengine.validators import no_control_characters
from customers.models import Customer


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """Comma-separated values, matched exactly."""


def _country_code(value: str) -> None:
    if value and value.upper() not in dict(countries):
        # The value goes in params: django-filter %-formats messages, so a raw "%" in one would crash.
        raise ValidationError(
            "'%(value)s' is not an ISO 3166-1 alpha-2 country code.",
            code="invalid_country",
            params={"value": value[:16]},
        )


class CustomerFilterSet(FormCachedFilterSet):
    """Filters of `GET /api/v1/customers` (the form class built once: billingengine/api/filters.py)."""

    external_id = CharInFilter(
        field_name="external_id",
        lookup_expr="in",
        validators=[no_control_characters],
        help_text="Exact external_id; several comma-separated.",
    )
    q = SearchFilter(help_text="Case-insensitive search in name, external_id, tax_id and vat_id.")
    name = NameContainsFilter()
    group = django_filters.UUIDFilter(method="filter_group", help_text="Current member of this group id.")
    address_country = django_filters.CharFilter(
        method="filter_country", max_length=2, validators=[_country_code], help_text="ISO 3166-1 alpha-2 code."
    )
    created_after = TimestampFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after this RFC 3339 timestamp."
    )
    created_before = TimestampFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before this RFC 3339 timestamp."
    )
    updated_since = TimestampFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after this RFC 3339 timestamp."
    )

    class Meta:
        model = Customer
        fields = ()

    def filter_group(self, queryset, name, value):
        return queryset.in_group(value)

    def filter_country(self, queryset, name, value):
        return queryset.filter(address_country=value.upper())
