"""Creating a customer with its groups: the services' cheap path for a customer created in the transaction.

`customer_set_groups(new=True)` starts the memberships of a customer `customer_create` just wrote without locking
it, reading its memberships or taking a savepoint; group ids from `resolve_group_ids` are not looked up again;
`customer_create` and `customer_update` take no savepoint of their own (their writes are inside `_write_one`'s).
These tests hold what that must not change: the same rows and history as the general path, the guards, nothing
written on failure, and a caller's transaction left usable by a refused create.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billingengine.errors import Conflict, ExternalIdTaken, InvalidInput
from customers.models import Customer
from customers.services import customer_create, customer_update
from groups.guards import membership_guard
from groups.models import Group, Membership
from groups.services import customer_set_groups, resolve_group_ids
from tests.factories import CustomerFactory, GroupFactory

pytestmark = pytest.mark.django_db


def _memberships(customer: Customer) -> list[tuple]:
    rows = Membership.objects.filter(customer=customer).order_by("group__name")
    return [(m.group.name, m.left_at) for m in rows]


def _history(customer: Customer) -> list[tuple]:
    rows = Membership.history.filter(customer_id=customer.pk).order_by("group__name")
    return [(h.group.name, h.history_type, h.history_user, h.history_change_reason) for h in rows]


def test_new_customer_gets_the_same_memberships_and_history_as_the_general_path(admin_user):
    GroupFactory(name="VIP"), GroupFactory(name="Promo")
    ids = list(Group.objects.order_by("name").values_list("pk", flat=True))
    with transaction.atomic():
        fresh = customer_create(name="Fresh")
        assert customer_set_groups(customer=fresh, group_ids=ids, user=admin_user, reason="signup", new=True)
    with transaction.atomic():
        general = customer_create(name="General")
        assert customer_set_groups(customer=general, group_ids=ids, user=admin_user, reason="signup")

    assert _memberships(fresh) == _memberships(general) == [("Promo", None), ("VIP", None)]
    assert (
        _history(fresh)
        == _history(general)
        == [("Promo", "+", admin_user, "signup"), ("VIP", "+", admin_user, "signup")]
    )
    started = {m.joined_at for m in Membership.objects.filter(customer=fresh)}
    assert len(started) == 1 and started.pop() <= Membership.history.filter(customer_id=fresh.pk).first().history_date
    assert {g.name: g.customer_count for g in Group.objects.with_customer_count()} == {"VIP": 2, "Promo": 2}
    assert {g.name: g.customer_count for g in Group.objects.with_customer_recount()} == {"VIP": 2, "Promo": 2}


def test_new_customer_with_resolved_group_ids_costs_the_guard_and_two_inserts():
    """The groups are not looked up again, the customer is not locked, its memberships not read, no savepoint."""
    groups = GroupFactory.create_batch(3)
    wanted = resolve_group_ids([g.pk for g in groups])
    customer = customer_create(name="Fresh")
    with CaptureQueriesContext(connection) as queries:
        customer_set_groups(customer=customer, group_ids=wanted, new=True)
    statements = [q["sql"].split(" ", 3)[:3] for q in queries.captured_queries]
    assert len(statements) == 3, queries.captured_queries
    assert statements[0][0] == "SELECT" and "billing_bill" in queries.captured_queries[0]["sql"]  # the guard
    assert [s[:3] for s in statements[1:]] == [
        ["INSERT", "INTO", '"groups_membership"'],
        ["INSERT", "INTO", '"groups_historicalmembership"'],
    ]
    assert set(customer.group_ids) == {g.pk for g in groups}


def test_resolve_group_ids_still_refuses_unknown_groups_and_returns_them_once_in_order():
    known = GroupFactory()
    with pytest.raises(InvalidInput) as refused:
        resolve_group_ids([known.pk, "6f1c7f7e-0000-4000-8000-000000000000"])
    assert refused.value.code == "unknown_group"
    resolved = resolve_group_ids([str(known.pk), known.pk])
    assert list(resolved) == [known.pk]
    with CaptureQueriesContext(connection) as queries:
        assert resolve_group_ids(resolved) is resolved
    assert len(queries) == 0


def test_a_guard_refusing_a_new_customers_memberships_writes_nothing(api):
    """The guards still run on the cheap path; their refusal rolls the customer back too (API create)."""
    group = GroupFactory()

    def refuse(*, customer_ids, at):
        raise Conflict("refused by the test guard", code="period_billed")

    with membership_guard(refuse):
        response = api.post("/api/v1/customers", {"name": "X", "group_ids": [str(group.pk)]}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "period_billed"
    assert Customer.objects.count() == 0 and Customer.history.count() == 0
    assert Membership.objects.count() == 0 and Membership.history.count() == 0


def test_duplicate_external_id_with_groups_is_409_and_writes_nothing(api):
    existing = CustomerFactory(external_id="EXT-CU-0042")
    group = GroupFactory()
    body = {"name": "Other", "external_id": "EXT-CU-0042", "group_ids": [str(group.pk)]}
    response = api.post("/api/v1/customers", body, format="json")
    assert response.status_code == 409
    assert response.json()["existing_id"] == str(existing.pk)
    assert Customer.objects.count() == 1 and Customer.history.filter(history_type="+").count() == 1
    assert Membership.objects.count() == 0 and Membership.history.count() == 0
    assert {g.customer_count for g in Group.objects.with_customer_count()} == {0}


def test_a_refused_create_or_update_leaves_the_callers_transaction_usable():
    """Without a savepoint of their own, `customer_create` and `customer_update` still roll back only their own
    writes when they refuse (409 external_id_taken), so a caller's transaction can go on and keep its own."""
    CustomerFactory(external_id="EXT-1")
    other = CustomerFactory(external_id="EXT-2")
    with transaction.atomic():
        kept = customer_create(name="Kept")
        with pytest.raises(ExternalIdTaken):
            customer_create(name="Duplicate", external_id="EXT-1")
        with pytest.raises(ExternalIdTaken):
            customer_update(customer=Customer.objects.get(pk=kept.pk), changes={"external_id": "EXT-2"})
        customer_update(customer=Customer.objects.get(pk=kept.pk), changes={"name": "Kept Ltd"})
    assert Customer.objects.count() == 3  # EXT-1, EXT-2 and the kept one
    assert Customer.objects.get(pk=other.pk).external_id == "EXT-2"
    kept = Customer.objects.get(pk=kept.pk)
    assert (kept.name, kept.external_id) == ("Kept Ltd", None)
    assert Customer.history.filter(id=kept.pk).count() == 2  # created, renamed; the refused update wrote nothing
