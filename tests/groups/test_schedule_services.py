"""The membership write service's time rules, on each of its paths (the ORM one everywhere, the set-based SQL
one on PostgreSQL): scheduled memberships, "from now" replacements, overlaps and the guards."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billingengine.errors import Conflict, InvalidInput
from groups.guards import membership_guard
from groups.models import Membership
from groups.services import memberships_end, memberships_replace, memberships_start
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

METHODS = [
    "orm",
    pytest.param("sql", marks=pytest.mark.postgres),
]


def state(customer) -> list[tuple]:
    return list(
        Membership.objects.filter(customer=customer)
        .order_by("joined_at")
        .values_list("group_id", "joined_at", "left_at")
    )


@pytest.mark.parametrize("method", METHODS)
def test_replace_starts_a_scheduled_membership_of_a_wanted_group_now_instead_of_overlapping_it(method):
    vip = GroupFactory()
    customer = CustomerFactory()
    later = timezone.now() + timedelta(days=5)
    first = MembershipFactory(customer=customer, group=vip, joined_at=later, left_at=later + timedelta(days=5))
    second = MembershipFactory(customer=customer, group=vip, joined_at=later + timedelta(days=10))
    at = timezone.now()

    changed = memberships_replace(customer_ids_to_group_ids={customer.pk: [vip.pk]}, at=at, method=method)

    assert changed == {customer.pk}
    first.refresh_from_db()
    assert (first.joined_at, first.left_at) == (at, later + timedelta(days=5))  # the earliest one moved
    assert Membership.objects.get(pk=second.pk).joined_at == later + timedelta(days=10)
    assert Membership.objects.count() == 2
    assert [h.history_type for h in Membership.history.filter(id=first.pk).order_by("history_id")] == ["+", "~"]


@pytest.mark.parametrize("method", METHODS)
def test_replace_ends_current_memberships_with_a_planned_end_and_keeps_other_groups_plans(method):
    vip, gold, other = GroupFactory(), GroupFactory(), GroupFactory()
    customer = CustomerFactory()
    now = timezone.now()
    ending = MembershipFactory(
        customer=customer, group=vip, joined_at=now - timedelta(days=5), left_at=now + timedelta(days=5)
    )
    planned = MembershipFactory(customer=customer, group=gold, joined_at=now + timedelta(days=3))
    at = timezone.now()

    memberships_replace(customer_ids_to_group_ids={customer.pk: [other.pk]}, at=at, method=method)

    ending.refresh_from_db()
    assert ending.left_at == at
    assert Membership.objects.get(pk=planned.pk).joined_at == now + timedelta(days=3)
    assert list(Membership.objects.current().filter(customer=customer).values_list("group_id", flat=True)) == [other.pk]


@pytest.mark.parametrize("method", METHODS)
def test_replace_keeps_a_current_membership_with_its_planned_end(method):
    vip = GroupFactory()
    customer = CustomerFactory()
    now = timezone.now()
    ending = MembershipFactory(
        customer=customer, group=vip, joined_at=now - timedelta(days=5), left_at=now + timedelta(days=5)
    )
    before = state(customer)

    changed = memberships_replace(customer_ids_to_group_ids={customer.pk: [vip.pk]}, method=method)

    assert changed == set()
    assert state(customer) == before
    ending.refresh_from_db()
    assert ending.left_at == now + timedelta(days=5)


@pytest.mark.parametrize("method", METHODS)
def test_replace_asks_the_guards_about_the_customers_that_change_and_a_refusal_writes_nothing(method):
    vip = GroupFactory()
    changes, stays = CustomerFactory(), CustomerFactory()
    MembershipFactory(customer=stays, group=vip, joined_at=timezone.now() - timedelta(days=1))
    seen = []

    def refuse(*, customer_ids, at):
        seen.append((set(customer_ids), at))
        raise Conflict("Billed.", code="period_billed")

    at = timezone.now()
    with membership_guard(refuse), pytest.raises(Conflict) as error:
        memberships_replace(customer_ids_to_group_ids={changes.pk: [vip.pk], stays.pk: [vip.pk]}, at=at, method=method)

    assert error.value.code == "period_billed"
    assert seen == [({changes.pk}, at)]
    assert not Membership.objects.filter(customer=changes).exists()


def test_start_with_an_explicit_time_refuses_every_overlap_and_writes_nothing_for_anyone():
    vip = GroupFactory()
    free, taken = CustomerFactory(), CustomerFactory()
    existing = MembershipFactory(customer=taken, group=vip, joined_at=timezone.now() - timedelta(days=1))

    with pytest.raises(Conflict) as error:
        memberships_start(group=vip, customer_ids=[free.pk, taken.pk], at=timezone.now() + timedelta(days=1))

    assert error.value.code == "membership_overlap"
    assert error.value.extra["existing_id"] == str(existing.pk)
    assert not Membership.objects.filter(customer=free).exists()


def test_start_without_a_time_is_idempotent_for_current_members_only():
    vip = GroupFactory()
    current, ending_soon = CustomerFactory(), CustomerFactory()
    kept = MembershipFactory(customer=current, group=vip, joined_at=timezone.now() - timedelta(days=1))
    soon = MembershipFactory(
        customer=ending_soon,
        group=vip,
        joined_at=timezone.now() - timedelta(days=1),
        left_at=timezone.now() + timedelta(days=1),
    )

    result = memberships_start(group=vip, customer_ids=[current.pk, ending_soon.pk])

    assert result.started == [] and sorted(m.pk for m in result.existing) == sorted([kept.pk, soon.pk])


def test_end_refuses_to_end_a_membership_when_it_starts():
    membership = MembershipFactory(joined_at=timezone.now() - timedelta(days=1))
    with pytest.raises(InvalidInput) as error:
        memberships_end(group=membership.group, customer_ids=[membership.customer_id], at=membership.joined_at)
    assert (error.value.code, error.value.field) == ("ends_before_start", "left_at")
    assert Membership.objects.get().left_at is None


def test_end_at_a_past_moment_ends_the_membership_current_then_not_a_later_one():
    vip, customer = GroupFactory(), CustomerFactory()
    now = timezone.now()
    earlier = MembershipFactory(
        customer=customer, group=vip, joined_at=now - timedelta(days=30), left_at=now - timedelta(days=10)
    )
    later = MembershipFactory(customer=customer, group=vip, joined_at=now - timedelta(days=5))

    ended = memberships_end(group=vip, customer_ids=[customer.pk], at=now - timedelta(days=20))

    assert [m.pk for m in ended] == [earlier.pk]
    assert Membership.objects.get(pk=earlier.pk).left_at == now - timedelta(days=20)
    assert Membership.objects.get(pk=later.pk).left_at is None
