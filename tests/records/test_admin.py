"""Data records in the admin: read-only, searchable, filterable; the customer's usage summary snippet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from records.admin import current_month, customer_records_url, customer_usage_summary_html
from records.models import DataRecord
from tests.factories import CustomerFactory, UserFactory
from tests.records.conftest import ingest, sms


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def test_record_changelist_searches_and_filters(staff, customer):
    other = CustomerFactory(external_id="EXT-OTHER")
    ingest([sms(), sms(code="MMS"), sms(customer_external_id=other.external_id, code="CALL_MIN")])

    def listed(query):
        response = staff.get(f"/admin/records/datarecord/?{query}")
        assert response.status_code == 200
        return sorted(r.code for r in response.context["cl"].result_list)

    assert listed("") == ["CALL_MIN", "MMS", "SMS"]
    assert listed("q=EXT-OTHER") == ["CALL_MIN"]
    assert listed("q=MMS") == ["MMS"]
    assert listed("code=SMS") == ["SMS"]
    assert listed(f"customer_id={customer.pk}") == ["MMS", "SMS"]
    assert listed("time_from__gte=2026-03-31+00:00:00%2B00:00&time_from__lt=2026-04-01+00:00:00%2B00:00") == [
        "CALL_MIN",
        "MMS",
        "SMS",
    ]
    assert listed("time_from__gte=2026-04-01+00:00:00%2B00:00") == []


def test_records_are_read_only_in_the_admin(staff, customer):
    ingest([sms()])
    record = DataRecord.objects.get()

    detail = staff.get(f"/admin/records/datarecord/{record.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert staff.get("/admin/records/datarecord/add/").status_code == 403
    assert staff.post(f"/admin/records/datarecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff.post(f"/admin/records/datarecord/{record.pk}/change/", {"code": "X"}).status_code == 403
    assert DataRecord.objects.get().code == "SMS"


def test_customer_usage_summary_html_shows_the_chosen_months_usage_and_links_to_the_records(customer):
    ingest(
        [
            sms(quantity=2, time_from="2026-03-01T00:00:00Z"),
            sms(quantity=3, time_from="2026-03-31T23:59:59Z"),
            sms(quantity=100, time_from="2026-04-01T00:00:00Z"),  # next month
            sms(code="MMS", quantity="0.5", time_from="2026-03-15T12:00:00Z"),
        ]
    )

    html = customer_usage_summary_html(customer, now=datetime(2026, 4, 20, tzinfo=UTC), month="2026-03")

    # Quantities without trailing zeros, right-aligned.
    assert '<td><code>SMS</code></td><td class="num">5</td><td class="num">2</td>' in html
    assert '<td><code>MMS</code></td><td class="num">0.5</td><td class="num">1</td>' in html
    assert "2026-03-01 to 2026-04-01" in html
    assert customer_records_url(customer).replace("?", "?") in html.replace("&amp;", "&")


def test_customer_usage_summary_html_without_usage(customer):
    assert "No usage" in customer_usage_summary_html(customer, now=datetime(2026, 3, 20, tzinfo=UTC))


def test_usage_shows_last_month_by_default_the_one_that_gets_invoiced(customer):
    ingest([sms(quantity="1234567.5", time_from="2026-02-10T00:00:00Z")])

    html = customer_usage_summary_html(customer, now=datetime(2026, 3, 20, tzinfo=UTC))

    assert "2026-02-01 to 2026-03-01" in html
    assert '<td class="num">1,234,567.5</td>' in html
    assert '<option value="2026-02" selected>February 2026 (last month: the one invoiced)</option>' in html
    assert '<option value="2026-03">March 2026 (so far)</option>' in html


def test_a_malformed_month_falls_back_to_last_month(customer):
    html = customer_usage_summary_html(customer, now=datetime(2026, 3, 20, tzinfo=UTC), month="2026-13")
    assert "2026-02-01 to 2026-03-01" in html


def test_current_month_wraps_at_the_year_end():
    assert current_month(datetime(2026, 12, 31, 23, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_customer_change_page_shows_the_chosen_months_usage_and_links_to_its_records(staff, customer):
    now = timezone.now()
    ingest([sms(time_from=now.isoformat(), quantity="1500"), sms(time_from=now.isoformat(), quantity="20")])
    response = staff.get(f"/admin/customers/customer/{customer.pk}/change/?usage_month={now:%Y-%m}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="usage-month"' in html
    assert '<td class="num">1,520</td>' in html
    assert customer_records_url(customer) in html


def test_the_records_list_shows_whose_records_and_links_external_ids_to_the_customer(staff, customer):
    """Bug: the customer filter of the records list was invisible and external ids were plain text."""
    ingest([sms(quantity="1500")])

    html = staff.get(customer_records_url(customer)).content.decode()

    assert str(customer) in html.split('id="changelist-filter"')[1]  # the active filter names the customer
    change_url = f"/admin/customers/customer/{customer.pk}/change/"
    assert f'<a class="nowrap" href="{change_url}">{customer.external_id}</a>' in html
    assert "1,500" in html
