from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from groups.models import Membership
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def members(tmp_path, action: str, group: str, text: str, **options) -> str:
    path = tmp_path / "ids.txt"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("group_members", action, group, str(path), stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def vip():
    return GroupFactory(name="VIP")


def test_add_starts_memberships_for_listed_customers_and_skips_current_members(tmp_path, vip):
    a, b, _c = (CustomerFactory(external_id=e) for e in ("A", "B", "C"))
    MembershipFactory(customer=a, group=vip)

    out = members(tmp_path, "add", "vip", "external_id\nA\n\n# comment\nB\nC\n")

    assert "2 customer(s) added to 'VIP'; 1 unchanged" in out
    assert set(Membership.objects.current().filter(group=vip).values_list("customer__external_id", flat=True)) == {
        "A",
        "B",
        "C",
    }
    assert Membership.history.filter(customer_id=b.id, history_type="+", history_change_reason="group_members").exists()


def test_remove_ends_memberships_keeping_the_rows_and_is_idempotent(tmp_path, vip):
    a = CustomerFactory(external_id="A")
    membership = MembershipFactory(customer=a, group=vip)

    out = members(tmp_path, "remove", str(vip.id), "A\n")
    again = members(tmp_path, "remove", "VIP", "A\n")

    assert "1 customer(s) removed from 'VIP'; 0 unchanged" in out
    assert "0 customer(s) removed from 'VIP'; 1 unchanged" in again
    membership.refresh_from_db()
    assert membership.left_at is not None


def test_unknown_and_repeated_external_ids_are_refused_with_line_numbers_and_nothing_changes(tmp_path, vip):
    CustomerFactory(external_id="A")

    with pytest.raises(CommandError) as raised:
        members(tmp_path, "add", "VIP", "A\nGHOST\nA\n")

    assert "line 2, column external_id: no customer has external_id 'GHOST'" in str(raised.value)
    assert "line 3, column external_id: 'A' is also on line 1" in str(raised.value)
    assert not Membership.objects.exists()


def test_dry_run_changes_nothing(tmp_path, vip):
    CustomerFactory(external_id="A")
    out = members(tmp_path, "add", "VIP", "A\n", dry_run=True)
    assert "would have 1 customer(s) added" in out
    assert not Membership.objects.exists()


def test_unknown_group_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="Unknown group 'Nope'"):
        members(tmp_path, "add", "Nope", "A\n")
