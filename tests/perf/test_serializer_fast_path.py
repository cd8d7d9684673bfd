"""The serializers' fast paths (billingengine/api/fastpath.py) give exactly what DRF's plain paths give."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

from customers.api.serializers import CustomerSerializer
from customers.models import Customer
from groups.api.serializers import GroupSerializer, MembershipSerializer
from groups.models import Group
from records.api.serializers import DataRecordSerializer
from tests.factories import CustomerFactory, DataRecordFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def _plain_serializer(serializer_class):
    """An instance whose fields DRF built the ordinary way (not from the per-class cache)."""
    serializer = serializer_class()
    fields = BindingDict(serializer)
    for name, field in serializers.ModelSerializer.get_fields(serializer).items():
        fields[name] = field
    serializer.fields = fields
    return serializer


def _drf(customer) -> dict:
    return dict(serializers.ModelSerializer.to_representation(_plain_serializer(CustomerSerializer), customer))


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


def _plain(serializer_class, instance) -> dict:
    """DRF's own representation: fields built the ordinary way, read through the generic path."""
    return dict(serializers.ModelSerializer.to_representation(_plain_serializer(serializer_class), instance))


def test_group_serializer_fast_path_equals_drfs_with_and_without_the_member_count():
    group = GroupFactory(description="Key accounts")
    MembershipFactory(group=group)
    annotated = Group.objects.with_customer_count().get(pk=group.pk)
    assert GroupSerializer(annotated).data == _plain(GroupSerializer, annotated)
    assert GroupSerializer(annotated).data["customer_count"] == 1
    plain = Group.objects.get(pk=group.pk)  # no annotation: the serializer counts, as before
    assert GroupSerializer(plain).data == {**_plain(GroupSerializer, plain), "customer_count": 1}


def test_membership_and_record_serializers_fast_path_equals_drfs():
    membership = MembershipFactory()
    assert MembershipSerializer(membership).data == _plain(MembershipSerializer, membership)
    record = DataRecordFactory(quantity=Decimal("1.250"))
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        assert DataRecordSerializer(record).data == _plain(DataRecordSerializer, record)


def test_fields_built_once_per_class_are_fresh_objects_for_every_serializer():
    """The per-class field cache hands out copies: a field bound to one serializer is never another's."""
    first, second = CustomerSerializer(), CustomerSerializer()
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
    assert list(first.fields) == list(_plain_fields(CustomerSerializer))


def _plain_fields(serializer_class):
    return serializers.ModelSerializer.get_fields(serializer_class())


def test_validation_through_cached_fields_matches_plain_fields():
    """Errors on one serializer's cached fields do not leak into the next one's."""
    bad = CustomerSerializer(data={"name": "", "address_country": "xx", "nope": 1})
    assert not bad.is_valid()
    assert set(bad.errors) == {"name", "address_country", "nope"}
    good = CustomerSerializer(data={"name": "Acme Ltd", "address_country": "de"})
    assert good.is_valid(), good.errors
    assert good.validated_data["address_country"] == "DE"


@pytest.mark.postgres
def test_retrieve_and_list_read_the_same_current_group_ids_in_one_query_as_the_plain_path(readonly_api):
    """`with_group_id_array()` (the API's retrieve and list on PostgreSQL) lists exactly the groups current now
    (joined_at <= now < left_at, no left_at: open), in `group_ids` order, as the plain property does."""
    from datetime import timedelta

    from customers.querysets import attach_group_id_array

    customer = CustomerFactory()
    now = timezone.now()
    earlier, tied = now - timedelta(days=3), now - timedelta(days=2)
    groups = GroupFactory.create_batch(7)
    MembershipFactory(customer=customer, group=groups[0], joined_at=tied)  # open, tied joined_at
    MembershipFactory(customer=customer, group=groups[1], joined_at=tied)  # open, tied joined_at
    MembershipFactory(customer=customer, group=groups[2], joined_at=earlier, left_at=now + timedelta(days=1))
    MembershipFactory(customer=customer, group=groups[3], joined_at=earlier, left_at=now - timedelta(days=1))
    MembershipFactory(customer=customer, group=groups[4], joined_at=now + timedelta(days=1))  # scheduled
    MembershipFactory(customer=customer, group=groups[5], joined_at=now - timedelta(days=1))
    plain = Customer.objects.get(pk=customer.pk).group_ids  # no prefetch: the property's own query
    assert set(plain) == {groups[i].pk for i in (0, 1, 2, 5)}
    one_query = attach_group_id_array(Customer.objects.with_group_id_array().get(pk=customer.pk))
    assert one_query.group_ids == plain
    bare = CustomerFactory()
    assert attach_group_id_array(Customer.objects.with_group_id_array().get(pk=bare.pk)).group_ids == []
    expected = CustomerSerializer(Customer.objects.get(pk=customer.pk)).data
    assert readonly_api.get(f"/api/v1/customers/{customer.pk}").json() == expected
    page = readonly_api.get("/api/v1/customers?page_size=100").json()["results"]
    plain = CustomerSerializer(Customer.objects.order_by("created_at", "id"), many=True).data
    assert page == plain
    assert [c["group_ids"] for c in page] == [[str(g) for g in expected["group_ids"]], []]
