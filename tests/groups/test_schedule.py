"""Membership changes at a chosen time (scheduled and backdated), the customer's membership list, and the
rule that memberships of one customer in one group never overlap: the contract's "Membership changes at a
chosen time" section."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billingengine.errors import Conflict
from customers.models import Customer
from groups.guards import membership_guard
from groups.models import Group, Membership
from tests.conftest import client_for
from tests.customers.test_api import problem
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

GROUPS = "/api/v1/groups"
CUSTOMERS = "/api/v1/customers"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def add(api, group, customer, **body):
    return api.post(f"{GROUPS}/{group.pk}/customers", {"customer_id": str(customer.pk), **body}, format="json")


def remove(api, group, customer, left_at: datetime | None = None):
    query = {"QUERY_STRING": f"left_at={iso(left_at).replace('+', '%2B')}"} if left_at else {}
    return api.delete(f"{GROUPS}/{group.pk}/customers/{customer.pk}", **query)


def group_names(api, customer, at: datetime | None = None) -> list[str]:
    params = {"at": iso(at)} if at else {}
    return [g["name"] for g in api.get(f"{CUSTOMERS}/{customer.pk}/groups", params).json()["results"]]


# -- joined_at: scheduled and backdated ----------------------------------------------------------------


def test_a_scheduled_membership_is_not_current_until_it_starts_anywhere_current_members_are_read(api):
    vip, customer = GroupFactory(name="VIP"), CustomerFactory()
    start = timezone.now() + timedelta(days=10)

    response = add(api, vip, customer, joined_at=iso(start))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"group_id": str(vip.pk), "customer_id": str(customer.pk), "joined_at": iso(start), "left_at": None}
    # Not current: the customer's group_ids, its groups now, the group's members and count, the group filter.
    assert api.get(f"{CUSTOMERS}/{customer.pk}").json()["group_ids"] == []
    assert group_names(api, customer) == []
    assert api.get(f"{GROUPS}/{vip.pk}/customers").json()["results"] == []
    assert api.get(f"{GROUPS}/{vip.pk}").json()["customer_count"] == 0
    assert api.get(CUSTOMERS, {"group": str(vip.pk)}).json()["results"] == []
    assert not Membership.objects.current().exists()
    # ...but it is there for the moment it starts.
    assert group_names(api, customer, at=start) == ["VIP"]
    assert group_names(api, customer, at=start - timedelta(microseconds=1)) == []


def test_a_backdated_membership_is_current_and_answers_for_the_past(api):
    vip, customer = GroupFactory(name="VIP"), CustomerFactory()
    start = timezone.now() - timedelta(days=20)

    assert add(api, vip, customer, joined_at=iso(start)).status_code == 201

    assert api.get(f"{CUSTOMERS}/{customer.pk}").json()["group_ids"] == [str(vip.pk)]
    assert api.get(CUSTOMERS, {"group": str(vip.pk)}).json()["results"][0]["id"] == str(customer.pk)
    assert group_names(api, customer, at=start + timedelta(days=1)) == ["VIP"]
    assert group_names(api, customer, at=start - timedelta(days=1)) == []


def test_explicit_joined_at_overlapping_a_membership_is_409_naming_it_and_writes_nothing(api):
    vip, customer = GroupFactory(), CustomerFactory()
    existing = MembershipFactory(group=vip, customer=customer, joined_at=timezone.now() - timedelta(days=5))

    body = problem(
        add(api, vip, customer, joined_at=iso(timezone.now() - timedelta(days=30))), 409, "membership_overlap"
    )

    assert body["existing_id"] == str(existing.pk)
    assert str(existing.pk) in body["detail"] or "overlaps" in body["detail"]
    assert list(Membership.objects.values_list("pk", flat=True)) == [existing.pk]


def test_explicit_joined_at_of_a_current_member_is_409_not_the_idempotent_200(api):
    vip, customer = GroupFactory(), CustomerFactory()
    existing = MembershipFactory(group=vip, customer=customer)

    body = problem(
        add(api, vip, customer, joined_at=iso(timezone.now() + timedelta(days=1))), 409, "membership_overlap"
    )

    assert body["existing_id"] == str(existing.pk)
    assert Membership.objects.count() == 1


def test_adding_without_joined_at_while_a_membership_is_scheduled_is_409_overlap(api):
    vip, customer = GroupFactory(), CustomerFactory()
    scheduled = MembershipFactory(group=vip, customer=customer, joined_at=timezone.now() + timedelta(days=3))

    body = problem(add(api, vip, customer), 409, "membership_overlap")

    assert body["existing_id"] == str(scheduled.pk)
    assert Membership.objects.count() == 1


def test_a_membership_may_start_exactly_when_the_previous_one_ended(api):
    vip, customer = GroupFactory(), CustomerFactory()
    now = timezone.now()
    MembershipFactory(
        group=vip, customer=customer, joined_at=now - timedelta(days=30), left_at=now - timedelta(days=10)
    )

    assert add(api, vip, customer, joined_at=iso(now - timedelta(days=10))).status_code == 201
    problem(add(api, vip, customer, joined_at=iso(now - timedelta(days=11))), 409, "membership_overlap")
    assert Membership.objects.filter(customer=customer).count() == 2


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T00:00:00Z", "", None, 5])
def test_bad_joined_at_is_400_on_the_field(api, value):
    vip, customer = GroupFactory(), CustomerFactory()
    body = problem(add(api, vip, customer, joined_at=value), 400, "invalid")
    assert [e["field"] for e in body["errors"]] == ["joined_at"]
    assert not Membership.objects.exists()


# -- ?left_at=: scheduled and backdated ends -------------------------------------------------------------


def test_left_at_in_the_future_schedules_the_end_and_the_customer_stays_current_until_then(api):
    vip, customer = GroupFactory(name="VIP"), CustomerFactory()
    membership = MembershipFactory(group=vip, customer=customer, joined_at=timezone.now() - timedelta(days=3))
    end = timezone.now() + timedelta(days=7)

    assert remove(api, vip, customer, left_at=end).status_code == 204

    membership.refresh_from_db()
    assert membership.left_at == end
    assert api.get(f"{CUSTOMERS}/{customer.pk}").json()["group_ids"] == [str(vip.pk)]
    assert api.get(f"{GROUPS}/{vip.pk}").json()["customer_count"] == 1
    assert group_names(api, customer, at=end - timedelta(microseconds=1)) == ["VIP"]
    assert group_names(api, customer, at=end) == []


def test_left_at_in_the_past_ends_the_membership_open_at_that_instant(api):
    vip, customer = GroupFactory(name="VIP"), CustomerFactory()
    now = timezone.now()
    membership = MembershipFactory(group=vip, customer=customer, joined_at=now - timedelta(days=30))

    assert remove(api, vip, customer, left_at=now - timedelta(days=10)).status_code == 204

    membership.refresh_from_db()
    assert membership.left_at == now - timedelta(days=10)
    assert api.get(f"{CUSTOMERS}/{customer.pk}").json()["group_ids"] == []
    assert group_names(api, customer, at=now - timedelta(days=15)) == ["VIP"]


def test_left_at_ends_a_scheduled_membership_that_is_open_at_that_instant(api):
    vip, customer = GroupFactory(), CustomerFactory()
    start = timezone.now() + timedelta(days=10)
    membership = MembershipFactory(group=vip, customer=customer, joined_at=start)

    assert remove(api, vip, customer, left_at=start + timedelta(days=30)).status_code == 204

    membership.refresh_from_db()
    assert (membership.joined_at, membership.left_at) == (start, start + timedelta(days=30))


def test_left_at_when_no_membership_is_open_at_that_instant_is_404_and_changes_nothing(api):
    vip, customer = GroupFactory(), CustomerFactory()
    now = timezone.now()
    membership = MembershipFactory(group=vip, customer=customer, joined_at=now - timedelta(days=5))

    problem(remove(api, vip, customer, left_at=now - timedelta(days=6)), 404, "not_a_member")
    # A scheduled membership is not current: removing "now" does not touch it.
    scheduled_group = GroupFactory()
    MembershipFactory(group=scheduled_group, customer=customer, joined_at=now + timedelta(days=5))
    problem(remove(api, scheduled_group, customer), 404, "not_a_member")

    membership.refresh_from_db()
    assert membership.left_at is None
    assert not Membership.objects.exclude(left_at=None).exists()


def test_left_at_equal_to_joined_at_is_400_because_a_membership_ends_after_it_starts(api):
    vip, customer = GroupFactory(), CustomerFactory()
    start = timezone.now() - timedelta(days=2)
    membership = MembershipFactory(group=vip, customer=customer, joined_at=start)

    body = problem(remove(api, vip, customer, left_at=start), 400, "ends_before_start")

    assert [e["field"] for e in body["errors"]] == ["left_at"]
    membership.refresh_from_db()
    assert membership.left_at is None


def test_bad_left_at_is_400(api):
    vip, customer = GroupFactory(), CustomerFactory()
    MembershipFactory(group=vip, customer=customer)
    response = api.delete(f"{GROUPS}/{vip.pk}/customers/{customer.pk}", QUERY_STRING="left_at=soon")
    problem(response, 400, "invalid")
    assert Membership.objects.get().left_at is None


# -- GET /customers/{id}/memberships -----------------------------------------------------------------------


def test_memberships_lists_past_current_and_scheduled_by_joined_at_with_deleted_groups(api):
    customer = CustomerFactory()
    gone, vip, later = GroupFactory(name="Gone"), GroupFactory(name="VIP"), GroupFactory(name="Later")
    now = timezone.now()
    current = MembershipFactory(customer=customer, group=vip, joined_at=now - timedelta(days=3))
    scheduled = MembershipFactory(customer=customer, group=later, joined_at=now + timedelta(days=3))
    past = MembershipFactory(
        customer=customer, group=gone, joined_at=now - timedelta(days=9), left_at=now - timedelta(days=5)
    )
    MembershipFactory(group=vip)  # another customer's
    gone.deleted_at = now
    gone.save()

    response = api.get(f"{CUSTOMERS}/{customer.pk}/memberships")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert body["results"] == [
        {
            "id": str(m.pk),
            "group_id": str(m.group_id),
            "group_name": name,
            "joined_at": iso(m.joined_at),
            "left_at": iso(m.left_at) if m.left_at else None,
        }
        for m, name in ((past, "Gone"), (current, "VIP"), (scheduled, "Later"))
    ]


def test_memberships_are_cursor_paginated(api):
    customer = CustomerFactory()
    now = timezone.now()
    for days in range(5):
        MembershipFactory(customer=customer, joined_at=now - timedelta(days=days))
    seen = []
    url = f"{CUSTOMERS}/{customer.pk}/memberships?page_size=2"
    while url:
        body = api.get(url).json()
        assert len(body["results"]) <= 2
        seen += [m["joined_at"] for m in body["results"]]
        url = body["next"]
    assert seen == sorted(seen) and len(seen) == 5


def test_memberships_of_an_unknown_customer_is_404_and_needs_permission(api, anon):
    problem(api.get(f"{CUSTOMERS}/{CustomerFactory.build().pk}/memberships"), 404, "not_found")
    problem(api.get(f"{CUSTOMERS}/not-a-uuid/memberships"), 404, "not_found")
    customer = CustomerFactory()
    problem(anon.get(f"{CUSTOMERS}/{customer.pk}/memberships"), 401, "not_authenticated")
    from tests.conftest import user_with_perms

    no_membership_view = client_for(user_with_perms("customers.view_customer"))
    problem(no_membership_view.get(f"{CUSTOMERS}/{customer.pk}/memberships"), 403, "permission_denied")


def test_memberships_list_costs_a_constant_number_of_queries(api, django_assert_max_num_queries):
    customer = CustomerFactory()
    now = timezone.now()
    for days in range(20):
        MembershipFactory(customer=customer, joined_at=now - timedelta(days=days))
    api.get(f"{CUSTOMERS}/{customer.pk}/memberships")  # warm caches (permissions, key)
    with django_assert_max_num_queries(6) as few:
        api.get(f"{CUSTOMERS}/{customer.pk}/memberships?page_size=1")
    with django_assert_max_num_queries(len(few.captured_queries)):
        api.get(f"{CUSTOMERS}/{customer.pk}/memberships?page_size=20")


# -- group_ids on customer writes: "from now" ----------------------------------------------------------------


def test_group_ids_starts_a_scheduled_membership_of_a_wanted_group_now(api):
    vip, customer = GroupFactory(), CustomerFactory()
    scheduled = MembershipFactory(customer=customer, group=vip, joined_at=timezone.now() + timedelta(days=5))
    before = timezone.now()

    response = api.patch(f"{CUSTOMERS}/{customer.pk}", {"group_ids": [str(vip.pk)]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["group_ids"] == [str(vip.pk)]
    scheduled.refresh_from_db()
    assert before <= scheduled.joined_at <= timezone.now()
    assert Membership.objects.count() == 1


def test_group_ids_leaves_memberships_scheduled_in_other_groups_as_planned(api):
    vip, other, customer = GroupFactory(), GroupFactory(), CustomerFactory()
    start = timezone.now() + timedelta(days=5)
    MembershipFactory(customer=customer, group=vip, joined_at=start)

    assert api.patch(f"{CUSTOMERS}/{customer.pk}", {"group_ids": [str(other.pk)]}, format="json").status_code == 200

    planned = Membership.objects.get(group=vip)
    assert (planned.joined_at, planned.left_at) == (start, None)


# -- the database holds the rule ------------------------------------------------------------------------------


def test_the_database_refuses_a_membership_that_ends_when_it_starts():
    membership = MembershipFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(pk=membership.pk).update(left_at=membership.joined_at)


@pytest.mark.postgres
def test_postgresql_refuses_overlapping_memberships_even_past_the_service():
    customer, group = CustomerFactory(), GroupFactory()
    now = timezone.now()
    Membership.objects.create(customer=customer, group=group, joined_at=now - timedelta(days=10), left_at=now)
    with pytest.raises(IntegrityError, match="groups_membership_no_overlap"), transaction.atomic():
        Membership.objects.create(customer=customer, group=group, joined_at=now - timedelta(days=1), left_at=None)
    # Touching periods ([a, b) then [b, ...)) do not overlap; other customers and groups are unaffected.
    Membership.objects.create(customer=customer, group=group, joined_at=now)
    Membership.objects.create(customer=CustomerFactory(), group=group, joined_at=now - timedelta(days=1))
    assert Membership.objects.count() == 3


def test_model_validation_reports_an_overlap():
    from django.core.exceptions import ValidationError

    existing = MembershipFactory(joined_at=timezone.now() - timedelta(days=2))
    overlapping = Membership(customer=existing.customer, group=existing.group, joined_at=timezone.now())
    with pytest.raises(ValidationError) as error:
        overlapping.full_clean()
    assert next(e.code for e in error.value.error_dict["__all__"]) == "membership_overlap"
    Membership(customer=existing.customer, group=GroupFactory(), joined_at=timezone.now()).full_clean()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_overlapping_adds_give_exactly_one_membership():
    group = GroupFactory()
    customer = CustomerFactory()
    user = UserFactory(is_superuser=True, is_staff=True)
    clients = [client_for(user) for _ in range(20)]
    start = timezone.now() - timedelta(days=40)
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)

    def run(i):
        try:
            barrier.wait()
            responses[i] = add(clients[i], group, customer, joined_at=iso(start + timedelta(days=i)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.content for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"membership_overlap"}
    assert Membership.objects.filter(customer=customer, group=group).count() == 1


# -- the period_billed guard's place --------------------------------------------------------------------------


def _refuse_before(limit: datetime, calls: list):
    def guard(*, customer_ids, at):
        calls.append((set(customer_ids), at))
        if at < limit:
            raise Conflict(f"Billed until {limit.isoformat()}.", code="period_billed")

    return guard


def test_registered_guards_see_every_membership_change_and_can_refuse_it(api):
    vip, gold, customer = GroupFactory(), GroupFactory(), CustomerFactory()
    now = timezone.now()
    billed_until = now - timedelta(days=3)
    MembershipFactory(group=gold, customer=customer, joined_at=now - timedelta(days=20))
    calls: list = []
    with membership_guard(_refuse_before(billed_until, calls)):
        problem(add(api, vip, customer, joined_at=iso(now - timedelta(days=4))), 409, "period_billed")
        assert not Membership.objects.filter(group=vip).exists()
        assert add(api, vip, customer, joined_at=iso(now - timedelta(days=2))).status_code == 201

        problem(remove(api, gold, customer, left_at=now - timedelta(days=5)), 409, "period_billed")
        assert Membership.objects.get(group=gold).left_at is None
        assert remove(api, gold, customer, left_at=now - timedelta(days=1)).status_code == 204
        assert Membership.objects.get(group=gold).left_at == now - timedelta(days=1)

    assert calls == [
        ({customer.pk}, now - timedelta(days=4)),
        ({customer.pk}, now - timedelta(days=2)),
        ({customer.pk}, now - timedelta(days=5)),
        ({customer.pk}, now - timedelta(days=1)),
    ]
    # Unregistered when the block ends: the same change now gets past the guards (and meets the overlap rule).
    problem(add(api, gold, customer, joined_at=iso(now - timedelta(days=4))), 409, "membership_overlap")
    assert len(calls) == 4


def test_a_guard_refusing_a_group_ids_change_leaves_the_customer_as_it_was(api):
    vip, customer = GroupFactory(), CustomerFactory(name="Before")
    calls: list = []
    with membership_guard(_refuse_before(timezone.now() + timedelta(days=1), calls)):
        response = api.put(f"{CUSTOMERS}/{customer.pk}", {"name": "After", "group_ids": [str(vip.pk)]}, format="json")
    problem(response, 409, "period_billed")
    assert Customer.objects.get(pk=customer.pk).name == "Before"
    assert not Membership.objects.exists()
    assert calls and calls[0][0] == {customer.pk}


def test_a_guard_refusing_a_group_delete_keeps_the_group(api):
    vip = GroupFactory()
    MembershipFactory(group=vip, joined_at=timezone.now() - timedelta(days=1))
    with membership_guard(_refuse_before(timezone.now() + timedelta(days=1), [])):
        problem(api.delete(f"{GROUPS}/{vip.pk}", QUERY_STRING="force=true"), 409, "period_billed")
    assert Group.objects.filter(pk=vip.pk).exists()
    assert Membership.objects.get().left_at is None
