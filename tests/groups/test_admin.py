"""Customer groups and memberships in the admin: counts, members, the non-empty delete guard, history."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group as PermissionGroup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from groups.models import Group, Membership
from groups.services import membership_remove
from tests.admin_helpers import messages_of, staff_client, url
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_group_list_shows_current_member_counts(admin_client):
    vip = GroupFactory(name="VIP")
    MembershipFactory.create_batch(2, group=vip)
    MembershipFactory(group=vip, joined_at=timezone.now() - timezone.timedelta(days=1), left_at=timezone.now())
    GroupFactory(name="Empty")

    response = admin_client.get(url("groups_group_changelist"))

    assert response.status_code == 200
    counts = {g.name: g.customer_count for g in response.context["cl"].result_list}
    assert counts == {"VIP": 2, "Empty": 0}


def test_group_list_costs_the_same_queries_for_1_and_20_groups(admin_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url("groups_group_changelist")).status_code == 200
        return len(ctx.captured_queries)

    MembershipFactory()
    one = queries()
    for _ in range(19):
        MembershipFactory()
    assert Group.objects.count() == 20
    assert queries() == one


def test_group_search_by_name_or_description(admin_client):
    GroupFactory(name="VIP", description="Top customers")
    GroupFactory(name="Basic")

    def names(term: str) -> list[str]:
        response = admin_client.get(url("groups_group_changelist"), {"q": term})
        return [g.name for g in response.context["cl"].result_list]

    assert names("vip") == ["VIP"]
    assert names("top cust") == ["VIP"]


def test_members_link_lists_the_current_members_with_links_to_them(admin_client):
    group = GroupFactory(name="VIP")
    member = CustomerFactory(name="In it")
    MembershipFactory(group=group, customer=member)
    left = CustomerFactory(name="Left it")
    MembershipFactory(
        group=group, customer=left, joined_at=timezone.now() - timezone.timedelta(days=1), left_at=timezone.now()
    )

    page = admin_client.get(url("groups_group_change", group.pk))
    assert f"?group={group.pk}" in page.content.decode()

    members = admin_client.get(url("customers_customer_changelist"), {"group": str(group.pk)})
    assert [c.pk for c in members.context["cl"].result_list] == [member.pk]
    assert url("customers_customer_change", member.pk) in members.content.decode()


def test_create_group_and_refuse_a_duplicate_name_ignoring_case(admin_client):
    response = admin_client.post(url("groups_group_add"), {"name": " VIP ", "description": "Top"})
    assert response.status_code == 302
    assert Group.objects.get().name == "VIP"

    again = admin_client.post(url("groups_group_add"), {"name": "vip", "description": ""})

    assert again.status_code == 200
    [error] = again.context["adminform"].form.errors["name"]
    assert error == "A group named 'vip' already exists (names are unique ignoring case)."
    assert Group.objects.count() == 1


def test_rename_group(admin_client):
    group = GroupFactory(name="Old")
    response = admin_client.post(url("groups_group_change", group.pk), {"name": "New", "description": "d"})
    assert response.status_code == 302
    group.refresh_from_db()
    assert (group.name, group.description) == ("New", "d")


def test_deleting_an_empty_group_works(admin_client):
    group = GroupFactory()
    # An ended membership does not make the group "non-empty".
    ended = MembershipFactory(
        group=group, joined_at=timezone.now() - timezone.timedelta(days=1), left_at=timezone.now()
    )
    confirmation = admin_client.get(url("groups_group_delete", group.pk)).content.decode()
    assert "Membership:" not in confirmation and "historical" not in confirmation  # kept, not deleted
    response = admin_client.post(url("groups_group_delete", group.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()
    # Hidden, not erased: the group and its membership stay for the history.
    assert Group.all_objects.get(pk=group.pk).is_deleted
    assert Membership.objects.filter(pk=ended.pk).exists()
    assert admin_client.get(url("groups_group_change", group.pk)).status_code == 302  # "does not exist"
    assert url("groups_group_change", group.pk) not in admin_client.get(url("groups_group_changelist")).content.decode()


def test_deleting_a_group_with_members_is_refused_with_an_explanation(admin_client):
    group = GroupFactory(name="VIP")
    MembershipFactory.create_batch(2, group=group)

    page = admin_client.get(url("groups_group_delete", group.pk))
    confirmed = admin_client.post(url("groups_group_delete", group.pk), {"post": "yes"})

    for response in (page, confirmed):
        assert response.status_code == 200
        html = response.content.decode()
        assert "still has 2 current members, so it cannot be deleted" in html
        assert "Remove from customer group…" in html and f"?group={group.pk}" in html
    assert Group.objects.filter(pk=group.pk).exists()
    assert Membership.objects.current().filter(group=group).count() == 2


def test_groups_have_no_bulk_delete_that_would_skip_the_guard(admin_client):
    GroupFactory()
    response = admin_client.get(url("groups_group_changelist"))
    assert response.context["action_form"] is None  # no "Delete selected" (the only default action)
    assert "delete_selected" not in response.content.decode()


def test_view_only_staff_cannot_change_or_delete_groups():
    client = staff_client("groups.view_group")
    group = GroupFactory(name="Before")
    assert client.get(url("groups_group_changelist")).status_code == 200
    assert client.post(url("groups_group_change", group.pk), {"name": "After"}).status_code == 403
    assert client.post(url("groups_group_add"), {"name": "New"}).status_code == 403
    assert client.post(url("groups_group_delete", group.pk), {"post": "yes"}).status_code == 403
    group.refresh_from_db()
    assert group.name == "Before" and Group.objects.count() == 1


def test_group_history_shows_who_renamed_it(admin_client, admin_user):
    group = GroupFactory(name="Old")
    admin_client.post(url("groups_group_change", group.pk), {"name": "New", "description": ""})
    response = admin_client.get(url("groups_group_history", group.pk))
    assert response.status_code == 200
    assert group.history.first().history_user == admin_user
    assert "Old" in response.content.decode() and "New" in response.content.decode()


def test_membership_history_shows_who_ended_it(admin_client, admin_user):
    customer = CustomerFactory()
    group = GroupFactory()
    membership = MembershipFactory(group=group, customer=customer)
    admin_client.post(
        url("customers_customer_changelist"),
        {"action": "remove_from_group", "_selected_action": [str(customer.pk)], "apply": "yes", "group": str(group.pk)},
    )

    response = admin_client.get(url("groups_membership_history", membership.pk))

    assert response.status_code == 200
    latest = membership.history.first()
    assert latest.left_at is not None and latest.history_user == admin_user
    html = response.content.decode()
    assert "<del>—</del> → <ins>" in html  # "Left at" went from empty to a date
    assert "Left at" in html


def test_memberships_are_read_only_in_the_admin(admin_client):
    membership = MembershipFactory()
    assert admin_client.get(url("groups_membership_change", membership.pk)).status_code == 200
    assert admin_client.get(url("groups_membership_add")).status_code == 403
    assert admin_client.post(url("groups_membership_delete", membership.pk), {"post": "yes"}).status_code == 403
    membership_remove(group=membership.group, customer=membership.customer)  # the service still works
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_customer_groups_are_labelled_apart_from_djangos_permission_groups(admin_client):
    PermissionGroup.objects.create(name="Support staff")
    html = admin_client.get(url("index")).content.decode()
    assert "Customer groups" in html  # ours
    # Django's users and their permission groups stay, named for what they are.
    assert ">Staff</a>" in html and "Staff permission groups" in html and "Staff users" in html
    assert "Authentication and Authorization" not in html
    assert admin_client.get(url("auth_group_changelist")).status_code == 200
    assert admin_client.get(url("auth_user_changelist")).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["groups/group/nope/history/", "groups/membership/nope/history/", "customers/customer/nope/history/1/"],
)
def test_malformed_ids_in_history_urls_are_404(admin_client, path):
    assert admin_client.get(f"{url('index')}{path}").status_code == 404


def test_a_malformed_version_id_is_404(admin_client):
    group = GroupFactory()
    assert admin_client.get(f"{url('groups_group_history', group.pk)}abc/").status_code == 404


def test_members_joining_during_the_delete_confirmation_stop_the_delete_with_a_message(admin_client, monkeypatch):
    """The guard also holds when members join after the page was checked (the service refuses)."""
    import groups.admin
    from groups.services import group_delete

    group = GroupFactory(name="VIP")

    def members_joined_meanwhile(*, group):
        MembershipFactory(group=group)
        return group_delete(group=group)

    monkeypatch.setattr(groups.admin, "group_delete", members_joined_meanwhile)
    response = admin_client.post(url("groups_group_delete", group.pk), {"post": "yes"})

    assert response.status_code == 302
    assert Group.objects.filter(pk=group.pk).exists()
    assert not Membership.objects.exists()  # rolled back with the failed delete
    assert messages_of(response)[0].startswith("Nothing was deleted: Group 'VIP' still has 1 current member(s)")


def test_membership_list_shows_customer_group_and_dates(admin_client):
    membership = MembershipFactory()
    response = admin_client.get(url("groups_membership_changelist"))
    assert response.status_code == 200
    assert [m.pk for m in response.context["cl"].result_list] == [membership.pk]
    assert "Joined at" in response.content.decode() and "Left at" in response.content.decode()


def test_view_only_staff_see_memberships_but_cannot_open_their_history_without_permission():
    client = staff_client("customers.view_customer")
    membership = MembershipFactory()
    assert client.get(url("groups_membership_history", membership.pk)).status_code == 403
    viewer = staff_client("groups.view_membership")
    assert viewer.get(url("groups_membership_history", membership.pk)).status_code == 200


def test_a_membership_is_named_by_customer_and_group_not_by_uuids(admin_client):
    """Bug: memberships appeared as two raw UUIDs (history title, breadcrumb, delete page)."""
    customer = CustomerFactory(name="Acme Ltd", external_id="EXT-7")
    membership = MembershipFactory(customer=customer, group=GroupFactory(name="VIP"))

    html = admin_client.get(url("groups_membership_history", membership.pk)).content.decode()

    assert str(membership).startswith("Acme Ltd (EXT-7) in VIP, from ") and str(membership).endswith(" UTC to now")
    assert "Acme Ltd (EXT-7) in VIP, from" in html
    assert str(membership.customer_id) not in html.split('<div class="breadcrumbs">')[1].split("</div>")[0]
    delete_page = admin_client.get(url("customers_customer_delete", customer.pk)).content.decode()
    assert "Acme Ltd (EXT-7) in VIP, from" in delete_page


def test_memberships_can_be_searched_by_external_id_and_filtered_by_group(admin_client):
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    acme = CustomerFactory(external_id="EXT-ACME")
    MembershipFactory(customer=acme, group=vip)
    MembershipFactory(customer=CustomerFactory(), group=promo)

    found = admin_client.get(url("groups_membership_changelist"), {"q": "EXT-ACME"}).context["cl"].result_list
    assert [m.customer_id for m in found] == [acme.pk]
    filtered = admin_client.get(url("groups_membership_changelist"), {"group": str(promo.pk)}).context["cl"]
    assert [m.group_id for m in filtered.result_list] == [promo.pk]
    assert next(spec.title for spec in filtered.filter_specs) == "customer group"


def test_the_add_group_page_does_not_show_members(admin_client):
    """Bug: a group not yet created showed "0 — list them"."""
    html = admin_client.get(url("groups_group_add")).content.decode()
    assert "list them" not in html and "Current members" not in html
