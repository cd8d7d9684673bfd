from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from customers.models import Customer
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def rekey(tmp_path, text: str, **options) -> str:
    path = tmp_path / "mapping.csv"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("rekey_customers", str(path), stdout=out, **options)
    return out.getvalue()


def ids() -> list[str]:
    return sorted(Customer.objects.values_list("external_id", flat=True))


def test_rekey_changes_external_ids_and_records_history(tmp_path):
    a = CustomerFactory(external_id="OLD-1")
    CustomerFactory(external_id="OLD-2")
    CustomerFactory(external_id="KEEP")
    alice = UserFactory(username="alice")

    out = rekey(tmp_path, "old_external_id,new_external_id\nOLD-1, NEW-1 \nOLD-2,NEW-2\n", user="alice")

    assert "Re-keyed 2 customer(s)" in out
    assert ids() == ["KEEP", "NEW-1", "NEW-2"]
    latest = a.history.first()
    assert (latest.external_id, latest.history_type, latest.history_change_reason) == ("NEW-1", "~", "rekey_customers")
    assert latest.history_user == alice
    assert a.history.last().external_id == "OLD-1"


def test_running_the_same_mapping_twice_changes_nothing_the_second_time(tmp_path):
    CustomerFactory(external_id="OLD-1")
    text = "old_external_id,new_external_id\nOLD-1,NEW-1\n"
    rekey(tmp_path, text)
    history = Customer.history.count()

    out = rekey(tmp_path, text)

    assert "Re-keyed 0 customer(s); 1 line(s) already done" in out
    assert Customer.history.count() == history


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("OLD-1,TAKEN", "line 3, column new_external_id: 'TAKEN' is already the external_id of customer"),
        ("GHOST,NEW-9", "line 3, column old_external_id: no customer has external_id 'GHOST'"),
        ("OLD-1,NEW-1\nOLD-1,NEW-2", "line 4, column old_external_id: 'OLD-1' is also re-keyed on line 3"),
        ("OLD-1,NEW-1\nOLD-2,NEW-1", "line 4, column new_external_id: 'NEW-1' is also the new id on line 3"),
        ("OLD-1,OLD-2\nOLD-2,NEW-2", "line 3, column new_external_id: 'OLD-2' is re-keyed itself on line 4"),
        ("OLD-1,OLD-2\nOLD-2,OLD-1", "chains and swaps are refused"),
        ("OLD-1,", "line 3, column new_external_id: is required"),
        ("OLD-1,NEW\x07", "line 3, column new_external_id: Control characters are not allowed"),
        ("OLD-1," + "x" * 256, "line 3, column new_external_id: Ensure this value has at most 255 characters"),
        ("OLD-1,OLD-1", "is the same as the old external_id"),
        ("OLD-1,NEW-1,extra", "line 3: has 3 values; expected 2"),
    ],
)
def test_bad_mappings_are_refused_with_line_numbers_and_nothing_changes(tmp_path, lines, message):
    for external_id in ("GOOD", "OLD-1", "OLD-2", "TAKEN"):
        CustomerFactory(external_id=external_id)

    with pytest.raises(CommandError) as raised:
        rekey(tmp_path, "old_external_id,new_external_id\nGOOD,FINE\n" + lines + "\n")

    assert message in str(raised.value)
    assert "nothing was re-keyed" in str(raised.value)
    assert ids() == ["GOOD", "OLD-1", "OLD-2", "TAKEN"]  # all or nothing: the good first line is not applied either


def test_dry_run_reports_and_changes_nothing(tmp_path):
    CustomerFactory(external_id="OLD-1")
    out = rekey(tmp_path, "old_external_id,new_external_id\nOLD-1,NEW-1\n", dry_run=True)
    assert "would have re-keyed 1" in out
    assert ids() == ["OLD-1"]


def test_wrong_header_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(CommandError, match="line 1: the header must be 'old_external_id,new_external_id'"):
        rekey(tmp_path, "old,new\nA,B\n")
    with pytest.raises(CommandError, match=r"Cannot read /nonexistent\.csv"):
        call_command("rekey_customers", "/nonexistent.csv")
