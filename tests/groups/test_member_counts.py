"""The maintained member count (`Group.objects.with_customer_count()`) equals a recount of the current memberships
after every kind of membership write: API, admin (single and bulk), import (ORM and COPY), the group_members
command, demo seeding, group and customer deletion (cascades), and scheduled starts and ends whose moment passes.

Each check compares the maintained count with `with_customer_recount()` (COUNT of the current memberships per
group, the definition) and with the figures the scenario expects, so an empty or frozen count cannot pass.
"""

from __future__ import annotations

import importlib.util
import io
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from customers.services import customer_delete
from groups import services
from groups.models import Group, GroupMemberCount, Membership, PendingMemberChange
from groups.querysets import DatabaseNow, GroupQuerySet
from tests.admin_helpers import url
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

GROUPS = "/api/v1/groups"
CUSTOMERS = "/api/v1/customers"


def recount() -> dict[str, int]:
    return {g.name: g.customer_count for g in Group.objects.with_customer_recount()}


def maintained() -> dict[str, int]:
    return {g.name: g.customer_count for g in Group.objects.with_customer_count()}


def assert_counts(expected: dict[str, int]) -> None:
    """The recount gives *expected*, and the maintained count equals the recount."""
    assert recount() == expected
    assert maintained() == expected


def pending_by_group() -> dict[str, int]:
    """Return the sum of each group's pending changes (groups whose changes sum to 0 left out)."""
    sums = PendingMemberChange.objects.values_list("group__name").annotate(total=Sum("delta")).order_by()
    return {name: total for name, total in sums if total}


def pending_by_moment() -> dict[tuple, int]:
    sums = PendingMemberChange.objects.values_list("group_id", "at").annotate(total=Sum("delta")).order_by()
    return {(group_id, at): total for group_id, at, total in sums if total}


def database_now():
    return Group.objects.annotate(now=DatabaseNow()).values_list("now", flat=True).first()


def wait_until_past(moment) -> None:
    """Sleep until the database's clock has passed *moment* (the test really crosses it)."""
    time.sleep(max(0.0, (moment - timezone.now()).total_seconds()) + 0.05)
    while database_now() <= moment:
        time.sleep(0.05)


def test_api_add_remove_put_and_patch_of_group_ids_keep_the_count(api):
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    a, b, c = CustomerFactory.create_batch(3)
    assert_counts({"VIP": 0, "Promo": 0})

    for customer in (a, b):
        assert (
            api.post(f"{GROUPS}/{vip.pk}/customers", {"customer_id": str(customer.pk)}, format="json").status_code
            == 201
        )
    assert api.post(f"{GROUPS}/{vip.pk}/customers", {"customer_id": str(a.pk)}, format="json").status_code == 200
    assert_counts({"VIP": 2, "Promo": 0})

    assert api.delete(f"{GROUPS}/{vip.pk}/customers/{b.pk}").status_code == 204
    assert_counts({"VIP": 1, "Promo": 0})

    body = {"name": "C Ltd", "group_ids": [str(vip.pk), str(promo.pk)]}
    assert api.put(f"{CUSTOMERS}/{c.pk}", body, format="json").status_code == 200
    assert_counts({"VIP": 2, "Promo": 1})

    assert api.patch(f"{CUSTOMERS}/{a.pk}", {"group_ids": [str(promo.pk)]}, format="json").status_code == 200
    assert_counts({"VIP": 1, "Promo": 2})

    assert api.post(CUSTOMERS, {"name": "New", "group_ids": [str(vip.pk)]}, format="json").status_code == 201
    assert_counts({"VIP": 2, "Promo": 2})
    # What the API shows is the maintained count.
    shown = {g["name"]: g["customer_count"] for g in api.get(GROUPS).json()["results"]}
    assert shown == {"VIP": 2, "Promo": 2}
    assert api.get(f"{GROUPS}/{vip.pk}").json()["customer_count"] == 2


def test_admin_change_page_bulk_actions_and_delete_keep_the_count(admin_client):
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    customers = CustomerFactory.create_batch(4)
    changelist = url("customers_customer_changelist")

    def bulk(action: str, selected, group: Group):
        data = {"action": action, "_selected_action": [str(c.pk) for c in selected], "index": 0}
        response = admin_client.post(changelist, {**data, "apply": "yes", "group": str(group.pk)})
        assert response.status_code == 302

    bulk("add_to_group", customers, vip)
    assert_counts({"VIP": 4, "Promo": 0})
    bulk("remove_from_group", customers[:3], vip)
    assert_counts({"VIP": 1, "Promo": 0})

    first = customers[0]
    form = {"name": first.name, "external_id": first.external_id, "address_country": "GB"}
    response = admin_client.post(url("customers_customer_change", first.pk), {**form, "groups": [vip.pk, promo.pk]})
    assert response.status_code == 302
    assert_counts({"VIP": 2, "Promo": 1})

    response = admin_client.post(url("customers_customer_delete", first.pk), {"post": "yes"})
    assert response.status_code == 302
    assert_counts({"VIP": 1, "Promo": 0})
    assert 'class="field-customer_count">1<' in admin_client.get(url("groups_group_changelist")).content.decode()


