"""Customers in the admin: list, search, filters, the change page, bulk actions, history, permissions."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from customers.services import customer_create, customer_update
from groups.models import Membership
from tests.admin_helpers import messages_of, staff_client, url
from tests.conftest import client_for
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "customers_customer_changelist"


def customer_form(**overrides) -> dict:
    """Return POST data of the customer form (every field, as the browser sends it)."""
    data = {
        "name": "End Customer Ltd",
        "external_id": "EXT-CU-0042",
        "tax_id": "GB123456789",
        "vat_id": "GB123456789",
        "address_street": "1 Example Street",
        "address_city": "London",
        "address_zip": "EC1A 1BB",
        "address_country": "GB",
        "groups": [],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# ----------------------------------------------------------------------------------------- list


def test_changelist_shows_name_external_id_country_current_groups_and_created(admin_client):
    vip, old = GroupFactory(name="VIP"), GroupFactory(name="Old plan")
    customer = CustomerFactory(name="Acme Ltd", external_id="EXT-1", address_country="DE")
    MembershipFactory(customer=customer, group=vip)
    MembershipFactory(
        customer=customer, group=old, joined_at=timezone.now() - timezone.timedelta(days=30), left_at=timezone.now()
    )

    response = admin_client.get(url(CHANGELIST))

    assert response.status_code == 200
    row = next(r for r in response.context["cl"].result_list if r.pk == customer.pk)
    html = response.content.decode()
    assert "Acme Ltd" in html and "EXT-1" in html and "DE" in html
    assert response.context["cl"].model_admin.groups(row) == "VIP"  # ended memberships are not current
    assert "Customer groups" in html and "Created at" in html


def test_changelist_shows_customers_without_billing_details(admin_client):
    """Regression: a customer without a country broke the list (the country column assumed one)."""
    CustomerFactory(name="Bare", external_id=None, address_country=None)
    response = admin_client.get(url(CHANGELIST))
    assert response.status_code == 200 and "Bare" in response.content.decode()


def test_changelist_costs_the_same_queries_for_1_and_20_customers(admin_client):
    group = GroupFactory()

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url(CHANGELIST)).status_code == 200
        return len(ctx.captured_queries)

    MembershipFactory(group=group)
    one = queries()
    for _ in range(19):
        MembershipFactory(group=group)
    assert Customer.objects.count() == 20
    assert queries() == one


def test_changelist_does_not_count_the_whole_table_twice(admin_client):
    CustomerFactory.create_batch(3)
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get(url(CHANGELIST))
    counts = [
        q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "customers_customer" in q["sql"]
    ]
    assert len(counts) == 1  # the paginator's; no second "full result count"


def test_exact_external_id_search_finds_only_that_customer(admin_client):
    target = CustomerFactory(external_id="EXT-CU-0042", name="Target")
    CustomerFactory(external_id="EXT-CU-00421", name="Longer id")
    CustomerFactory(name="Mentions EXT-CU-0042 in its name", external_id="OTHER")

    response = admin_client.get(url(CHANGELIST), {"q": " EXT-CU-0042 "})

    assert [c.pk for c in response.context["cl"].result_list] == [target.pk]


@pytest.mark.parametrize(
    ("field", "value", "term"),
    [
        ("name", "Globex Corporation", "globex corp"),
        ("external_id", "CRM-7781", "crm-77"),
        ("tax_id", "DE811111111", "811111"),
        ("vat_id", "ATU99999999", "atu999"),
    ],
)
def test_search_finds_customers_by_part_of_name_external_id_tax_id_or_vat_id(admin_client, field, value, term):
    target = CustomerFactory(**{field: value})
    CustomerFactory(name="Unrelated", external_id="X-1", tax_id="T", vat_id="V")

    response = admin_client.get(url(CHANGELIST), {"q": term})

    assert [c.pk for c in response.context["cl"].result_list] == [target.pk]


def test_search_with_control_characters_is_not_an_error(admin_client):
    CustomerFactory(name="Acme")
    response = admin_client.get(url(CHANGELIST), {"q": "Ac\x00me"})
    assert response.status_code == 200


def test_filters_by_country_group_and_creation_date(admin_client):
    group = GroupFactory()
    german = CustomerFactory(address_country="DE")
    member = CustomerFactory(address_country="GB")
    MembershipFactory(group=group, customer=member)
    old = CustomerFactory(address_country="GB")
    Customer.objects.filter(pk=old.pk).update(created_at=timezone.now() - timezone.timedelta(days=400))

    def listed(params) -> set:
        response = admin_client.get(url(CHANGELIST), params)
        assert response.status_code == 200
        return {c.pk for c in response.context["cl"].result_list}

    assert listed({"address_country": "DE"}) == {german.pk}
    assert listed({"group": str(group.pk)}) == {member.pk}
    week_ago = timezone.now() - timezone.timedelta(days=7)  # as the "Past 7 days" link sends it
    assert listed({"created_at__gte": week_ago.isoformat(" ")}) == {german.pk, member.pk}


def test_a_malformed_group_filter_is_the_admins_error_page_not_a_500(admin_client):
    GroupFactory()
    response = admin_client.get(url(CHANGELIST), {"group": "not-a-uuid"})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


# ----------------------------------------------------------------------------------------- add / change


def test_add_creates_the_customer_with_its_groups_through_the_service(admin_client):
    vip = GroupFactory(name="VIP")

    response = admin_client.post(url("customers_customer_add"), customer_form(groups=[str(vip.pk)]))

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    customer = Customer.objects.get(external_id="EXT-CU-0042")
    assert customer.address_country.code == "GB"
    assert customer.group_ids == [vip.pk]


def test_add_with_a_duplicate_external_id_names_the_existing_customer_and_writes_nothing(admin_client):
    existing = CustomerFactory(external_id="EXT-CU-0042")

    response = admin_client.post(url("customers_customer_add"), customer_form(name="Second"))

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["external_id"]
    assert "Another customer already has the external ID “EXT-CU-0042”" in error
    # The message links to the existing customer (rendered as a link, not as escaped text).
    assert f'<a href="{url("customers_customer_change", existing.pk)}">open that customer</a>' in (
        response.content.decode()
    )
    assert Customer.objects.count() == 1 and Customer.objects.get().pk == existing.pk


def test_add_rejects_control_characters_and_a_blank_name(admin_client):
    response = admin_client.post(url("customers_customer_add"), customer_form(name="   ", tax_id="A\x01B"))

    errors = response.context["adminform"].form.errors
    assert "name" in errors and "tax_id" in errors
    assert not Customer.objects.exists()


def test_change_edits_billing_details(admin_client):
    customer = CustomerFactory(external_id="EXT-CU-0042")

    response = admin_client.post(
        url("customers_customer_change", customer.pk), customer_form(name="Renamed", vat_id="", address_city="Leeds")
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.vat_id, customer.address_city) == ("Renamed", None, "Leeds")


def test_a_set_external_id_is_shown_read_only_with_the_rekey_hint(admin_client):
    """Bug: the set external_id was an input that then refused any change; now it is not an input at all."""
    customer = CustomerFactory(external_id="EXT-CU-0042", name="Before")

    html = admin_client.get(url("customers_customer_change", customer.pk)).content.decode()

    assert 'name="external_id"' not in html
    assert '<code class="external-id">EXT-CU-0042</code>' in html
    assert "cannot be changed here" in html and "rekey_customers" in html


def test_a_posted_external_id_change_is_ignored_once_set_and_other_fields_are_saved(admin_client):
    customer = CustomerFactory(external_id="EXT-CU-0042", name="Before")

    response = admin_client.post(
        url("customers_customer_change", customer.pk), customer_form(external_id="EXT-NEW", name="After")
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.external_id, customer.name) == ("EXT-CU-0042", "After")


def test_clearing_a_set_external_id_is_not_possible(admin_client):
    customer = CustomerFactory(external_id="EXT-CU-0042")
    admin_client.post(url("customers_customer_change", customer.pk), customer_form(external_id=""))
    customer.refresh_from_db()
    assert customer.external_id == "EXT-CU-0042"


def test_an_over_long_value_is_refused_with_a_message_not_cut_by_the_browser(admin_client):
    """Bug: inputs carried maxlength, so a browser silently cut a pasted external_id (which then could not
    be changed any more); now the input has no maxlength and the server refuses the value."""
    html = admin_client.get(url("customers_customer_add")).content.decode()
    assert "maxlength" not in html

    response = admin_client.post(url("customers_customer_add"), customer_form(external_id="X" * 256))

    [error] = response.context["adminform"].form.errors["external_id"]
    assert "at most 255 characters" in error and "it has 256" in error
    assert not Customer.objects.exists()


def test_the_street_field_is_multi_line(admin_client):
    html = admin_client.get(url("customers_customer_add")).content.decode()
    assert re.search(r'<textarea name="address_street"', html)


def test_an_unset_external_id_can_be_set_once(admin_client):
    customer = CustomerFactory(external_id=None)
    response = admin_client.post(url("customers_customer_change", customer.pk), customer_form(external_id="EXT-9"))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.external_id == "EXT-9"


def test_removing_a_group_on_the_change_page_ends_the_membership_instead_of_deleting_it(admin_client):
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    customer = CustomerFactory(external_id="EXT-CU-0042")
    kept = MembershipFactory(customer=customer, group=vip)
    removed = MembershipFactory(customer=customer, group=promo)

    response = admin_client.post(url("customers_customer_change", customer.pk), customer_form(groups=[str(vip.pk)]))

    assert response.status_code == 302
    kept.refresh_from_db()
    removed.refresh_from_db()
    assert kept.left_at is None
    assert removed.left_at is not None  # the row stays, with its end
    assert Membership.objects.filter(customer=customer).count() == 2


def test_change_page_shows_current_groups_selected_and_the_membership_history(admin_client):
    vip, old = GroupFactory(name="VIP"), GroupFactory(name="Old plan")
    customer = CustomerFactory()
    MembershipFactory(customer=customer, group=vip)
    MembershipFactory(
        customer=customer, group=old, joined_at=timezone.now() - timezone.timedelta(days=30), left_at=timezone.now()
    )

    response = admin_client.get(url("customers_customer_change", customer.pk))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.fields["groups"].initial == [str(vip.pk)]
    assert "admin-autocomplete" in str(form["groups"])  # an autocomplete, not a select of every group
    html = response.content.decode()
    assert "Customer group membership history" in html
    assert "Old plan" in html and "current" in html


def test_group_autocomplete_searches_customer_groups(admin_client):
    GroupFactory(name="VIP Gold")
    GroupFactory(name="Basic")
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "groups", "model_name": "membership", "field_name": "group", "term": "vip"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["VIP Gold"]


def test_delete_removes_the_customer_and_its_memberships(admin_client):
    customer = CustomerFactory()
    MembershipFactory(customer=customer)
    response = admin_client.post(url("customers_customer_delete", customer.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert not Membership.objects.filter(customer_id=customer.pk).exists()


# ----------------------------------------------------------------------------------------- bulk actions


def action(client, name: str, customers, **extra):
    data = {"action": name, "_selected_action": [str(c.pk) for c in customers], "index": 0, **extra}
    return client.post(url(CHANGELIST), data, follow=False)


def test_add_to_group_shows_the_intermediate_page_then_adds_and_reports_how_many(admin_client):
    group = GroupFactory(name="VIP")
    already, new1, new2 = CustomerFactory.create_batch(3)
    MembershipFactory(group=group, customer=already)

    page = action(admin_client, "add_to_group", [already, new1, new2])
    assert page.status_code == 200
    assert "Choose the customer group to add the 3 selected customer(s) to" in page.content.decode()
    assert Membership.objects.count() == 1  # nothing yet

    done = action(admin_client, "add_to_group", [already, new1, new2], apply="yes", group=str(group.pk))

    assert done.status_code == 302
    assert set(Customer.objects.in_group(group).values_list("pk", flat=True)) == {already.pk, new1.pk, new2.pk}
    assert messages_of(done) == ["Added 2 of 3 selected customer(s) to customer group “VIP”; 1 already were members."]


def test_remove_from_group_ends_memberships_and_reports_how_many(admin_client):
    group = GroupFactory(name="VIP")
    member, outsider = CustomerFactory.create_batch(2)
    membership = MembershipFactory(group=group, customer=member)

    done = action(admin_client, "remove_from_group", [member, outsider], apply="yes", group=str(group.pk))

    assert done.status_code == 302
    membership.refresh_from_db()
    assert membership.left_at is not None
    assert messages_of(done)[0].startswith("Removed 1 of 2 selected customer(s) from customer group “VIP”")


def test_group_action_without_a_group_shows_the_page_again_and_changes_nothing(admin_client):
    customer = CustomerFactory()
    response = action(admin_client, "add_to_group", [customer], apply="yes", group="")
    assert response.status_code == 200
    assert "Please choose a customer group." in response.content.decode()
    assert not Membership.objects.exists()


def test_export_selected_as_csv(admin_client):
    group = GroupFactory(name="VIP")
    first = CustomerFactory(name="=cmd()", external_id="EXT-1")
    MembershipFactory(group=group, customer=first)
    second = CustomerFactory(name="Second", external_id="EXT-2")
    CustomerFactory(name="Not selected")

    response = action(admin_client, "export_csv", [first, second])

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["external_id"] for r in rows] == ["EXT-1", "EXT-2"]
    assert rows[0]["name"] == "'=cmd()"  # not run as a formula by a spreadsheet
    assert rows[0]["groups"] == "VIP" and rows[0]["address_country"] == "GB"
    assert messages_of(response) == ["Exported 2 customer(s) as CSV."]


# ----------------------------------------------------------------------------------------- permissions


def test_staff_without_permissions_cannot_see_customers():
    client = staff_client()
    assert client.get(url(CHANGELIST)).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(url(CHANGELIST))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_view_only_staff_can_look_but_not_change_anything():
    client = staff_client("customers.view_customer", "groups.view_group")
    group = GroupFactory()
    customer = CustomerFactory(name="Before", external_id="EXT-1")

    assert client.get(url(CHANGELIST)).status_code == 200
    page = client.get(url("customers_customer_change", customer.pk))
    assert page.status_code == 200 and 'name="name"' not in page.content.decode()  # shown read-only
    assert client.post(url("customers_customer_change", customer.pk), customer_form(name="After")).status_code == 403
    assert client.get(url("customers_customer_add")).status_code == 403
    assert client.post(url("customers_customer_add"), customer_form()).status_code == 403
    assert client.post(url("customers_customer_delete", customer.pk), {"post": "yes"}).status_code == 403
    # Only the export is offered, and posting a group action anyway does nothing.
    actions = [name for name, _ in client.get(url(CHANGELIST)).context["action_form"].fields["action"].choices]
    assert actions == ["", "export_csv"]
    response = action(client, "add_to_group", [customer], apply="yes", group=str(group.pk))
    assert not Membership.objects.exists()
    assert response.status_code in (200, 302)
    customer.refresh_from_db()
    assert customer.name == "Before" and Customer.objects.count() == 1


def test_group_actions_need_the_membership_permissions_the_api_needs():
    client = staff_client("customers.view_customer", "customers.change_customer", "groups.add_membership")
    actions = [name for name, _ in client.get(url(CHANGELIST)).context["action_form"].fields["action"].choices]
    assert "add_to_group" in actions and "remove_from_group" not in actions


# ----------------------------------------------------------------------------------------- history


def test_history_page_shows_who_changed_which_fields(admin_client, admin_user):
    customer = CustomerFactory(external_id="EXT-CU-0042", name="Before")
    admin_client.post(url("customers_customer_change", customer.pk), customer_form(name="After"))

    response = admin_client.get(url("customers_customer_history", customer.pk))

    assert response.status_code == 200
    latest = customer.history.first()
    assert latest.history_user == admin_user
    html = response.content.decode()
    assert admin_user.username in html
    assert "Before" in html and "After" in html  # the name change, old → new


def test_history_cannot_be_reverted_from_the_admin(admin_client):
    customer = CustomerFactory(name="Before")
    customer_update(customer=customer, changes={"name": "After"})
    old = customer.history.last()
    response = admin_client.post(url("customers_customer_simple_history", customer.pk, old.history_id), {"name": "x"})
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.name == "After"


def test_an_api_change_records_the_api_keys_user_in_the_history():
    integrator = staff_client("customers.change_customer", "customers.view_customer").user
    api = client_for(integrator)
    customer = CustomerFactory(name="Before")

    assert api.patch(f"/api/v1/customers/{customer.pk}", {"name": "After"}, format="json").status_code == 200

    assert customer.history.first().history_user == integrator


def test_a_service_call_without_a_request_records_no_user():
    """Commands call services outside any request: their history entries have no user."""
    customer = customer_create(name="From a command")
    assert customer.history.get().history_user is None


def test_customer_history_also_shows_who_changed_its_group_memberships(admin_client, admin_user):
    group = GroupFactory(name="VIP")
    customer = CustomerFactory(external_id="EXT-CU-0042")
    admin_client.post(url("customers_customer_change", customer.pk), customer_form(groups=[str(group.pk)]))
    admin_client.post(url("customers_customer_change", customer.pk), customer_form(groups=[]))

    response = admin_client.get(url("customers_customer_history", customer.pk))

    memberships = [e for e in response.context["entries"] if "customer group" in e.action]
    assert [(e.action, e.who) for e in memberships] == [
        ("Removed from customer group", admin_user),
        ("Added to customer group", admin_user),
    ]
    html = response.content.decode()
    assert "left “VIP” (membership ended" in html and "joined “VIP”" in html
    assert "doesn&#x27;t have a change history" not in html and "doesn't have a change history" not in html


def test_history_shows_who_changed_which_field_from_what_to_what_and_why(admin_client, admin_user):
    """Bug: a customer loaded without history (seed_demo, imports) showed no field changes on its first edit."""
    customer = CustomerFactory(external_id="EXT-CU-0042", name="Old Name Ltd", address_city="York")
    Customer.history.filter(id=customer.pk).delete()  # as seed_demo and COPY imports leave it

    admin_client.post(
        url("customers_customer_change", customer.pk), customer_form(name="New Name Ltd", address_city="Leeds")
    )
    response = admin_client.get(url("customers_customer_history", customer.pk))

    [changed, baseline] = response.context["entries"]
    assert (changed.action, changed.who) == ("Changed", admin_user)
    assert ("Name", "Old Name Ltd", "New Name Ltd") in changed.changes
    assert ("City", "York", "Leeds") in changed.changes
    assert (baseline.action, baseline.who, baseline.created) == ("Created", None, True)
    assert "bulk load" in baseline.reason
    html = response.content.decode()
    assert "<del>Old Name Ltd</del> → <ins>New Name Ltd</ins>" in html
    assert "None" not in re.sub(r"<[^>]+>", "", html.split('id="change-history"')[1].split("</table>")[0])


def test_an_old_version_is_shown_read_only_without_todays_groups_and_usage(admin_client):
    group = GroupFactory(name="VIP")
    customer = CustomerFactory(external_id="EXT-CU-0042", name="Old Name Ltd")
    admin_client.post(url("customers_customer_change", customer.pk), customer_form(name="New Name Ltd"))
    admin_client.post(url("customers_customer_change", customer.pk), customer_form(groups=[str(group.pk)]))
    first = Customer.history.filter(id=customer.pk).order_by("history_date").first()

    response = admin_client.get(url("customers_customer_simple_history", customer.pk, first.history_id))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Old Name Ltd" in html and "<input" not in html.split('id="version-fields"')[1].split("</table>")[0]
    assert "VIP" not in html and "Usage" not in html


def test_history_of_a_malformed_customer_id_is_404(admin_client):
    assert admin_client.get(url("customers_customer_history", "not-a-uuid")).status_code == 404


# ----------------------------------------------------------------------------------------- big tables


@pytest.mark.postgres
def test_unfiltered_list_on_postgresql_shows_the_planners_estimate_without_counting(admin_client, monkeypatch):
    from billingengine.admin import LargeTablePaginator

    monkeypatch.setattr(LargeTablePaginator, "estimate_threshold", 1)
    CustomerFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")

    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(url(CHANGELIST))

    assert "about 3 customers" in response.content.decode()
    assert not [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]


def test_a_filtered_count_stops_at_the_limit(admin_client, monkeypatch):
    from customers.admin import CustomerListPaginator

    monkeypatch.setattr(CustomerListPaginator, "count_limit", 2)
    CustomerFactory.create_batch(3, address_country="DE")
    response = admin_client.get(url(CHANGELIST), {"address_country": "DE"})
    assert "more than 2 customers" in response.content.decode()


def test_bulk_actions_refuse_too_many_customers_and_change_nothing(admin_client, monkeypatch):
    import customers.admin

    monkeypatch.setattr(customers.admin, "BULK_ACTION_LIMIT", 1)
    group = GroupFactory()
    selected = CustomerFactory.create_batch(2)
    response = action(admin_client, "add_to_group", selected, apply="yes", group=str(group.pk))
    assert response.status_code == 302
    assert messages_of(response)[0].startswith("Select at most 1 customers for a bulk action")
    assert not Membership.objects.exists()


def test_a_domain_error_from_the_service_is_a_message_and_rolls_everything_back(admin_client, monkeypatch):
    """A rule broken between validation and saving (a concurrent write) must not be a 500 nor half-saved."""
    import customers.admin
    from billingengine.errors import ExternalIdTaken

    vip = GroupFactory()
    customer = CustomerFactory(external_id=None, name="Before")

    def racing_update(*, customer, changes, replace=False):
        customer_update(customer=customer, changes={"name": changes["name"]})  # written, then rolled back
        raise ExternalIdTaken("EXT-RACE", customer.pk)

    monkeypatch.setattr(customers.admin, "customer_update", racing_update)
    response = admin_client.post(
        url("customers_customer_change", customer.pk),
        customer_form(name="After", external_id="EXT-RACE", groups=[str(vip.pk)]),
    )

    assert response.status_code == 302
    assert messages_of(response) == ["Nothing was saved: A customer with external_id 'EXT-RACE' already exists."]
    customer.refresh_from_db()
    assert (customer.name, customer.external_id) == ("Before", None)
    assert not Membership.objects.exists()


# ------------------------------------------------------------------------------ keyset pagination, filters


def walk(client, start_url: str, link: str = "next_url") -> list[list[str]]:
    """Follow the list's next (or previous) links from *start_url*; return the names on each page."""
    pages, address = [], start_url
    while address:
        response = client.get(address)
        assert response.status_code == 200
        cl = response.context["cl"]
        pages.append([c.name for c in cl.result_list])
        following = getattr(cl, link)
        address = url("customers_customer_changelist") + following if following else None
    return pages


