"""A list request naming no filter skips building and validating the filter set (`ResourceViewSet._no_filter_given`)
and answers byte for byte what the list through the filter set answers; any filter parameter, even empty, and any
other parameter keep the filter set."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django_filters.filterset import BaseFilterSet

from billingengine.api.views import ResourceViewSet
from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory, DataRecordFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

HEADERS = ("Content-Type", "Content-Length", "ETag", "Vary", "Allow", "X-Frame-Options", "Cache-Control")


@pytest.fixture
def client():
    for i in range(7):
        customer = CustomerFactory(address_country=None if i % 2 else "DE")
        MembershipFactory(customer=customer, group=GroupFactory())
        DataRecordFactory(customer_id=customer.pk)
    return client_for(user_with_perms("customers.view_customer", "groups.view_group", "records.view_datarecord"))


@pytest.fixture
def filtersets_built(monkeypatch):
    """Count the filter sets built."""
    built = []
    original = BaseFilterSet.__init__

    def init(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(BaseFilterSet, "__init__", init)
    return built


def _same(client, monkeypatch, path: str):
    with monkeypatch.context() as patch:
        patch.setattr(ResourceViewSet, "_no_filter_given", lambda self: False)
        plain = client.get(path)
    fast = client.get(path)
    assert fast.status_code == plain.status_code, path
    assert fast.content == plain.content, path
    for header in HEADERS:
        assert fast.headers.get(header) == plain.headers.get(header), (path, header)
    return fast


@pytest.mark.parametrize(
    ("resource", "ordering"),
    [("customers", "-name"), ("groups", "-created_at"), ("records", "-time_from")],
)
def test_a_list_without_filters_answers_as_through_the_filter_set(
    client, monkeypatch, filtersets_built, resource, ordering
):
    for query in ("", "?page_size=3", f"?ordering={ordering}&page_size=2", "?page_size=0", "?cursor=nonsense"):
        path = f"/api/v1/{resource}{query}"
        response = _same(client, monkeypatch, path)
        if query in ("", "?page_size=3"):
            assert response.status_code == 200 and response.json()["results"], path
        filtersets_built.clear()
        client.get(path)
        assert filtersets_built == [], path  # the shortcut was taken
        if response.status_code == 200 and response.json()["next"]:  # and a cursor page
            url = urlsplit(response.json()["next"])
            next_path = f"{url.path}?{url.query}"
            _same(client, monkeypatch, next_path)
            filtersets_built.clear()
            client.get(next_path)
            assert filtersets_built == [], next_path


@pytest.mark.parametrize(
    "query",
    ["?q=", "?q=customer", "?address_country=de&page_size=2", "?address_country=XX", "?format=json", "?unknown=1"],
)
def test_any_other_parameter_goes_through_the_filter_set(client, monkeypatch, filtersets_built, query):
    path = f"/api/v1/customers{query}"
    _same(client, monkeypatch, path)
    filtersets_built.clear()
    client.get(path)
    assert filtersets_built == ["CustomerFilterSet"], path
