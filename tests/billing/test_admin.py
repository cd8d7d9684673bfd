"""Bills in the admin: view only (also for superusers), the statement and its PDF; billing on the customer page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from billing.admin import month_of
from billing.models import Bill
from billing.services import bill_issue
from tests.admin_helpers import staff_client, url
from tests.billing.conftest import at, submit
from tests.factories import UserFactory
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def bill(customer):
    RateFactory(
        price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("2.5"), valid_from=at("2020-01-01T00:00")
    )
    submit(customer, [("SMS", 4, at("2026-03-02T10:00"))])
    return bill_issue(customer=customer, start=at("2026-03-01T00:00"), end=at("2026-04-01T00:00"))


def test_bill_list_finds_bills_by_number_customer_name_and_external_id(superuser_client, bill):
    for term in (bill.number, "Acme", "EXT-ACME"):
        response = superuser_client.get(url("billing_bill_changelist"), {"q": term})
        assert response.status_code == 200
        assert bill.number in response.content.decode(), term
    response = superuser_client.get(url("billing_bill_changelist"), {"q": "nobody"})
    assert bill.number not in response.content.decode()


def test_bill_list_filters_by_period_and_issue_date(superuser_client, bill):
    response = superuser_client.get(
        url("billing_bill_changelist"),
        {
            "period_from__gte": "2026-03-01 00:00:00+00:00",
            "period_from__lt": "2026-03-02 00:00:00+00:00",
            "issued_at__gte": "2000-01-01 00:00:00+00:00",
        },
    )
    assert response.status_code == 200 and bill.number in response.content.decode()
    response = superuser_client.get(url("billing_bill_changelist"), {"period_from__gte": "2026-04-01 00:00:00+00:00"})
    assert bill.number not in response.content.decode()


def test_even_a_superuser_cannot_add_change_or_delete_a_bill(superuser_client, bill):
    assert superuser_client.get(url("billing_bill_add")).status_code == 403
    assert superuser_client.get(url("billing_bill_delete", bill.pk)).status_code == 403
    detail = superuser_client.get(url("billing_bill_change", bill.pk))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert 'name="_save"' not in page and "Delete" not in page
    superuser_client.post(url("billing_bill_change", bill.pk), {"number": "X"})
    assert Bill.objects.get().number == bill.number


def test_bill_detail_shows_the_statement_and_a_pdf_download(superuser_client, bill):
    page = superuser_client.get(url("billing_bill_change", bill.pk)).content.decode()
    assert url("billing_bill_statement", bill.pk) in page and url("billing_bill_pdf", bill.pk) in page
    statement = superuser_client.get(url("billing_bill_statement", bill.pk))
    assert statement.status_code == 200 and "10.00 EUR" in statement.content.decode()
    pdf = superuser_client.get(url("billing_bill_pdf", bill.pk))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert superuser_client.get(url("billing_bill_pdf", "not-a-uuid")).status_code == 404


def test_staff_without_the_view_permission_cannot_read_bills(bill):
    client = staff_client("customers.view_customer")
    assert client.get(url("billing_bill_statement", bill.pk)).status_code == 403
    assert client.get(url("billing_bill_changelist")).status_code == 403


def test_the_customer_page_shows_draft_bills_of_this_and_last_month_and_the_bills(superuser_client, customer, bill):
    this_month, _ = month_of(timezone.now())
    submit(customer, [("SMS", 2, this_month + timedelta(minutes=1)), ("SMS", 6, this_month - timedelta(days=2))])
    page = superuser_client.get(url("customers_customer_change", customer.pk)).content.decode()
    assert "draft bill, this month" in page.lower() and "draft bill, last month" in page.lower()
    assert "5.00 EUR" in page  # 2 x 2.50 this month
    assert "15.00 EUR" in page  # 6 x 2.50 last month
    assert bill.number in page


@pytest.fixture
def big_bill(customer):
    """A bill of 1,234.50 EUR, so the thousands separator shows."""
    RateFactory(
        price_list=PriceListFactory(currency="EUR"), unit_price=Decimal("2.5"), valid_from=at("2020-01-01T00:00")
    )
    submit(customer, [("SMS", Decimal("493.8"), at("2026-03-02T10:00"))])
    return bill_issue(customer=customer, start=at("2026-03-01T00:00"), end=at("2026-04-01T00:00"))


def test_bill_pages_show_money_with_its_currency_and_dates_in_the_admins_one_format(superuser_client, big_bill):
    """Bug: bill totals were "1234.50 EUR" (no separators) and the customer page's dates lacked seconds and zone."""
    listing = superuser_client.get(url("billing_bill_changelist")).content.decode()
    assert "1,234.50 EUR" in listing
    assert "2026-03-01 00:00:00 UTC" in listing
    page = superuser_client.get(url("billing_bill_change", big_bill.pk)).content.decode()
    assert "1,234.50 EUR" in page and "2026-04-01 00:00:00 UTC" in page
    customer_page = superuser_client.get(url("customers_customer_change", big_bill.customer_id)).content.decode()
    assert "1,234.50 EUR" in customer_page
    assert "2026-03-01 00:00:00 UTC" in customer_page and "2026-04-01 00:00:00 UTC" in customer_page


def test_the_printable_statement_may_be_framed_by_the_bills_own_page(superuser_client, bill):
    """Bug: the bill page frames its statement, but X-Frame-Options DENY made the browser show an error there."""
    response = superuser_client.get(url("billing_bill_statement", bill.pk))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert superuser_client.get(url("billing_bill_change", bill.pk))["X-Frame-Options"] == "DENY"  # the rest stays
