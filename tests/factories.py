"""One factory-boy factory per model."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.models import Customer
from groups.models import Group, Membership


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n} Ltd")
    external_id = factory.Sequence(lambda n: f"EXT-CU-{n:06d}")
    address_country = "GB"


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    name = factory.Sequence(lambda n: f"Group {n}")
    description = ""


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    group = factory.SubFactory(GroupFactory)
    customer = factory.SubFactory(CustomerFactory)
    joined_at = factory.LazyFunction(timezone.now)
    left_at = None


class DataRecordFactory(factory.django.DjangoModelFactory):
    """A data record as stored (tests that need the rollup too submit through `records.services`)."""

    class Meta:
        model = "records.DataRecord"

    customer_id = factory.LazyFunction(lambda: CustomerFactory().pk)
    customer_external_id = None
    customer_name = "Customer Ltd"
    code = "SMS"
    quantity = 1
    time_from = factory.LazyFunction(timezone.now)
    transaction_id = factory.Sequence(lambda n: f"tx-{n}")