def test_admin_group_delete_cascades_its_ended_memberships_and_leaves_the_other_counts(admin_client):
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    a, b = CustomerFactory.create_batch(2)
    services.memberships_start(group=vip, customer_ids=[a.pk, b.pk])
    services.memberships_start(group=promo, customer_ids=[a.pk])
    services.memberships_end(group=promo, customer_ids=[a.pk])
    assert_counts({"VIP": 2, "Promo": 0})

    response = admin_client.post(url("groups_group_delete", promo.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Group.objects.filter(pk=promo.pk).exists()
    assert_counts({"VIP": 2})


def import_file(tmp_path, text: str, method: str) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("name,external_id,groups\n" + text, encoding="utf-8")
    call_command("import_customers", str(path), method=method, stdout=io.StringIO(), stderr=io.StringIO())


def import_keeps_the_count(tmp_path, method: str) -> None:
    GroupFactory(name="VIP"), GroupFactory(name="Promo")
    import_file(tmp_path, "A,EXT-1,VIP;Promo\nB,EXT-2,VIP\nC,EXT-3,\n", method)
    assert_counts({"VIP": 2, "Promo": 1})
    import_file(tmp_path, "A,EXT-1,Promo\nB,EXT-2,\nC,EXT-3,VIP;Promo\nD,EXT-4,Promo\n", method)
    assert_counts({"VIP": 1, "Promo": 3})


def test_import_on_the_orm_path_keeps_the_count(tmp_path):
    import_keeps_the_count(tmp_path, "orm")


@pytest.mark.postgres
def test_import_on_the_copy_path_keeps_the_count(tmp_path):
    import_keeps_the_count(tmp_path, "copy")


@pytest.mark.postgres
def test_set_based_replace_keeps_the_count():
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    customers = CustomerFactory.create_batch(5)
    services.memberships_replace(customer_ids_to_group_ids={c.pk: [vip.pk] for c in customers}, method="sql")
    assert_counts({"VIP": 5, "Promo": 0})
    wanted = {c.pk: ([promo.pk] if i % 2 else [vip.pk, promo.pk]) for i, c in enumerate(customers)}
    services.memberships_replace(customer_ids_to_group_ids=wanted, method="sql")
    assert_counts({"VIP": 3, "Promo": 5})


def test_group_members_command_keeps_the_count(tmp_path):
    GroupFactory(name="VIP")
    customers = CustomerFactory.create_batch(3)
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(c.external_id for c in customers) + "\n")
    call_command("group_members", "add", "VIP", str(path), stdout=io.StringIO())
    assert_counts({"VIP": 3})
    path.write_text(customers[0].external_id + "\n")
    call_command("group_members", "remove", "VIP", str(path), stdout=io.StringIO())
    assert_counts({"VIP": 2})


def test_demo_seeding_keeps_the_count():
    """`seed_demo` loads memberships through `memberships_load` (COPY on PostgreSQL, bulk insert on SQLite)."""
    call_command("seed_demo", customers=60, groups=4, seed=7, stdout=io.StringIO())
    counts = recount()
    assert sum(counts.values()) == Membership.objects.count() > 0
    assert maintained() == counts


def test_forced_group_delete_keeps_the_other_groups_counts(api):
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    a, b = CustomerFactory.create_batch(2)
    services.memberships_start(group=vip, customer_ids=[a.pk, b.pk])
    services.memberships_start(group=promo, customer_ids=[a.pk])
    # A membership that starts later: it goes (or ends) with the group while its change is still pending.
    later = timezone.now() + timedelta(days=1)
    services.memberships_start(group=vip, customer_ids=[CustomerFactory().pk], at=later)
    assert pending_by_group() == {"VIP": 1}

    assert api.delete(f"{GROUPS}/{vip.pk}", QUERY_STRING="force=true").status_code == 204

    assert_counts({"Promo": 1})
    # Whether the group's row goes or stays (hidden), nothing of it counts any more, now or later.
    every_group = GroupQuerySet(model=Group)
    recounted = {g.pk: g.customer_count for g in every_group.with_customer_recount()}
    assert {g.pk: g.customer_count for g in every_group.with_customer_count()} == recounted
    assert recounted.get(vip.pk, 0) == 0
    assert "VIP" not in pending_by_group()


def test_customer_delete_cascades_its_memberships_out_of_the_count(api):
    """Memberships go by cascade, not through the membership services; the count follows all the same."""
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    gone, stays, also_gone = CustomerFactory.create_batch(3)
    services.memberships_start(group=vip, customer_ids=[gone.pk, stays.pk, also_gone.pk])
    services.memberships_start(group=promo, customer_ids=[gone.pk])
    services.memberships_end(group=promo, customer_ids=[gone.pk])  # an ended membership cascades too
    later = timezone.now() + timedelta(days=1)
    services.memberships_start(group=promo, customer_ids=[gone.pk], at=later)  # and a scheduled one
    services.memberships_end(group=vip, customer_ids=[also_gone.pk], at=later)  # and one ending later
    assert_counts({"VIP": 3, "Promo": 0})
    assert pending_by_group() == {"VIP": -1, "Promo": 1}

    assert api.delete(f"{CUSTOMERS}/{gone.pk}").status_code == 204
    assert_counts({"VIP": 2, "Promo": 0})
    customer_delete(customer=also_gone)
    assert_counts({"VIP": 1, "Promo": 0})
    assert pending_by_group() == {}  # the deleted memberships' scheduled changes are taken back


def test_scheduled_start_and_end_count_from_their_moment_on():
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    a, b, c = CustomerFactory.create_batch(3)
    services.memberships_start(group=vip, customer_ids=[a.pk, b.pk])
    soon = timezone.now() + timedelta(seconds=1.5)
    services.memberships_start(group=promo, customer_ids=[a.pk, c.pk], at=soon)
    services.memberships_end(group=vip, customer_ids=[b.pk], at=soon)

    assert_counts({"VIP": 2, "Promo": 0})  # before the moment: b still in VIP, nobody in Promo yet
    assert pending_by_group() == {"VIP": -1, "Promo": 2}

    wait_until_past(soon)

    # No write happened: the read adds the scheduled changes that have come due.
    assert_counts({"VIP": 1, "Promo": 2})
    assert pending_by_group() == {"VIP": -1, "Promo": 2}

    # The next write to a group folds its due changes into the stored count.
    services.memberships_start(group=promo, customer_ids=[b.pk])
    assert_counts({"VIP": 1, "Promo": 3})
    assert GroupMemberCount.objects.get(group=promo).members == 3
    assert set(PendingMemberChange.objects.values_list("group__name", flat=True)) == {"VIP"}


def test_a_scheduled_membership_with_a_scheduled_end_is_pending_both_ways():
    vip = GroupFactory(name="VIP")
    a = CustomerFactory()
    later = timezone.now() + timedelta(days=2)
    started = services.memberships_start(group=vip, customer_ids=[a.pk], at=later).started
    assert pending_by_group() == {"VIP": 1}
    services.memberships_end(memberships=started, at=later + timedelta(days=1))
    assert pending_by_moment() == {(vip.pk, later): 1, (vip.pk, later + timedelta(days=1)): -1}
    assert_counts({"VIP": 0})


def test_backfill_computes_the_counts_of_existing_memberships():
    """The migration's backfill gives the same counts as the triggers, scheduled changes included."""
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    now = timezone.now()
    MembershipFactory.create_batch(3, group=vip, joined_at=now - timedelta(days=3))
    MembershipFactory(group=vip, joined_at=now - timedelta(days=3), left_at=now - timedelta(days=1))
    MembershipFactory(group=vip, joined_at=now - timedelta(days=3), left_at=now + timedelta(days=1))
    MembershipFactory.create_batch(2, group=promo, joined_at=now + timedelta(days=1))
    expected = {"VIP": 4, "Promo": 0}
    assert_counts(expected)
    scheduled = pending_by_moment()
    stored = sorted(GroupMemberCount.objects.values_list("group_id", "members"))

    GroupMemberCount.objects.all().delete()
    PendingMemberChange.objects.all().delete()
    assert maintained() == {"VIP": 0, "Promo": 0}
    path = next((Path(__file__).resolve().parents[2] / "groups" / "migrations").glob("*_group_member_counts.py"))
    spec = importlib.util.spec_from_file_location("member_counts_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    migration.backfill(connection)

    assert_counts(expected)
    assert sorted(GroupMemberCount.objects.values_list("group_id", "members")) == stored
    assert pending_by_moment() == scheduled


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_to_one_group_lose_no_update():
    vip = GroupFactory(name="VIP")
    customers = CustomerFactory.create_batch(9)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def add(customer_id) -> None:
        try:
            barrier.wait()
            services.memberships_start(group=vip, customer_ids=[customer_id])
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(c.pk,)) for c in customers[:8]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert_counts({"VIP": 8})
    # Writers that found the count row held left their change pending; the next write folds it all in.
    services.memberships_start(group=vip, customer_ids=[customers[8].pk])
    assert_counts({"VIP": 9})
    assert GroupMemberCount.objects.get(group=vip).members == 9
    assert not PendingMemberChange.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writes_crossing_two_groups_in_opposite_orders_do_not_deadlock():
    """Each transaction ends a membership of one group, then starts one in the other, while the other
    transaction does the opposite: neither waits for the other's count row, so both commit."""
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    first, second = CustomerFactory.create_batch(2)
    services.memberships_start(group=vip, customer_ids=[first.pk])
    services.memberships_start(group=promo, customer_ids=[second.pk])
    both_ended = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def move(customer_id, source: Group, target: Group) -> None:
        try:
            with transaction.atomic():
                services.memberships_end(group=source, customer_ids=[customer_id])
                both_ended.wait()  # each now holds what it wrote; the next statements cross
                services.memberships_start(group=target, customer_ids=[customer_id])
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=move, args=(first.pk, vip, promo)),
        threading.Thread(target=move, args=(second.pk, promo, vip)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert_counts({"VIP": 1, "Promo": 1})
