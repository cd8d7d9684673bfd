"""export_price_lists / import_price_lists: a whole catalogue, all or nothing, errors with their path, idempotent."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pricing.models import PriceList, Rate
from tests.factories import CustomerFactory, GroupFactory
from tests.pricing.factories import GRADUATED_TIERS, PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def export() -> dict:
    out = io.StringIO()
    call_command("export_price_lists", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def run_import(tmp_path, catalogue, *args) -> str:
    path = tmp_path / "prices.json"
    path.write_text(catalogue if isinstance(catalogue, str) else json.dumps(catalogue))
    out = io.StringIO()
    call_command("import_price_lists", str(path), *args, stdout=out)
    return out.getvalue()


def snapshot() -> list:
    lists = [
        (pl.name, pl.description, pl.currency, pl.group_id, pl.customer_id, pl.priority, pl.updated_at)
        for pl in PriceList.objects.order_by("name")
    ]
    rates = [
        (r.price_list.name, r.code, r.model, r.valid_from, r.unit_price, r.tiers, r.package_size, r.package_price)
        for r in Rate.objects.select_related("price_list").order_by("price_list__name", "code", "valid_from")
    ]
    return [lists, rates, PriceList.history.count()]


@pytest.fixture
def catalogue():
    group, customer = GroupFactory(name="VIP"), CustomerFactory(external_id="EXT-CU-0042")
    standard = PriceListFactory(name="Standard", priority=0, description="Everybody")
    RateFactory(price_list=standard, code="SMS", valid_from=T0, unit_price=Decimal("0.0005"))
    RateFactory(price_list=standard, code="SMS", valid_from=datetime(2026, 3, 1, tzinfo=UTC), unit_price="0.0006")
    vip = PriceListFactory(name="VIP prices", group=group, priority=1, currency="USD")
    RateFactory(price_list=vip, model="graduated", unit_price=None, tiers=GRADUATED_TIERS, valid_from=T0)
    own = PriceListFactory(name="Acme deal", customer=customer, priority=0, currency="JPY")
    RateFactory(
        price_list=own, code="DATA", model="package", unit_price=None, package_size=100, package_price=3, valid_from=T0
    )
    return export()


def test_export_writes_every_list_by_name_with_group_names_customer_external_ids_and_rates(catalogue):
    assert catalogue["version"] == 1
    assert [pl["name"] for pl in catalogue["price_lists"]] == ["Acme deal", "Standard", "VIP prices"]
    acme, standard, vip = catalogue["price_lists"]
    assert (acme["customer"], acme["group"], acme["currency"]) == ("EXT-CU-0042", None, "JPY")
    assert acme["rates"] == [
        {
            "code": "DATA",
            "model": "package",
            "valid_from": "2026-01-01T00:00:00+00:00",
            "package_size": "100",
            "package_price": "3",
        }
    ]
    assert [r["unit_price"] for r in standard["rates"]] == ["0.0005", "0.0006"]
    assert (vip["group"], vip["rates"][0]["tiers"]) == ("VIP", GRADUATED_TIERS)


def test_a_catalogue_moves_to_an_installation_without_prices(tmp_path, catalogue):
    before = snapshot()[1]
    Rate.objects.all().delete()
    PriceList.objects.all().delete()
    out = run_import(tmp_path, catalogue)
    assert "create 3, update 0" in out and "create 4 rate(s)" in out
    assert snapshot()[1] == before


def test_importing_the_same_file_twice_changes_nothing_the_second_time(tmp_path, catalogue):
    PriceList.objects.filter(name="Standard").update(description="changed on production")
    first = run_import(tmp_path, catalogue)
    assert "update 1 and leave 2" in first
    after_first = snapshot()
    second = run_import(tmp_path, catalogue)
    assert "create 0, update 0 and leave 3 price list(s) unchanged; create 0 rate(s), 4 already there" in second
    assert snapshot() == after_first


def test_new_rates_in_the_file_are_added_to_existing_lists(tmp_path, catalogue):
    catalogue["price_lists"][1]["rates"].append(
        {"code": "SMS", "model": "unit", "valid_from": "2026-06-01T00:00:00Z", "unit_price": 0.1}
    )
    run_import(tmp_path, catalogue)
    assert Rate.objects.get(valid_from=datetime(2026, 6, 1, tzinfo=UTC)).unit_price == Decimal("0.1")


def test_dry_run_reports_and_writes_nothing(tmp_path, catalogue):
    Rate.objects.all().delete()
    PriceList.objects.all().delete()
    out = run_import(tmp_path, catalogue, "--dry-run")
    assert "Would create 3" in out and "nothing was written" in out
    assert not PriceList.objects.exists() and not Rate.objects.exists()


def failure(tmp_path, catalogue) -> str:
    with pytest.raises(CommandError) as error:
        run_import(tmp_path, catalogue)
    return str(error.value)


def test_errors_name_the_path_of_every_bad_element_and_nothing_is_written(tmp_path, catalogue):
    before = snapshot()
    catalogue["price_lists"].append(
        {
            "name": "Broken",
            "currency": "EURO",
            "group": "Nope",
            "rates": [
                {
                    "code": "SMS",
                    "model": "graduated",
                    "valid_from": "2026-01-01T00:00:00Z",
                    "tiers": [
                        {"up_to": "10", "unit_price": "1"},
                        {"up_to": "5", "unit_price": "1"},
                        {"up_to": None, "unit_price": "1"},
                    ],
                },
                {"code": "S M S", "model": "unit", "valid_from": "yesterday", "unit_price": "-1", "tiers": []},
            ],
        }
    )
    message = failure(tmp_path, catalogue)
    for path in (
        "price_lists[3].currency",
        "price_lists[3].group",
        "price_lists[3].rates[0].tiers[1].up_to",
        "price_lists[3].rates[1].code",
        "price_lists[3].rates[1].valid_from",
        "price_lists[3].rates[1].unit_price",
        "price_lists[3].rates[1].tiers",
    ):
        assert f"{path}:" in message, path
    assert "nothing was written" in message
    assert snapshot() == before


def test_a_good_list_before_a_bad_one_is_not_written_either(tmp_path):
    catalogue = {
        "price_lists": [
            {"name": "Fine", "currency": "EUR", "rates": []},
            {"name": "Taken", "currency": "EUR", "priority": 5},
        ]
    }
    PriceListFactory(name="Already here", priority=5)
    message = failure(tmp_path, catalogue)
    assert "price_lists[1].priority:" in message and "already taken" in message
    assert list(PriceList.objects.values_list("name", flat=True)) == ["Already here"]


def test_a_rate_with_other_terms_than_the_existing_one_is_an_error(tmp_path, catalogue):
    catalogue["price_lists"][1]["rates"][0]["unit_price"] = "0.0009"
    message = failure(tmp_path, catalogue)
    assert "price_lists[1].rates[0]:" in message and "immutable" in message


@pytest.mark.parametrize(
    ("catalogue", "path"),
    [
        ([], "(file)"),
        ({"price_lists": {}}, "(file)"),
        ({"price_lists": [], "extra": 1}, "extra"),
        ({"price_lists": ["x"]}, "price_lists[0]"),
        ({"price_lists": [{"currency": "EUR"}]}, "price_lists[0].name"),
        ({"price_lists": [{"name": 5, "currency": "EUR"}]}, "price_lists[0].name"),
        ({"price_lists": [{"name": "a", "currency": "EUR", "priority": 1.5}]}, "price_lists[0].priority"),
        ({"price_lists": [{"name": "a", "currency": "EUR", "customer": "EXT-NONE"}]}, "price_lists[0].customer"),
        ({"price_lists": [{"name": "a", "currency": "EUR"}, {"name": "A", "currency": "EUR"}]}, "price_lists[1].name"),
        (
            {"price_lists": [{"name": "a", "currency": "EUR", "rates": [{"model": "unit"}]}]},
            "price_lists[0].rates[0].code",
        ),
        ({"price_lists": [{"name": "a", "currency": "EUR", "colour": "red"}]}, "price_lists[0].colour"),
    ],
)
def test_malformed_catalogues_are_refused_with_the_path(tmp_path, catalogue, path):
    assert f"{path}:" in failure(tmp_path, catalogue)
    assert not PriceList.objects.exists()


def test_invalid_json_is_refused_with_its_line(tmp_path):
    assert "line 2" in failure(tmp_path, '{"price_lists": [\n  oops]}')


def test_json_numbers_are_read_as_exact_decimals(tmp_path):
    catalogue = (
        '{"price_lists": [{"name": "a", "currency": "EUR", "rates": [{"code": "SMS", "model": "unit", '
        '"valid_from": "2026-01-01T00:00:00Z", "unit_price": 0.1000000001}]}]}'
    )
    run_import(tmp_path, catalogue)
    assert Rate.objects.get().unit_price == Decimal("0.1000000001")


def test_export_refuses_a_customer_list_it_cannot_name(catalogue):
    PriceListFactory(name="Orphan", customer=CustomerFactory(external_id=None))
    with pytest.raises(CommandError, match="without external_id"):
        export()