def test_next_links_walk_every_customer_once_in_order_without_offset(admin_client):
    """Issue 14: offset pages got slower with depth; the list now pages by position (after the last row)."""
    customers = CustomerFactory.create_batch(7)
    for i, customer in enumerate(customers):  # equal timestamps for some: the id breaks the tie
        Customer.objects.filter(pk=customer.pk).update(created_at=timezone.now() - timezone.timedelta(days=i // 2))
    from customers.admin import CustomerAdmin

    CustomerAdmin.list_per_page, saved = 3, CustomerAdmin.list_per_page
    try:
        pages = walk(admin_client, url("customers_customer_changelist"))
        expected = list(Customer.objects.order_by("-created_at", "-id").values_list("name", flat=True))
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [n for page in pages for n in page] == expected
        # Back from the last page with "previous": the same pages in reverse.
        last = admin_client.get(url("customers_customer_changelist")).context["cl"].next_url
        last = admin_client.get(url("customers_customer_changelist") + last).context["cl"].next_url
        back = walk(admin_client, url("customers_customer_changelist") + last, link="previous_url")
        assert back == pages[::-1]
        # A deep page seeks to its position: no query skips rows with OFFSET.
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(url("customers_customer_changelist") + last)
        assert not [q["sql"] for q in queries.captured_queries if "OFFSET" in q["sql"].upper()]
        # Sorted by name, ascending, also walks everything once.
        by_name = walk(admin_client, url("customers_customer_changelist") + "?o=1")
        assert [n for page in by_name for n in page] == sorted(c.name for c in customers)
    finally:
        CustomerAdmin.list_per_page = saved


def test_a_page_link_keeps_filters_and_search_and_a_filter_change_starts_from_the_first_page(admin_client):
    group = GroupFactory(name="VIP")
    members = CustomerFactory.create_batch(4, name="Member")
    for customer in members:
        MembershipFactory(customer=customer, group=group)
    CustomerFactory.create_batch(3, name="Other")
    from customers.admin import CustomerAdmin

    CustomerAdmin.list_per_page, saved = 3, CustomerAdmin.list_per_page
    try:
        response = admin_client.get(url("customers_customer_changelist"), {"group": str(group.pk), "q": "Member"})
        cl = response.context["cl"]
        assert f"group={group.pk}" in cl.next_url and "q=Member" in cl.next_url and "after=" in cl.next_url
        second = admin_client.get(url("customers_customer_changelist") + cl.next_url).context["cl"]
        assert [c.name for c in second.result_list] == ["Member"]
        assert "after=" not in second.get_query_string({"address_country": "DE"})
        html = admin_client.get(url("customers_customer_changelist") + cl.next_url).content.decode()
        assert 'class="first-page"' in html and 'class="previous-page"' in html and 'class="next-page"' not in html
    finally:
        CustomerAdmin.list_per_page = saved


def test_a_malformed_page_position_gives_the_lists_error_page_not_a_500(admin_client):
    response = admin_client.get(url("customers_customer_changelist"), {"after": "not-a-position"})
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_country_filter_offers_only_countries_in_use_and_the_group_filter_comes_first(admin_client):
    """Bug: all ~250 countries were listed, pushing the customer-group filter ~5,700 px down."""
    CustomerFactory(address_country="DE")
    CustomerFactory(address_country="FR")
    CustomerFactory(address_country=None)
    GroupFactory(name="VIP")

    response = admin_client.get(url("customers_customer_changelist"))

    specs = response.context["cl"].filter_specs
    assert [spec.title for spec in specs][:2] == ["customer group", "country"]
    country = specs[1]
    assert [code for code, _ in country.lookup_choices] == ["FR", "DE"]  # France (FR), Germany (DE) by name
    assert "?_facets" not in response.content.decode()  # no "Show counts": nothing counts a big table per choice
    filtered = admin_client.get(url("customers_customer_changelist"), {"address_country": "DE"}).context["cl"]
    assert [c.address_country.code for c in filtered.result_list] == ["DE"]


def test_clear_search_appears_only_with_a_search_or_filter_and_clears_them(admin_client):
    """Bug: "(Show all)" was always there and, on the unfiltered list, led back to the same page."""
    CustomerFactory(name="Acme Ltd")
    assert 'id="clear-search"' not in admin_client.get(url("customers_customer_changelist")).content.decode()
    html = admin_client.get(url("customers_customer_changelist"), {"q": "Acme"}).content.decode()
    assert 'id="clear-search"' in html and "Show all" not in html


def test_the_delete_page_says_how_many_data_records_stay(admin_client):
    from tests.records.conftest import ingest

    customer = CustomerFactory(external_id="EXT-DEL-1")
    ingest(
        [
            {
                "customer_external_id": "EXT-DEL-1",
                "code": "SMS",
                "quantity": "1",
                "time_from": f"2026-03-0{d}T00:00:00Z",
            }
            for d in (1, 2)
        ]
    )

    html = admin_client.get(url("customers_customer_delete", customer.pk)).content.decode()

    assert "2 data record(s) of this customer stay" in html


def test_a_reason_given_with_an_edit_appears_in_the_history(admin_client, admin_user):
    customer = CustomerFactory(external_id="EXT-CU-0042", name="Old Name Ltd")

    admin_client.post(
        url("customers_customer_change", customer.pk),
        customer_form(name="New Name Ltd", change_reason="customer's email of 3 March"),
    )

    [changed, *_] = admin_client.get(url("customers_customer_history", customer.pk)).context["entries"]
    assert (changed.who, changed.reason) == (admin_user, "customer's email of 3 March")
    assert ("Name", "Old Name Ltd", "New Name Ltd") in changed.changes
