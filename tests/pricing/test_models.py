"""Price list and rate invariants held by the database and by the rate terms check every door uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from pricing.models import PriceList, Rate, check_rate_terms
from tests.factories import CustomerFactory, GroupFactory
from tests.pricing.factories import GRADUATED_TIERS, PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def refused(**fields) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        PriceList.objects.create(**{"currency": "EUR", **fields})


def test_list_names_are_unique_ignoring_case_in_the_database():
    PriceListFactory(name="Standard")
    refused(name="STANDARD", priority=99)


def test_a_list_cannot_belong_to_a_group_and_a_customer():
    refused(name="both", group=GroupFactory(), customer=CustomerFactory())
    pl = PriceList(name="both", currency="EUR", group=GroupFactory(), customer=CustomerFactory())
    with pytest.raises(ValidationError) as error:
        pl.full_clean()
    assert "customer" in error.value.message_dict


def test_scope_is_derived_from_group_and_customer():
    assert PriceListFactory().scope == "default"
    assert PriceListFactory(group=GroupFactory()).scope == "group"
    assert PriceListFactory(customer=CustomerFactory()).scope == "customer"


def test_default_list_priorities_are_unique():
    PriceListFactory(priority=1)
    refused(name="other", priority=1)


def test_group_list_priorities_are_unique_among_all_group_lists():
    PriceListFactory(priority=1, group=GroupFactory())
    refused(name="other", priority=1, group=GroupFactory())


def test_customer_list_priorities_are_unique_per_customer():
    customer = CustomerFactory()
    PriceListFactory(priority=1, customer=customer)
    refused(name="other", priority=1, customer=customer)
    PriceListFactory(priority=1, customer=CustomerFactory())  # another customer may use it


def test_the_same_priority_in_different_scopes_is_fine():
    PriceListFactory(priority=5)
    PriceListFactory(priority=5, group=GroupFactory())
    PriceListFactory(priority=5, customer=CustomerFactory())
    assert PriceList.objects.filter(priority=5).count() == 3


def test_a_list_cannot_hold_two_rates_of_a_code_from_the_same_moment():
    rate = RateFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        RateFactory(price_list=rate.price_list, code=rate.code, valid_from=rate.valid_from)
    RateFactory(price_list=rate.price_list, code="MMS", valid_from=rate.valid_from)


def test_the_database_refuses_fields_of_another_model():
    with pytest.raises(IntegrityError), transaction.atomic():
        RateFactory(model="unit", unit_price=Decimal(1), package_size=Decimal(10))
    with pytest.raises(IntegrityError), transaction.atomic():
        RateFactory(model="graduated", unit_price=None)


def test_the_database_refuses_negative_prices():
    with pytest.raises(IntegrityError), transaction.atomic():
        RateFactory(unit_price=Decimal("-0.01"))


def test_price_list_changes_are_kept_in_its_history():
    pl = PriceListFactory(name="A")
    pl.name = "B"
    pl.save()
    assert [h.name for h in pl.history.order_by("history_date")] == ["A", "B"]


# -- rate terms -------------------------------------------------------------------------------------------------


def problems(**terms) -> dict[str, str]:
    _, found = check_rate_terms(**terms)
    return {p.path: p.code for p in found}


def test_valid_terms_are_cleaned_to_decimal_strings():
    cleaned, found = check_rate_terms(
        model="graduated",
        tiers=[{"up_to": 1000, "unit_price": "0.050"}, {"up_to": None, "unit_price": 0.04, "flat_price": "1.5"}],
    )
    assert found == []
    assert cleaned["tiers"] == [
        {"up_to": "1000", "unit_price": "0.05", "flat_price": "0"},
        {"up_to": None, "unit_price": "0.04", "flat_price": "1.5"},
    ]


def test_tiers_must_be_strictly_increasing():
    tiers = [
        {"up_to": "100", "unit_price": "1"},
        {"up_to": "100", "unit_price": "1"},
        {"up_to": "50", "unit_price": "1"},
        {"up_to": None, "unit_price": "1"},
    ]
    assert problems(model="graduated", tiers=tiers) == {
        "tiers[1].up_to": "tiers_not_increasing",
        "tiers[2].up_to": "tiers_not_increasing",
    }


def test_the_last_tier_has_no_bound_and_only_the_last():
    assert problems(model="volume", tiers=[{"up_to": "10", "unit_price": "1"}]) == {
        "tiers[0].up_to": "last_tier_bounded"
    }
    tiers = [{"up_to": None, "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]
    assert problems(model="volume", tiers=tiers) == {"tiers[0].up_to": "unbounded_tier_not_last"}


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ({"model": "unit", "unit_price": "1", "tiers": GRADUATED_TIERS}, {"tiers": "not_for_model"}),
        ({"model": "unit", "unit_price": "1", "package_size": "10"}, {"package_size": "not_for_model"}),
        ({"model": "graduated", "tiers": GRADUATED_TIERS, "unit_price": "1"}, {"unit_price": "not_for_model"}),
        ({"model": "package", "package_size": "10"}, {"package_price": "required"}),
        ({"model": "package", "package_size": "0", "package_price": "1"}, {"package_size": "invalid"}),
        ({"model": "unit"}, {"unit_price": "required"}),
        ({"model": "unit", "unit_price": "-0.01"}, {"unit_price": "invalid"}),
        ({"model": "unit", "unit_price": "0.00000000001"}, {"unit_price": "invalid"}),
        ({"model": "unit", "unit_price": "1" * 19}, {"unit_price": "invalid"}),
        ({"model": "unit", "unit_price": True}, {"unit_price": "invalid"}),
        ({"model": "unit", "unit_price": "NaN"}, {"unit_price": "invalid"}),
        ({"model": "unit", "unit_price": [1]}, {"unit_price": "invalid"}),
        ({"model": "package", "package_size": "10", "package_price": "-1"}, {"package_price": "invalid"}),
        ({"model": "flat"}, {"model": "invalid_choice"}),
        ({"model": "volume", "tiers": []}, {"tiers": "invalid"}),
        ({"model": "volume", "tiers": "[]"}, {"tiers": "invalid"}),
        ({"model": "volume", "tiers": [[1]]}, {"tiers[0]": "invalid"}),
        ({"model": "volume", "tiers": [{"up_to": None}]}, {"tiers[0].unit_price": "required"}),
        ({"model": "volume", "tiers": [{"unit_price": "1"}]}, {"tiers[0].up_to": "required"}),
        ({"model": "volume", "tiers": [{"up_to": None, "unit_price": "-1"}]}, {"tiers[0].unit_price": "invalid"}),
        (
            {"model": "volume", "tiers": [{"up_to": None, "unit_price": "1", "flat_price": "-1"}]},
            {"tiers[0].flat_price": "invalid"},
        ),
        (
            {"model": "volume", "tiers": [{"up_to": "0", "unit_price": "1"}, {"up_to": None, "unit_price": "1"}]},
            {"tiers[0].up_to": "invalid"},
        ),
        (
            {"model": "volume", "tiers": [{"up_to": None, "unit_price": "1", "price": "2"}]},
            {"tiers[0].price": "unknown_field"},
        ),
    ],
)
def test_bad_terms_are_named_by_their_path(terms, expected):
    assert problems(**terms) == expected


def test_full_clean_reports_bad_terms_under_the_field():
    rate = Rate(price_list=PriceListFactory(), code="SMS", model="unit", valid_from=T0, unit_price=1, tiers=[])
    with pytest.raises(ValidationError) as error:
        rate.full_clean()
    assert "tiers" in error.value.message_dict


# -- valid_to ---------------------------------------------------------------------------------------------------


def test_valid_to_is_the_next_rate_of_the_same_code_in_the_same_list():
    pl = PriceListFactory()
    first = RateFactory(price_list=pl, valid_from=T0)
    second = RateFactory(price_list=pl, valid_from=T0 + timedelta(days=31))
    RateFactory(price_list=pl, code="MMS", valid_from=T0 + timedelta(days=10))  # another code: no effect
    RateFactory(valid_from=T0 + timedelta(days=5))  # another list: no effect
    annotated = {r.pk: r.valid_to for r in Rate.objects.filter(price_list=pl, code="SMS").with_valid_to()}
    assert annotated == {first.pk: second.valid_from, second.pk: None}
    assert Rate.objects.get(pk=first.pk).valid_to == second.valid_from  # the property, without the annotation


def test_valid_at_returns_the_rate_in_force():
    pl = PriceListFactory()
    first = RateFactory(price_list=pl, valid_from=T0)
    second = RateFactory(price_list=pl, valid_from=T0 + timedelta(days=31))
    in_force = Rate.objects.filter(price_list=pl)
    assert list(in_force.valid_at(T0 - timedelta(microseconds=1))) == []
    assert list(in_force.valid_at(T0)) == [first]
    assert list(in_force.valid_at(second.valid_from - timedelta(microseconds=1))) == [first]
    assert list(in_force.valid_at(second.valid_from)) == [second]
