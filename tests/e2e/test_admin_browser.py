"""End to end in a real headless Chromium (Debian's /usr/bin/chromium), as billing staff use the admin.

Covers: filtering a list of thousands by customer group and paging through it, the history diff after an
edit, a membership shown by name, an API key's status and its revocation, the usage month picker, a bulk
group change found in the history, and a view-only user who sees no change controls.

With E2E_SCREENSHOTS=<dir> (see bench/screenshots.py) the tests also save pictures of the main pages at
1400 px width into that directory (docs/screenshots/ in the repository).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group as PermissionGroup
from django.urls import reverse
from playwright.sync_api import sync_playwright

from billing.services import bill_issue
from billingengine.models import ApiKey
from billingengine.roles import VIEWER
from customers.models import Customer
from groups.demo import seed_demo
from groups.models import Group, Membership
from pricing.services import price_list_create, rate_create
from tests.records.conftest import ingest

CHROMIUM = next(
    (
        p
        for p in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium")
        if p and os.path.exists(p)
    ),
    None,
)

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium); .ci/run installs it"),
]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "a-long-test-password"
SCREENSHOTS = Path(os.environ["E2E_SCREENSHOTS"]) if os.environ.get("E2E_SCREENSHOTS") else None


def shoot(page, name: str) -> None:
    """Save a full-page picture of *page* as <name>.png when screenshots are asked for."""
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def choose_in_autocomplete(page, container_selector: str, text: str) -> None:
    """Pick *text* in a Django admin autocomplete (select2) widget."""
    page.click(container_selector)
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-results__option:has-text('{text}')")


def browser_page(p):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(20_000)
    return browser, page


def sign_in(page, admin_root: str, username: str) -> None:
    page.goto(admin_root)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")


def test_billing_staff_work_through_the_admin(live_server, django_user_model):
    django_user_model.objects.create_superuser("staff", "staff@example.com", PASSWORD)
    api_user = django_user_model.objects.create_user("crm-sync-user", "crm@example.com", PASSWORD)
    seed_demo(customers=3000, groups=8, memberships_per_customer=2, seed=7)
    group = Group.objects.with_customer_count().order_by("-customer_count").first()
    members = Membership.objects.current().filter(group=group).count()
    assert members > 50  # enough for more than one page of the filtered list
    customer = Customer.objects.filter(memberships__left_at__isnull=True).order_by("external_id").first()
    old_name = customer.name
    membership = customer.memberships.select_related("group").first()
    now = datetime.now(UTC)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    ingest(
        [
            {"customer_external_id": customer.external_id, "code": "SMS", "quantity": "1200.5",
             "time_from": (last_month + timedelta(days=3)).isoformat()},
            {"customer_external_id": customer.external_id, "code": "SMS", "quantity": "1000",
             "time_from": (last_month + timedelta(days=4)).isoformat()},
            {"customer_external_id": customer.external_id, "code": "SMS", "quantity": "7",
             "time_from": this_month.isoformat()},
        ]
    )  # fmt: skip
    # A price list with rate versions (unit, graduated, a newer unit price) and last month's bill, through the
    # services: staff read them in the admin.
    price_list = price_list_create(name="Standard", currency="EUR", description="Everybody's prices")
    long_ago = last_month - timedelta(days=400)
    rate_create(price_list=price_list, code="SMS", model="unit", valid_from=long_ago, unit_price="0.05")
    rate_create(price_list=price_list, code="SMS", model="unit", valid_from=last_month, unit_price="0.045")
    rate_create(
        price_list=price_list,
        code="VOICE_MIN",
        model="graduated",
        valid_from=long_ago,
        tiers=[
            {"up_to": "1000", "unit_price": "0.02", "flat_price": "0"},
            {"up_to": None, "unit_price": "0.015", "flat_price": "5"},
        ],
    )
    bill = bill_issue(customer=customer, start=last_month, end=this_month)
    admin_root = live_server.url + reverse("admin:index")
    customer_url = f"{admin_root}customers/customer/{customer.pk}/change/"

    # Django's ORM refuses to run while Playwright's event loop runs in this thread: the browser part
    # only talks HTTP to the live server; the database is checked after the browser has closed.
    with sync_playwright() as p:
        browser, page = browser_page(p)
        try:
            sign_in(page, admin_root, "staff")
            sections = [s.strip() for s in page.locator("#content-main .module caption a.section").all_text_contents()]
            assert sections[:2] == ["Customers", "Customer groups"] and "Staff" in sections
            assert sections.index("Data records") < sections.index("API access") < sections.index("Staff")
            assert page.locator("#user-tools a", has_text="API documentation").count() == 1
            shoot(page, "01-index")

            # --- The customer list of thousands, filtered by customer group, paged with next/previous.
            page.goto(f"{admin_root}customers/customer/")
            filter_titles = page.locator("#changelist-filter details summary").all_text_contents()
            assert filter_titles[0].strip().lower() == "by customer group"
            countries = page.locator("#changelist-filter details[data-filter-title='country'] li").count()
            assert countries <= 40  # countries in use (+ "All"), not ~250
            shoot(page, "02-customer-list")
            page.click(f"#changelist-filter details[data-filter-title='customer group'] a:text-is('{group.name}')")
            page.wait_for_url(f"**group={group.pk}**")
            rows = page.locator("#result_list tbody tr")
            assert rows.count() == 50
            assert all(group.name in text for text in page.locator("#result_list td.field-groups").all_inner_texts())
            first_page = page.locator("#result_list td.field-external_id").all_inner_texts()
            shoot(page, "03-customer-list-filtered-by-group")
            page.click("a.next-page")
            page.wait_for_url("**after=**")
            assert f"group={group.pk}" in page.url
            second_page = page.locator("#result_list td.field-external_id").all_inner_texts()
            assert second_page and not set(first_page) & set(second_page)
            assert all(group.name in text for text in page.locator("#result_list td.field-groups").all_inner_texts())
            page.click("a.previous-page")
            page.wait_for_url("**before=**")
            assert page.locator("#result_list td.field-external_id").all_inner_texts() == first_page

            # --- The usage month picker: last month (invoiced) by default, then this month.
            page.goto(customer_url)
            usage = page.inner_text("#usage")
            assert f"{last_month:%Y-%m-%d}" in usage and "2,200.5" in usage
            assert page.locator("#usage td.num").first.evaluate("e => getComputedStyle(e).textAlign") == "right"
            assert page.locator(".field-external_id_locked code.external-id").inner_text() == customer.external_id
            assert page.locator("input[name=external_id]").count() == 0  # read-only once set
            shoot(page, "04-customer-change-page")
            page.select_option("#usage-month", f"{this_month:%Y-%m}")
            page.wait_for_url(f"**usage_month={this_month:%Y-%m}**")
            usage = page.inner_text("#usage")
            assert f"{this_month:%Y-%m-%d}" in usage and "2,200.5" not in usage
            assert page.locator("#usage td.num").first.inner_text() == "7"

            # --- Edit, then the history shows who changed which field from what to what.
            page.fill("#id_name", "Renamed In The Browser Ltd")
            page.fill("#id_change_reason", "Customer's email of 3 March")
            page.click("input[name=_save]")
            page.wait_for_selector("text=was changed successfully")
            page.goto(f"{admin_root}customers/customer/{customer.pk}/history/")
            row = page.locator("#change-history tr.history-entry").first
            assert row.locator(".history-who").inner_text() == "staff"
            assert row.locator(".history-reason").inner_text() == "Customer's email of 3 March"
            assert row.locator(".history-changes del").first.inner_text() == old_name
            assert row.locator(".history-changes ins").first.inner_text() == "Renamed In The Browser Ltd"
            assert "bulk load" in page.inner_text("#change-history")  # the first row of a seeded customer
            assert "None" not in " ".join(page.locator("#change-history .history-reason").all_inner_texts())
            shoot(page, "05-customer-history")

            # --- A membership by name (history title and breadcrumbs), not by two UUIDs.
            page.goto(f"{admin_root}groups/membership/{membership.pk}/history/")
            expected_name = f"Renamed In The Browser Ltd ({customer.external_id}) in {membership.group.name}, from "
            assert expected_name in page.inner_text("h1")
            assert expected_name in page.inner_text(".breadcrumbs")
            assert str(membership.customer_id) not in page.inner_text(".breadcrumbs")
            page.goto(f"{admin_root}groups/membership/?q={customer.external_id}")
            listed = page.inner_text("#result_list")
            assert f"Renamed In The Browser Ltd ({customer.external_id})" in listed and membership.group.name in listed
            shoot(page, "06-membership-list")

            page.goto(f"{admin_root}records/datarecord/?customer_id={customer.pk}")
            assert "Renamed In The Browser Ltd" in page.inner_text("#changelist-filter")
            assert page.locator("#result_list td.field-amount").first.inner_text() == "7"
            shoot(page, "07-data-records")

            # --- A price list with its rate versions, and last month's bill with its statement.
            page.goto(f"{admin_root}pricing/pricelist/{price_list.pk}/change/")
            rates = page.inner_text("#rates-group")
            assert "0.045 EUR per unit" in rates and "graduated (EUR)" in rates
            assert f"{last_month:%Y-%m-%d} 00:00:00 UTC" in rates  # the first SMS price's end, the second's start
            shoot(page, "11-price-list")
            page.goto(f"{admin_root}billing/bill/")
            assert bill.number in page.inner_text("#result_list") and "99.02 EUR" in page.inner_text("#result_list")
            page.goto(f"{admin_root}billing/bill/{bill.pk}/change/")
            assert "99.02 EUR" in page.inner_text(".field-total")
            statement = page.frame_locator("iframe[title=Statement]")
            statement.locator("body").wait_for()
            assert bill.number in statement.locator("body").inner_text()
            shoot(page, "12-bill")

            # --- API key: shown once in a box with a Copy button; status Active; revoked from its page.
            page.goto(f"{admin_root}billingengine/apikey/add/")
            choose_in_autocomplete(page, ".field-user .select2-container", "crm-sync-user")
            page.fill("#id_name", "crm-sync")
            page.click("input[name=_save]")
            key = page.locator("code#new-api-key").inner_text()
            assert len(key) > 40
            assert "monospace" in page.locator("code#new-api-key").evaluate("e => getComputedStyle(e).fontFamily")
            page.click("button.copy-api-key")
            page.wait_for_selector("button.copy-api-key:has-text('Copied')")
            assert page.locator("td.field-status").first.inner_text() == "Active"
            shoot(page, "08-api-key-created")
            page.click("#result_list th.field-name a:text-is('crm-sync')")
            assert page.locator("a.deletelink").count() == 0
            page.click("#revoke-key")
            page.wait_for_selector("text=Revoked the API key “crm-sync”")
            page.goto(f"{admin_root}billingengine/apikey/")
            assert page.locator("td.field-status").first.inner_text() == "Revoked"
            shoot(page, "09-api-keys")
            assert key not in page.content()  # shown once only

            # --- A bulk action, then the change appears in the customer's history.
            page.goto(f"{admin_root}customers/customer/?q={customer.external_id}")
            page.check("#result_list input.action-select")
            page.select_option("select[name=action]", "remove_from_group")
            page.click("button[name=index]")
            page.wait_for_selector("text=Choose the customer group to remove")
            choose_in_autocomplete(page, ".field-group .select2-container", membership.group.name)
            page.click("#group-action-form input[type=submit]")
            page.wait_for_selector("text=Removed 1 of 1 selected customer(s)")
            page.goto(f"{admin_root}customers/customer/{customer.pk}/history/")
            history = page.inner_text("#change-history")
            assert (
                f"left “{membership.group.name}” (membership ended" in history
                and "Removed from customer group" in history
            )

            page.goto(f"{admin_root}customers/nothing-here/")
            assert "Page not found" in page.inner_text("h1") and "BillingEngine" in page.inner_text("#header")
        finally:
            browser.close()

    customer.refresh_from_db()
    assert customer.name == "Renamed In The Browser Ltd"
    api_key = ApiKey.objects.get(name="crm-sync")
    assert api_key.revoked and api_key.user == api_user
    membership.refresh_from_db()
    assert membership.left_at is not None  # ended, not deleted
    assert membership.history.first().history_user.username == "staff"


def test_a_billing_viewer_sees_everything_and_no_change_controls(live_server, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", "viewer@example.com", PASSWORD, is_staff=True)
    viewer.groups.add(PermissionGroup.objects.get(name=VIEWER))
    seed_demo(customers=120, groups=3, seed=3)
    customer = Customer.objects.order_by("external_id").first()
    group = Group.objects.order_by("name").first()
    admin_root = live_server.url + reverse("admin:index")

    with sync_playwright() as p:
        browser, page = browser_page(p)
        try:
            sign_in(page, admin_root, "viewer")
            assert page.locator("a.addlink").count() == 0 and page.locator("a.changelink").count() == 0
            page.goto(f"{admin_root}customers/customer/")
            assert page.locator("#result_list tbody tr").count() == 50
            assert page.locator(".object-tools a.addlink").count() == 0
            actions = page.locator("select[name=action] option").all_inner_texts()
            assert not [a for a in actions if "customer group" in a]  # no bulk group changes
            page.goto(f"{admin_root}customers/customer/{customer.pk}/change/")
            assert page.locator("input[name=_save], input[name=_continue], a.deletelink").count() == 0
            assert page.locator("#customer_form input[type=text], #customer_form textarea").count() == 0
            shoot(page, "10-view-only-customer")
            page.goto(f"{admin_root}groups/group/{group.pk}/change/")
            assert page.locator("input[name=_save], a.deletelink").count() == 0
            response = page.goto(f"{admin_root}customers/customer/add/")
            assert response.status == 403 and "You may not open this page" in page.inner_text("h1")
            page.goto(f"{admin_root}billingengine/apikey/")
            assert "You may not open this page" in page.inner_text("h1")
        finally:
            browser.close()
