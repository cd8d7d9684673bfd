"""The customer's admin page shows its membership timeline, scheduled changes included, and staff schedule a
change (join a group from a date, leave it at a date) through the same service as the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from groups.models import Membership
from tests.admin_helpers import messages_of, staff_client, url
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def schedule(client, customer, change, group, at: datetime):
    at = at.astimezone(UTC)
    data = {"change": change, "group": str(group.pk), "at_0": at.strftime("%Y-%m-%d"), "at_1": at.strftime("%H:%M:%S")}
    return client.post(url("groups_membership_schedule", customer.pk), data)


def test_customer_page_shows_scheduled_and_deleted_memberships_and_links_to_scheduling(admin_client):
    customer = CustomerFactory()
    later, gone = GroupFactory(name="Later plan"), GroupFactory(name="Gone plan")
    MembershipFactory(customer=customer, group=later, joined_at=timezone.now() + timedelta(days=3))
    MembershipFactory(
        customer=customer, group=gone, joined_at=timezone.now() - timedelta(days=9), left_at=timezone.now()
    )
    gone.deleted_at = timezone.now()
    gone.save()

    html = admin_client.get(url("customers_customer_change", customer.pk)).content.decode()

    assert "Later plan" in html and "(scheduled)" in html
    assert "Gone plan (deleted)" in html
    assert url("groups_membership_schedule", customer.pk) in html


def test_staff_schedule_joining_a_group_from_a_future_date(admin_client):
    customer, vip = CustomerFactory(), GroupFactory(name="VIP")
    start = (timezone.now() + timedelta(days=10)).replace(microsecond=0)

    page = admin_client.get(url("groups_membership_schedule", customer.pk))
    assert page.status_code == 200 and "Join the customer group from" in page.content.decode()
    response = schedule(admin_client, customer, "join", vip, start)

    assert response.status_code == 302 and response["Location"] == url("customers_customer_change", customer.pk)
    membership = Membership.objects.get()
    assert (membership.customer, membership.group, membership.joined_at, membership.left_at) == (
        customer,
        vip,
        start,
        None,
    )
    assert not Membership.objects.current().exists()
    assert "joins customer group “VIP”" in messages_of(response)[0]
    assert Membership.history.get().history_user.username == "admin"


def test_staff_schedule_leaving_a_group_at_a_future_date(admin_client):
    customer, vip = CustomerFactory(), GroupFactory()
    membership = MembershipFactory(customer=customer, group=vip, joined_at=timezone.now() - timedelta(days=1))
    end = (timezone.now() + timedelta(days=20)).replace(microsecond=0)

    assert schedule(admin_client, customer, "leave", vip, end).status_code == 302

    membership.refresh_from_db()
    assert membership.left_at == end


def test_an_overlapping_schedule_shows_the_error_on_the_form_and_writes_nothing(admin_client):
    customer, vip = CustomerFactory(), GroupFactory()
    MembershipFactory(customer=customer, group=vip, joined_at=timezone.now() - timedelta(days=1))

    response = schedule(admin_client, customer, "join", vip, timezone.now() + timedelta(days=1))

    assert response.status_code == 200
    assert "overlaps" in str(response.context["form"].errors["at"])
    assert Membership.objects.count() == 1


def test_leaving_when_not_a_member_at_that_date_is_a_form_error(admin_client):
    customer, vip = CustomerFactory(), GroupFactory()
    response = schedule(admin_client, customer, "leave", vip, timezone.now() + timedelta(days=1))
    assert response.status_code == 200
    assert "not a member" in str(response.context["form"].non_field_errors())


def test_scheduling_needs_the_membership_permission_of_the_change():
    customer, vip = CustomerFactory(), GroupFactory()
    viewer = staff_client("customers.view_customer", "groups.view_membership")
    assert viewer.get(url("groups_membership_schedule", customer.pk)).status_code == 403
    leaver = staff_client("customers.view_customer", "groups.delete_membership")
    assert schedule(leaver, customer, "join", vip, timezone.now() + timedelta(days=1)).status_code == 403
    assert not Membership.objects.exists()


def test_membership_list_state_filter_tells_current_scheduled_and_ended_apart(admin_client):
    now = timezone.now()
    current = MembershipFactory(joined_at=now - timedelta(days=2), left_at=now + timedelta(days=2))
    scheduled = MembershipFactory(joined_at=now + timedelta(days=2))
    ended = MembershipFactory(joined_at=now - timedelta(days=2), left_at=now - timedelta(days=1))

    for state, expected in (("current", current), ("scheduled", scheduled), ("ended", ended)):
        response = admin_client.get(url("groups_membership_changelist"), {"state": state})
        assert [m.pk for m in response.context["cl"].result_list] == [expected.pk], state
