"""The admin site itself: branding, its configurable URL."""

from __future__ import annotations

import importlib

import pytest
from django.test import Client
from django.urls import clear_url_caches, reverse

import billingengine.urls
from billingengine.admin_site import SECTION_ORDER, section_key

pytestmark = pytest.mark.django_db


def test_sign_in_page_is_branded(client):
    html = client.get(reverse("admin:login")).content.decode()
    assert '<div id="site-name"><a href="' in html and "BillingEngine administration</a>" in html
    assert "<title>Log in | BillingEngine</title>" in html
    assert "Django administration" not in html


def test_index_is_branded_for_staff(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "BillingEngine administration" in html and "Customers, prices, bills and API access" in html


def test_admin_url_comes_from_settings(settings):
    original = settings.ADMIN_URL
    settings.ADMIN_URL = "staff-only/"
    try:
        importlib.reload(billingengine.urls)
        clear_url_caches()
        assert reverse("admin:index") == "/staff-only/"
        assert Client().get("/staff-only/login/").status_code == 200
        assert Client().get("/admin/login/").status_code == 404
    finally:
        settings.ADMIN_URL = original
        importlib.reload(billingengine.urls)
        clear_url_caches()
    assert reverse("admin:index") == f"/{original}"


def test_index_sections_come_in_task_order_and_skip_apps_not_installed(admin_client):
    """Bug: sections were alphabetical (API access first, Customers somewhere in the middle)."""
    sections = [app["app_label"] for app in admin_client.get(reverse("admin:index")).context["app_list"]]
    known = [s for s in sections if s in SECTION_ORDER]
    assert known == sorted(known, key=SECTION_ORDER.index)
    assert sections[:2] == ["customers", "groups"] and sections[-1] == "axes"  # the lockout log out of the way
    assert sections.index("records") < sections.index("billingengine") < sections.index("auth")


def test_sections_of_later_apps_slot_in_by_app_label():
    assert sorted(
        ["auth", "billing", "customers", "pricing", "records", "groups", "billingengine"],
        key=lambda a: section_key(a, a),
    ) == [
        "customers",
        "groups",
        "pricing",
        "billing",
        "records",
        "billingengine",
        "auth",
    ]


def test_view_site_goes_to_the_api_documentation_and_pages_have_a_favicon(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert '<a href="/api/docs/">API documentation</a>' in html and "View site" not in html
    assert 'rel="icon"' in html and "billingengine/favicon.png" in html
    assert admin_client.get("/api/docs/").status_code == 200


def test_unknown_admin_pages_get_the_branded_404(admin_client):
    response = admin_client.get(reverse("admin:index") + "customers/nothing-here/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "BillingEngine administration" in html and "Page not found" in html


def test_a_page_without_permission_gets_the_branded_403():
    from tests.admin_helpers import staff_client

    client = staff_client("customers.view_customer")
    response = client.get(reverse("admin:customers_customer_add"))
    assert response.status_code == 403
    assert "You may not open this page" in response.content.decode()


def test_dates_show_one_format_with_the_time_zone(admin_client):
    from tests.factories import CustomerFactory

    customer = CustomerFactory()
    html = admin_client.get(reverse("admin:customers_customer_changelist")).content.decode()
    assert f"{customer.created_at:%Y-%m-%d %H:%M:%S} UTC" in html
