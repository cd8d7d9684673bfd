"""Price lists REST API: the contract's "Price lists and rates" section, price list part."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pricing.models import PriceList
from tests.conftest import AUTH_QUERIES, client_for, user_with_perms
from tests.customers.test_api import fields_of, problem
from tests.factories import CustomerFactory, GroupFactory
from tests.pricing.factories import PriceListFactory, RateFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/price-lists"
FIELDS = [
    "id",
    "name",
    "description",
    "currency",
    "scope",
    "group_id",
    "customer_id",
    "priority",
    "created_at",
    "updated_at",
]


def test_create_returns_only_the_id_and_location(api):
    response = api.post(URL, {"name": "Standard", "currency": "eur"}, format="json")
    assert response.status_code == 201, response.content
    assert list(response.json()) == ["id"]
    pl = PriceList.objects.get(pk=response.json()["id"])
    assert (pl.name, pl.currency, pl.priority, pl.scope, pl.description) == ("Standard", "EUR", 0, "default", "")
    assert response["Location"].endswith(f"{URL}/{pl.pk}")


def test_representation_has_the_contracts_fields_and_scope(api):
    group, customer = GroupFactory(), CustomerFactory()
    for name, extra, scope in [
        ("D", {}, "default"),
        ("G", {"group_id": str(group.pk)}, "group"),
        ("C", {"customer_id": str(customer.pk)}, "customer"),
    ]:
        pk = api.post(URL, {"name": name, "currency": "USD", "priority": 3, **extra}, format="json").json()["id"]
        data = api.get(f"{URL}/{pk}").json()
        assert list(data) == FIELDS
        assert data["scope"] == scope
        assert data["group_id"] == extra.get("group_id")
        assert data["customer_id"] == extra.get("customer_id")
        assert (data["currency"], data["priority"]) == ("USD", 3)


@pytest.mark.parametrize("name", ["Standard", "STANDARD", " standard "])
def test_name_is_unique_ignoring_case(api, name):
    existing = PriceListFactory(name="Standard")
    body = problem(
        api.post(URL, {"name": name, "currency": "EUR", "priority": 99}, format="json"), 409, "price_list_name_taken"
    )
    assert body["existing_id"] == str(existing.pk)
    assert PriceList.objects.count() == 1


def test_renaming_onto_another_lists_name_is_409(api):
    PriceListFactory(name="A")
    pl = PriceListFactory(name="B")
    problem(api.patch(f"{URL}/{pl.pk}", {"name": "a"}, format="json"), 409, "price_list_name_taken")
    pl.refresh_from_db()
    assert pl.name == "B"


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ({}, {}),
        ({"group": "g1"}, {"group_id": "g2"}),  # unique among all group lists
        ({"customer": "c1"}, {"customer_id": "c1"}),
    ],
)
def test_priority_taken_in_the_same_scope_is_409(api, existing, new):
    objects = {"g1": GroupFactory(), "g2": GroupFactory(), "c1": CustomerFactory()}
    taken = PriceListFactory(priority=7, **{k: objects[v] for k, v in existing.items()})
    payload = {"name": "new", "currency": "EUR", "priority": 7, **{k: str(objects[v].pk) for k, v in new.items()}}
    body = problem(api.post(URL, payload, format="json"), 409, "priority_taken")
    assert body["existing_id"] == str(taken.pk)
    assert body["errors"][0]["field"] == "priority"
    assert PriceList.objects.count() == 1


def test_the_same_priority_in_another_scope_or_for_another_customer_is_fine(api):
    PriceListFactory(priority=7)
    PriceListFactory(priority=7, customer=CustomerFactory())
    for i, extra in enumerate([{"group_id": str(GroupFactory().pk)}, {"customer_id": str(CustomerFactory().pk)}]):
        response = api.post(URL, {"name": f"n{i}", "currency": "EUR", "priority": 7, **extra}, format="json")
        assert response.status_code == 201, response.content


def test_a_list_with_both_a_group_and_a_customer_is_400(api):
    payload = {
        "name": "both",
        "currency": "EUR",
        "group_id": str(GroupFactory().pk),
        "customer_id": str(CustomerFactory().pk),
    }
    body = problem(api.post(URL, payload, format="json"), 400, "invalid")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("customer_id", "group_and_customer")]
    assert not PriceList.objects.exists()


@pytest.mark.parametrize(("field", "code"), [("group_id", "unknown_group"), ("customer_id", "unknown_customer")])
def test_an_unknown_group_or_customer_is_400(api, field, code):
    body = problem(
        api.post(URL, {"name": "x", "currency": "EUR", field: str(uuid.uuid4())}, format="json"), 400, "invalid"
    )
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert not PriceList.objects.exists()


@pytest.mark.parametrize("currency", ["EURO", "ABC", "XAU", "€€€", "eu"])
def test_an_unknown_currency_is_400(api, currency):
    body = problem(api.post(URL, {"name": "x", "currency": currency}, format="json"), 400, "invalid")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("currency", "unknown_currency")]
    assert not PriceList.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"currency": "EUR"}, "name"),
        ({"name": "x"}, "currency"),
        ({"name": "", "currency": "EUR"}, "name"),
        ({"name": "x" * 256, "currency": "EUR"}, "name"),
        ({"name": "a\x00", "currency": "EUR"}, "name"),
        ({"name": 5, "currency": "EUR"}, "name"),
        ({"name": "x", "currency": 978}, "currency"),
        ({"name": "x", "currency": ""}, "currency"),
        ({"name": "x", "currency": ["EUR"]}, "currency"),
        ({"name": "x", "currency": "EUR", "description": 1}, "description"),
        ({"name": "x", "currency": "EUR", "priority": "1"}, "priority"),
        ({"name": "x", "currency": "EUR", "priority": 1.5}, "priority"),
        ({"name": "x", "currency": "EUR", "priority": True}, "priority"),
        ({"name": "x", "currency": "EUR", "priority": 2**31}, "priority"),
        ({"name": "x", "currency": "EUR", "group_id": 5}, "group_id"),
        ({"name": "x", "currency": "EUR", "group_id": "nope"}, "group_id"),
        ({"name": "x", "currency": "EUR", "customer_id": {}}, "customer_id"),
        ({"name": "x", "currency": "EUR", "colour": "red"}, "colour"),
    ],
)
def test_invalid_price_list_is_400_naming_the_field(api, payload, field):
    body = problem(api.post(URL, payload, format="json"), 400, "invalid")
    assert field in fields_of(body)
    assert not PriceList.objects.exists()


def test_scope_is_read_only_and_ignored_on_write(api):
    pk = api.post(URL, {"name": "x", "currency": "EUR", "scope": "group"}, format="json").json()["id"]
    assert api.get(f"{URL}/{pk}").json()["scope"] == "default"


def test_currency_cannot_change_once_the_list_has_a_rate(api):
    pl = PriceListFactory(currency="EUR")
    assert api.patch(f"{URL}/{pl.pk}", {"currency": "usd"}, format="json").json()["currency"] == "USD"
    RateFactory(price_list=pl)
    problem(api.patch(f"{URL}/{pl.pk}", {"currency": "EUR"}, format="json"), 400, "currency_immutable")
    pl.refresh_from_db()
    assert pl.currency == "USD"
    response = api.patch(f"{URL}/{pl.pk}", {"currency": "usd", "name": "renamed"}, format="json")
    assert response.status_code == 200  # the same currency in another case is no change


def test_put_replaces_and_patch_changes_given_fields(api):
    group = GroupFactory()
    pl = PriceListFactory(name="A", description="keep?", group=group, priority=4)
    data = api.patch(f"{URL}/{pl.pk}", {"name": "B"}, format="json").json()
    assert (data["description"], data["group_id"], data["priority"]) == ("keep?", str(group.pk), 4)
    data = api.put(f"{URL}/{pl.pk}", {"name": "C", "currency": "EUR"}, format="json").json()
    assert (data["name"], data["description"], data["group_id"], data["priority"], data["scope"]) == (
        "C",
        "",
        None,
        0,
        "default",
    )


def test_a_change_that_fails_writes_nothing(api):
    PriceListFactory(priority=1)
    pl = PriceListFactory(name="A", priority=2)
    problem(api.patch(f"{URL}/{pl.pk}", {"name": "Z", "priority": 1}, format="json"), 409, "priority_taken")
    pl.refresh_from_db()
    assert (pl.name, pl.priority) == ("A", 2)
    assert pl.history.count() == 1


def test_delete_removes_the_list_and_its_rates(api):
    rate = RateFactory()
    assert api.delete(f"{URL}/{rate.price_list_id}").status_code == 204
    assert not PriceList.objects.exists()
    assert not type(rate).objects.exists()


def test_delete_of_a_list_used_by_an_issued_bill_is_409(api, monkeypatch):
    from pricing import services

    pl = PriceListFactory()
    monkeypatch.setattr(services, "price_list_in_use", lambda price_list: price_list.pk == pl.pk)
    problem(api.delete(f"{URL}/{pl.pk}"), 409, "price_list_in_use")
    assert PriceList.objects.filter(pk=pl.pk).exists()


@pytest.mark.parametrize("pk", [uuid.uuid4(), "not-a-uuid"])
def test_unknown_or_malformed_id_is_404(api, pk):
    problem(api.get(f"{URL}/{pk}"), 404, "not_found")
    problem(api.patch(f"{URL}/{pk}", {"name": "x"}, format="json"), 404, "not_found")
    problem(api.delete(f"{URL}/{pk}"), 404, "not_found")


def test_list_is_ordered_by_name_and_filters_by_scope_group_customer_currency_and_q(api):
    group, customer = GroupFactory(), CustomerFactory()
    PriceListFactory(name="Beta", currency="USD", description="wholesale")
    PriceListFactory(name="alpha", group=group)
    PriceListFactory(name="Gamma", customer=customer)
    PriceListFactory(name="Delta", group=GroupFactory())

    def names(**params):
        response = api.get(URL, params)
        assert response.status_code == 200, response.content
        return [pl["name"] for pl in response.json()["results"]]

    assert names() == ["Beta", "Delta", "Gamma", "alpha"]
    assert names(scope="group") == ["Delta", "alpha"]
    assert names(scope="customer") == ["Gamma"]
    assert names(scope="default") == ["Beta"]
    assert names(group=str(group.pk)) == ["alpha"]
    assert names(customer=str(customer.pk)) == ["Gamma"]
    assert names(currency="usd") == ["Beta"]
    assert names(q="WHOLE") == ["Beta"]
    assert names(ordering="created_at") == ["Beta", "alpha", "Gamma", "Delta"]


@pytest.mark.parametrize(
    "params", [{"scope": "global"}, {"group": "x"}, {"customer": "1"}, {"currency": "ZZZ"}, {"ordering": "priority"}]
)
def test_bad_filters_are_400(api, params):
    problem(api.get(URL, params), 400, "invalid")


def test_list_pages_with_a_cursor(api):
    for i in range(5):
        PriceListFactory(name=f"L{i}")
    first = api.get(URL, {"page_size": 2}).json()
    second = api.get(first["next"]).json()
    assert [p["name"] for p in first["results"] + second["results"]] == ["L0", "L1", "L2", "L3"]
    assert second["previous"]


def test_list_costs_the_same_queries_whatever_the_page_size(django_assert_num_queries):
    user = user_with_perms("pricing.view_pricelist")
    client = client_for(user)
    client.get(URL)  # the key's first use records last_used_at
    for i in range(3):
        PriceListFactory(group=GroupFactory() if i % 2 else None)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    for _ in range(30):
        PriceListFactory(customer=CustomerFactory())
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(URL, {"page_size": 100}).json()["results"]) == 33
    assert len(few) == len(many) == AUTH_QUERIES + 1  # authentication, the page


def test_permissions_are_the_models(db):
    viewer = client_for(user_with_perms("pricing.view_pricelist"))
    assert viewer.get(URL).status_code == 200
    problem(viewer.post(URL, {"name": "x", "currency": "EUR"}, format="json"), 403, "permission_denied")
    adder = client_for(user_with_perms("pricing.add_pricelist"))
    assert adder.post(URL, {"name": "x", "currency": "EUR"}, format="json").status_code == 201
    problem(adder.get(URL), 403, "permission_denied")
    pl = PriceList.objects.get()
    problem(adder.delete(f"{URL}/{pl.pk}"), 403, "permission_denied")
    changer = client_for(user_with_perms("pricing.change_pricelist"))
    assert changer.patch(f"{URL}/{pl.pk}", {"name": "y"}, format="json").status_code == 200
    deleter = client_for(user_with_perms("pricing.delete_pricelist"))
    assert deleter.delete(f"{URL}/{pl.pk}").status_code == 204


def test_no_credentials_is_401(anon):
    problem(anon.get(URL), 401, "not_authenticated")


def test_timestamps_are_rfc3339(api):
    pl = PriceListFactory()
    data = api.get(f"{URL}/{pl.pk}").json()
    assert datetime.fromisoformat(data["created_at"]).tzinfo == UTC


def test_a_group_with_a_price_list_cannot_be_deleted(api):
    """The list protects its group (the groups API names the conflict; its code is the groups app's)."""
    group = GroupFactory()
    PriceListFactory(group=group)
    response = api.delete(f"/api/v1/groups/{group.pk}")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert type(group).objects.filter(pk=group.pk).exists()


def test_deleting_a_customer_deletes_its_own_lists(api):
    customer = CustomerFactory()
    RateFactory(price_list=PriceListFactory(customer=customer))
    assert api.delete(f"/api/v1/customers/{customer.pk}").status_code == 204
    assert not PriceList.objects.exists()


def test_every_problem_of_a_list_is_reported_at_once(api):
    payload = {"name": "x", "currency": "ZZZ", "group_id": str(uuid.uuid4())}
    body = problem(api.post(URL, payload, format="json"), 400, "invalid")
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("currency", "unknown_currency"),
        ("group_id", "unknown_group"),
    }
