"""End to end in a real headless Chromium: sign in, create a customer group and a customer in it, remove
the customer with the bulk action and find that change in the customer's history."""

from __future__ import annotations

import os
import shutil

import pytest
from django.urls import reverse
from playwright.sync_api import sync_playwright

from customers.models import Customer
from groups.models import Membership

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


def choose_in_autocomplete(page, container_selector: str, text: str) -> None:
    """Pick *text* in a Django admin autocomplete (select2) widget."""
    page.click(container_selector)
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-results__option:has-text('{text}')")


def test_staff_removes_a_customer_from_a_group_and_finds_it_in_the_history(live_server, django_user_model):
    django_user_model.objects.create_superuser("staff", "staff@example.com", "a-long-test-password")
    admin_root = live_server.url + reverse("admin:index")  # settings.ADMIN_URL

    # Django's ORM refuses to run while Playwright's event loop runs in this thread: the browser part
    # only talks HTTP to the live server; the database is checked after the browser has closed.
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        try:
            page.goto(admin_root)
            assert "BillingEngine administration" in page.content()
            page.fill("#id_username", "staff")
            page.fill("#id_password", "a-long-test-password")
            page.click("input[type=submit]")
            page.wait_for_selector("text=Customer groups")

            page.goto(f"{admin_root}groups/group/add/")
            page.fill("#id_name", "E2E VIP")
            page.click("input[name=_save]")
            page.wait_for_selector("text=was added successfully")

            page.goto(f"{admin_root}customers/customer/add/")
            page.fill("#id_name", "Browser Customer Ltd")
            page.fill("#id_external_id", "EXT-E2E-1")
            choose_in_autocomplete(page, ".field-groups .select2-container", "E2E VIP")
            page.click("input[name=_save]")
            page.wait_for_selector("text=was added successfully")
            assert "E2E VIP" in page.inner_text("#result_list")  # the "Customer groups" column

            page.check("#result_list input.action-select")
            page.select_option("select[name=action]", "remove_from_group")
            page.click("button[name=index]")
            page.wait_for_selector("text=Choose the customer group to remove")
            choose_in_autocomplete(page, ".field-group .select2-container", "E2E VIP")
            page.click("#group-action-form input[type=submit]")
            page.wait_for_selector("text=Removed 1 of 1 selected customer(s) from customer group “E2E VIP”")

            page.click("#result_list a:has-text('Browser Customer Ltd')")
            page.click("a.historylink")
            history = page.inner_text("#membership-changes")
            assert "E2E VIP" in history and "left (membership ended" in history and "staff" in history
            assert "joined" in history
        finally:
            browser.close()

    customer = Customer.objects.get(external_id="EXT-E2E-1")
    [membership] = Membership.objects.filter(customer=customer)
    assert membership.left_at is not None  # ended, not deleted
    assert membership.history.first().history_user.username == "staff"
