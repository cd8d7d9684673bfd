"""Prices in the admin: lists with their rates (tiers as rows, existing rates read-only), a group's lists on its
page, and the prices that apply now on a customer's page."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pricing.models import PriceList, Rate
from tests.admin_helpers import url
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory
from tests.pricing.factories import GRADUATED_TIERS, PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def form_data(*, rates: list[dict] | None = None, initial: int = 0, **fields) -> dict:
    data = {
        "name": "Standard",
        "description": "",
        "currency": "eur",
        "group": "",
        "customer": "",
        "priority": "0",
        "rates-TOTAL_FORMS": str(initial + len(rates or [])),
        "rates-INITIAL_FORMS": str(initial),
        "rates-MIN_NUM_FORMS": "0",
        "rates-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, rate in enumerate(rates or [], start=initial):
        tiers = rate.pop("tiers", [])
        row = {"valid_from_0": "2026-01-01", "valid_from_1": "00:00:00", **rate}
        for key, value in row.items():
            data[f"rates-{index}-{key}"] = value
        for i, (up_to, unit_price, flat_price) in enumerate(tiers):
            data[f"rates-{index}-tiers_{i}_up_to"] = up_to
            data[f"rates-{index}-tiers_{i}_unit_price"] = unit_price
            data[f"rates-{index}-tiers_{i}_flat_price"] = flat_price
    return data


def errors_of(response) -> str:
    assert response.status_code == 200, "expected the form again, with errors"
    return str(response.context["adminform"].form.errors) + str(
        [f.errors for formset in response.context["inline_admin_formsets"] for f in formset.formset.forms]
    )


def test_staff_add_a_list_with_a_graduated_rate_entered_as_tier_rows(admin_client):
    rate = {"code": "SMS", "model": "graduated", "tiers": [("1000", "0.05", ""), ("", "0.04", "")]}
    response = admin_client.post(url("pricing_pricelist_add"), form_data(rates=[rate]))
    assert response.status_code == 302, errors_of(response)
    pl = PriceList.objects.get()
    assert (pl.name, pl.currency, pl.scope) == ("Standard", "EUR", "default")
    stored = Rate.objects.get()
    assert (stored.price_list, stored.code, stored.valid_from, stored.tiers) == (pl, "SMS", T0, GRADUATED_TIERS)


def test_tiers_not_increasing_are_shown_on_the_rate_and_nothing_is_saved(admin_client):
    rate = {"code": "SMS", "model": "volume", "tiers": [("1000", "0.05", ""), ("500", "0.04", ""), ("", "0.03", "")]}
    response = admin_client.post(url("pricing_pricelist_add"), form_data(rates=[rate]))
    assert "greater than the previous tier" in errors_of(response)
    assert not PriceList.objects.exists() and not Rate.objects.exists()


def test_fields_of_another_model_are_refused(admin_client):
    rate = {"code": "SMS", "model": "unit", "unit_price": "1", "package_size": "10"}
    response = admin_client.post(url("pricing_pricelist_add"), form_data(rates=[rate]))
    assert "does not belong to a unit rate" in errors_of(response)
    assert not PriceList.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "standard"}, "already exists"),
        ({"priority": "3"}, "already taken"),
        ({"currency": "ZZZ"}, "not an ISO 4217 currency"),
    ],
)
def test_list_rules_are_the_services_and_shown_on_the_form(admin_client, fields, message):
    PriceListFactory(name="Standard", priority=3)
    response = admin_client.post(url("pricing_pricelist_add"), form_data(**{"name": "Other", **fields}))
    assert message in errors_of(response)
    assert PriceList.objects.count() == 1


def test_a_list_for_a_group_and_a_customer_is_refused(admin_client):
    data = form_data(group=str(GroupFactory().pk), customer=str(CustomerFactory().pk))
    assert "not both" in errors_of(admin_client.post(url("pricing_pricelist_add"), data))
    assert not PriceList.objects.exists()


def test_existing_rates_are_read_only_and_a_new_version_can_be_added(admin_client):
    pl = PriceListFactory(name="Standard", priority=0)
    old = RateFactory(price_list=pl, valid_from=T0)
    page = admin_client.get(url("pricing_pricelist_change", pl.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="rates-0-code"' not in html  # the existing rate has no inputs
    assert "0.05 EUR per unit" in html
    new = {"code": "SMS", "model": "unit", "unit_price": "0.06", "valid_from_0": "2026-02-01"}
    data = form_data(rates=[new], initial=1, **{"rates-0-id": str(old.pk), "rates-0-price_list": str(pl.pk)})
    response = admin_client.post(url("pricing_pricelist_change", pl.pk), data)
    assert response.status_code == 302, errors_of(response)
    assert [(r.valid_from.month, r.unit_price) for r in pl.rates.order_by("valid_from")] == [
        (1, Decimal("0.05")),
        (2, Decimal("0.06")),
    ]


def test_a_second_rate_of_a_code_from_the_same_moment_is_refused(admin_client):
    pl = PriceListFactory(name="Standard", priority=0)
    old = RateFactory(price_list=pl, valid_from=T0)
    new = {"code": "SMS", "model": "unit", "unit_price": "0.06"}
    data = form_data(rates=[new], initial=1, **{"rates-0-id": str(old.pk), "rates-0-price_list": str(pl.pk)})
    assert "already has a rate of SMS" in errors_of(admin_client.post(url("pricing_pricelist_change", pl.pk), data))
    assert pl.rates.count() == 1


def test_currency_cannot_change_once_the_list_has_rates(admin_client):
    pl = PriceListFactory(name="Standard", priority=0)
    old = RateFactory(price_list=pl, valid_from=T0)
    data = form_data(initial=1, currency="USD", **{"rates-0-id": str(old.pk), "rates-0-price_list": str(pl.pk)})
    data["rates-TOTAL_FORMS"] = "1"
    assert "cannot change" in errors_of(admin_client.post(url("pricing_pricelist_change", pl.pk), data))
    pl.refresh_from_db()
    assert pl.currency == "EUR"


def test_a_groups_page_shows_its_price_lists(admin_client):
    group = GroupFactory()
    pl = PriceListFactory(name="VIP prices", group=group)
    html = admin_client.get(url("groups_group_change", group.pk)).content.decode()
    assert "VIP prices" in html
    assert url("pricing_pricelist_change", pl.pk) in html


def test_a_customers_page_shows_the_prices_that_apply_now(admin_client):
    customer, group = CustomerFactory(), GroupFactory()
    MembershipFactory(customer=customer, group=group, joined_at=T0)
    RateFactory(price_list=PriceListFactory(name="Standard"), valid_from=T0)
    RateFactory(price_list=PriceListFactory(name="VIP prices", group=group), valid_from=T0, unit_price="0.04")
    html = admin_client.get(url("customers_customer_change", customer.pk)).content.decode()
    assert "Prices that apply now" in html
    assert html.index("Prices that apply now") < html.index(">Record<")  # above the collapsed record block
    assert "0.04 EUR per unit" in html
    assert "VIP prices" in html and "Standard" in html  # applied, and shadowed


def test_price_list_pages_render(admin_client):
    pl = PriceListFactory()
    RateFactory(price_list=pl, model="volume", unit_price=None, tiers=GRADUATED_TIERS)
    for page in ("pricing_pricelist_changelist", "pricing_pricelist_add"):
        assert admin_client.get(url(page)).status_code == 200
    assert admin_client.get(url("pricing_pricelist_change", pl.pk)).status_code == 200
    assert admin_client.get(url("pricing_pricelist_history", pl.pk)).status_code == 200


def test_a_price_lists_page_shows_rate_versions_in_the_admins_one_date_format(admin_client):
    """Valid from and valid to of rate versions read in the admin's one date format (the shared format_moment)."""
    pl = PriceListFactory(name="Dated", priority=0)
    RateFactory(price_list=pl, valid_from=T0)
    RateFactory(price_list=pl, valid_from=datetime(2026, 3, 1, 14, 5, 9, tzinfo=UTC))
    html = admin_client.get(url("pricing_pricelist_change", pl.pk)).content.decode()
    assert "2026-01-01 00:00:00 UTC" in html  # the first version's valid_from
    assert "2026-03-01 14:05:09 UTC" in html  # its valid_to, and the second version's valid_from
