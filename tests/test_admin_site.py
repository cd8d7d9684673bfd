"""The admin site itself: branding, its configurable URL."""

from __future__ import annotations

import importlib

import pytest
from django.test import Client
from django.urls import clear_url_caches, reverse

import billingengine.urls

pytestmark = pytest.mark.django_db


def test_sign_in_page_is_branded(client):
    html = client.get(reverse("admin:login")).content.decode()
    assert '<div id="site-name"><a href="' in html and "BillingEngine administration</a>" in html
    assert "<title>Log in | BillingEngine</title>" in html
    assert "Django administration" not in html


def test_index_is_branded_for_staff(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "BillingEngine administration" in html and "Customers, customer groups and API access" in html


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
