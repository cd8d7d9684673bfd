"""The membership services: many customers at once, a moment of change, the acting user and a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billingengine.errors import InvalidInput
from customers.models import Customer
from groups.models import Membership
from groups.services import memberships_end, memberships_replace, memberships_start
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_memberships_start_adds_many_customers_once_with_history_user_and_reason(admin_user):
    group = GroupFactory()
    member, *others = CustomerFactory.create_batch(3)
    MembershipFactory(group=group, customer=member)

    result = memberships_start(
        group=group, customer_ids=[c.pk for c in [member, *others, others[0]]], user=admin_user, reason="campaign"
    )

    assert sorted(m.customer_id for m in result.started) == sorted(c.pk for c in others)
    assert [m.customer_id for m in result.existing] == [member.pk]
    assert Membership.objects.current().filter(group=group).count() == 3
    history = Membership.history.filter(history_type="+", customer_id__in=[c.pk for c in others])
    assert [(h.history_user, h.history_change_reason) for h in history] == [(admin_user, "campaign")] * 2


def test_a_membership_starting_later_is_not_current_until_then():
    group, customer = GroupFactory(), CustomerFactory()
    later = timezone.now() + timedelta(days=3)

    memberships_start(group=group, customer_ids=[customer.pk], at=later)

    assert not Membership.objects.current().exists()
    assert Membership.objects.active_at(later).get().joined_at == later
    assert not Customer.objects.in_group(group).exists()
    assert list(Customer.objects.in_group(group, at=later + timedelta(seconds=1))) == [customer]


def test_a_membership_ending_later_is_current_until_then():
    membership = MembershipFactory(joined_at=timezone.now() - timedelta(days=1))
    later = timezone.now() + timedelta(days=3)

    memberships_end(group=membership.group, customer_ids=[membership.customer_id], at=later)

    assert Membership.objects.current().get() == membership
    assert not Membership.objects.active_at(later).exists()


def test_memberships_end_before_they_start_is_refused_and_nothing_changes():
    membership = MembershipFactory()
    with pytest.raises(InvalidInput) as error:
        memberships_end(memberships=[membership], at=membership.joined_at - timedelta(days=1))
    assert error.value.code == "ends_before_start"
    assert Membership.objects.get().left_at is None


def test_memberships_replace_keeps_staying_memberships_ends_others_and_reports_who_changed():
    a, b, c = GroupFactory.create_batch(3)
    stays, moves = CustomerFactory.create_batch(2)
    kept = MembershipFactory(customer=stays, group=a)
    ended = MembershipFactory(customer=moves, group=a)
    at = timezone.now()

    changed = memberships_replace(
        customer_ids_to_group_ids={stays.pk: {a.pk}, moves.pk: {b.pk, c.pk}}, at=at, reason="reorg"
    )

    assert changed == {moves.pk}
    kept.refresh_from_db()
    ended.refresh_from_db()
    assert kept.left_at is None and ended.left_at == at
    assert set(Membership.objects.current().filter(customer=moves).values_list("group_id", flat=True)) == {b.pk, c.pk}
    assert Membership.history.filter(customer_id=moves.pk, history_change_reason="reorg").count() == 3


def test_unknown_customers_and_groups_are_refused_and_nothing_is_written():
    group, customer = GroupFactory(), CustomerFactory()
    with pytest.raises(InvalidInput) as error:
        memberships_start(group=group, customer_ids=[customer.pk, "00000000-0000-4000-8000-000000000000"])
    assert error.value.code == "unknown_customer"
    with pytest.raises(InvalidInput) as error:
        memberships_replace(customer_ids_to_group_ids={customer.pk: {"00000000-0000-4000-8000-000000000000"}})
    assert error.value.code == "unknown_group"
    assert not Membership.objects.exists()


@pytest.mark.postgres
def test_the_set_based_replace_does_what_the_orm_replace_does():
    groups = GroupFactory.create_batch(3)
    customers = CustomerFactory.create_batch(4)
    wanted = {c.pk: {g.pk for g in groups[: i % 3 + 1]} for i, c in enumerate(customers)}
    results = {}
    for method in ("orm", "sql"):
        Membership.objects.all().delete()
        for customer in customers[:2]:
            MembershipFactory(customer=customer, group=groups[2])
        changed = memberships_replace(customer_ids_to_group_ids=wanted, method=method, reason="x")
        current = sorted(Membership.objects.current().values_list("customer_id", "group_id"))
        history = sorted(Membership.history.filter(history_change_reason="x").values_list("history_type", "group_id"))
        Membership.history.all().delete()
        results[method] = (changed, current, history)
    assert results["orm"] == results["sql"]
