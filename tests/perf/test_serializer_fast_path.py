"""The customer serializer's fast read path gives exactly what DRF's per-field path gives."""

from __future__ import annotations

import zoneinfo

import pytest
from django.utils import timezone
from rest_framework import serializers

from customers.api.serializers import CustomerSerializer
from customers.models import Customer
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def _drf(customer) -> dict:
    serializer = CustomerSerializer()
    return dict(serializers.ModelSerializer.to_representation(serializer, customer))


def _customers():
    full = CustomerFactory(
        tax_id="GB123456789",
        vat_id="GB123456789",
        address_street="1 Example Street\nFloor 2",
        address_city="London",
        address_zip="EC1A 1BB",
        address_country="gb",
    )
    for group in GroupFactory.create_batch(3):
        MembershipFactory(customer=full, group=group)
    bare = CustomerFactory(external_id=None, address_country=None)
    return list(Customer.objects.with_group_ids().filter(pk__in=[full.pk, bare.pk]))


def test_fast_representation_equals_drfs_for_full_and_bare_customers():
    customers = _customers()
    for customer in customers:
        fast = CustomerSerializer(customer).data
        assert fast == _drf(customer)
        assert list(fast) == list(CustomerSerializer().fields)
    assert CustomerSerializer(customers, many=True).data == [_drf(c) for c in customers]
    full = next(c for c in customers if c.tax_id)
    assert len(CustomerSerializer(full).data["group_ids"]) == 3
    assert CustomerSerializer(full).data["address_country"] == "GB"


def test_fast_representation_follows_the_active_time_zone_like_drf():
    customer = _customers()[0]
    with timezone.override(zoneinfo.ZoneInfo("Asia/Tokyo")):
        assert CustomerSerializer(customer).data == _drf(customer)
