"""The printable statement: the bill's HTML template rendered to PDF by WeasyPrint."""

from __future__ import annotations

import io
import sys
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.services import bill_issue
from billing.statement import statement_html
from tests.billing.conftest import at, submit
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bill(customer):
    RateFactory(price_list=PriceListFactory(currency="EUR", name="Standard"), unit_price=Decimal("0.125"))
    submit(customer, [("SMS", 1234, at("2026-03-02T10:00"))])
    bill_issue(customer=customer, start=at("2026-02-01T00:00"), end=at("2026-03-01T00:00"))
    customer.refresh_from_db()
    submit(customer, [("SMS", 8, at("2026-02-10T00:00"))])  # late
    customer.refresh_from_db()
    return bill_issue(customer=customer, start=at("2026-03-01T00:00"), end=at("2026-04-01T00:00"))


def test_the_pdf_opens_and_holds_the_bill_number_the_customer_and_the_total(api, bill):
    response = api.get(f"/api/v1/bills/{bill.pk}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    pdf = b"".join(response.streaming_content) if response.streaming else response.content
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert bill.number in text
    assert "Acme Ltd" in text and "GB123" in text
    assert "155.25 EUR" in text  # 1234 x 0.125 + 8 x 0.125 (late) = 154.25 + 1.00
    assert "(late)" in text
    assert api.get(f"/api/v1/bills/{bill.pk}/pdf", HTTP_ACCEPT="application/pdf").status_code == 200


def test_the_statement_page_lists_lines_tiers_totals_and_the_late_mark(bill):
    html = statement_html(bill)
    assert bill.number in html and "1 High Street" in html and "N1 1AA London" in html
    assert "154.25 EUR" in html and "1.00 EUR" in html and "155.25 EUR" in html
    assert "(late)" in html


def test_the_pdf_of_an_unknown_bill_is_404(api, db):
    assert api.get("/api/v1/bills/00000000-0000-0000-0000-000000000000/pdf").status_code == 404


def test_without_weasyprint_the_pdf_is_503_saying_what_to_install_and_the_json_bill_still_works(api, bill, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as on a machine without it
    response = api.get(f"/api/v1/bills/{bill.pk}/pdf")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "pdf_unavailable"
    assert "apt-get install -y libpango-1.0-0 libpangoft2-1.0-0" in body["detail"]
    assert api.get(f"/api/v1/bills/{bill.pk}").status_code == 200
