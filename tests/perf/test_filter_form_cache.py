"""`FormCachedFilterSet` (billingengine/api/filters.py) builds the customer filters' form class once per class,
model and language, and validates and filters exactly as django-filter's own form class built per request."""

from __future__ import annotations

import django_filters
import pytest
from django.http import QueryDict
from django.utils import translation

from customers.filters import CustomerFilterSet
from customers.models import Customer

pytestmark = pytest.mark.django_db

QUERIES = (
    "",
    "external_id=A,B",
    "q=acme&name=ltd",
    "group=0b6b7c4e-9a47-4a3c-9d6c-1f6f5c1a2b3c",
    "group=nope",
    "address_country=de",
    "address_country=XX",
    "address_country=%25s",
    "created_after=2024-01-01T00:00:00Z&created_before=2025-01-01T00:00:00%2B02:00",
    "updated_since=yesterday",
    "created_after=9999-12-31T23:59:59-23:00",
    "external_id=%01",
    "name=" + "x" * 300,
)


def _plain(query: str) -> CustomerFilterSet:
    """The filter set with django-filter's own `get_form_class` (built for this request)."""
    filterset = CustomerFilterSet(QueryDict(query), queryset=Customer.objects.all())
    form_class = django_filters.FilterSet.get_form_class(filterset)
    filterset._form = form_class(filterset.data, prefix=filterset.form_prefix)
    return filterset


@pytest.mark.parametrize("query", QUERIES)
def test_the_cached_form_validates_and_filters_as_the_plain_one(query):
    for _ in range(2):  # the first builds the form class, the second reads it from the cache
        cached = CustomerFilterSet(QueryDict(query), queryset=Customer.objects.all())
        plain = _plain(query)
        assert cached.is_valid() == plain.is_valid()
        assert cached.errors.get_json_data() == plain.errors.get_json_data()
        if plain.is_valid():
            assert str(cached.qs.query) == str(plain.qs.query)
            assert cached.form.cleaned_data == plain.form.cleaned_data


def test_each_request_gets_its_own_form_and_fields():
    first = CustomerFilterSet(QueryDict("address_country=XX"), queryset=Customer.objects.all())
    assert not first.is_valid()
    second = CustomerFilterSet(QueryDict("address_country=de"), queryset=Customer.objects.all())
    assert second.is_valid(), second.errors
    assert type(first.form) is type(second.form)  # one class
    assert first.form is not second.form
    assert all(first.form.fields[name] is not second.form.fields[name] for name in first.form.fields)


def test_the_form_class_follows_the_active_language():
    with translation.override("en"):
        english = type(CustomerFilterSet(QueryDict(""), queryset=Customer.objects.all()).form)
    with translation.override("de"):
        german = type(CustomerFilterSet(QueryDict(""), queryset=Customer.objects.all()).form)
    with translation.override("en"):
        again = type(CustomerFilterSet(QueryDict(""), queryset=Customer.objects.all()).form)
    assert english is again
    assert german is not english
