"""Current group ids loaded three ways (prefetch, attach to a page, the property alone) are the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.api.serializers import CustomerSerializer
from customers.models import Customer
from customers.querysets import attach_group_ids
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_with_group_ids_attach_group_ids_and_the_plain_property_agree(django_assert_num_queries):
    groups = GroupFactory.create_batch(4)
    now = timezone.now()
    member, ended, bare = CustomerFactory(), CustomerFactory(), CustomerFactory()
    for i, group in enumerate(groups[:3]):
        MembershipFactory(customer=member, group=group, joined_at=now - timedelta(days=10 - i))
    MembershipFactory(customer=ended, group=groups[3], joined_at=now - timedelta(days=5), left_at=now)

    def queryset():
        return Customer.objects.order_by("created_at")

    plain = [(c.pk, c.group_ids) for c in queryset()]
    with django_assert_num_queries(2):
        prefetched = [(c.pk, c.group_ids) for c in queryset().with_group_ids()]
    with django_assert_num_queries(2):
        attached = [(c.pk, c.group_ids) for c in attach_group_ids(list(queryset()))]

    assert plain == prefetched == attached
    assert dict(plain) == {member.pk: [g.pk for g in groups[:3]], ended.pk: [], bare.pk: []}
    page = attach_group_ids(list(queryset()))
    assert CustomerSerializer(page, many=True).data == CustomerSerializer(queryset().with_group_ids(), many=True).data


def test_attach_group_ids_of_an_empty_page_costs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert attach_group_ids([]) == []
