from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from customers.models import Customer
from groups.models import Membership
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = "name,external_id,tax_id,vat_id,address_street,address_city,address_zip,address_country,groups\n"


def write(tmp_path, text: str, name: str = "customers.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_customers", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def state() -> list[tuple]:
    """Return every customer's fields and current group ids, comparable across runs."""
    rows = []
    for c in Customer.objects.order_by("external_id"):
        groups = sorted(c.memberships.current().values_list("group__name", flat=True))
        fields = (c.name, c.external_id, c.tax_id, c.vat_id, c.address_street, c.address_city, c.address_zip)
        rows.append((*fields, str(c.address_country or ""), tuple(groups)))
    return rows


def test_import_creates_customers_normalised_with_groups_by_name_or_id_and_history(tmp_path):
    vip, promo = GroupFactory(name="VIP"), GroupFactory(name="Promo")
    path = write(
        tmp_path,
        HEADER
        + "  Acme Ltd ,EXT-1,TAX1,GB123,1 Example Street,London,EC1A 1BB,gb,vip;Promo\n"
        + f'Beta GmbH,EXT-2,,,"Hauptstr. 1\nHinterhaus",Berlin,10115,DE,{promo.id}\n',
    )

    out, _ = run(path)

    assert "2 created, 0 updated, 0 unchanged, 0 rejected" in out
    acme = Customer.objects.get(external_id="EXT-1")
    assert (acme.name, acme.tax_id, acme.address_country.code) == ("Acme Ltd", "TAX1", "GB")
    assert set(acme.group_ids) == {vip.id, promo.id}
    beta = Customer.objects.get(external_id="EXT-2")
    assert beta.address_street == "Hauptstr. 1\nHinterhaus"
    assert beta.tax_id is None
    assert beta.group_ids == [promo.id]
    assert acme.history.get().history_type == "+"
    assert acme.history.get().history_change_reason == "import_customers"
    assert Membership.history.filter(customer_id=acme.id, history_type="+").count() == 2


def test_import_twice_changes_nothing_the_second_time(tmp_path):
    GroupFactory(name="VIP")
    path = write(tmp_path, HEADER + "Acme,EXT-1,,,,,,GB,VIP\nBeta,EXT-2,,,,,,DE,\n")
    run(path)
    before = state()
    history = Customer.history.count(), Membership.history.count()

    out, _ = run(path)

    assert "0 created, 0 updated, 2 unchanged, 0 rejected" in out
    assert state() == before
    assert (Customer.history.count(), Membership.history.count()) == history


def test_import_updates_existing_customers_and_leaves_columns_the_file_lacks(tmp_path):
    CustomerFactory(external_id="EXT-1", name="Old", tax_id="T-1", address_country="FR")
    CustomerFactory(external_id="EXT-2", name="Same", address_country="GB")
    path = write(tmp_path, "external_id,name,address_country\nEXT-1,New,DE\nEXT-2,Same,GB\nEXT-3,Fresh,\n")

    out, _ = run(path)

    assert "1 created, 1 updated, 1 unchanged, 0 rejected" in out
    updated = Customer.objects.get(external_id="EXT-1")
    assert (updated.name, updated.address_country.code, updated.tax_id) == ("New", "DE", "T-1")
    assert updated.history.filter(history_type="~").count() == 1
    assert not Customer.objects.get(external_id="EXT-3").address_country


def test_groups_column_replaces_memberships_keeping_joined_at_and_ending_removed_ones(tmp_path):
    vip, promo, trial = GroupFactory(name="VIP"), GroupFactory(name="Promo"), GroupFactory(name="Trial")
    customer = CustomerFactory(external_id="EXT-1", name="Acme", address_country="GB")
    kept = MembershipFactory(customer=customer, group=vip)
    removed = MembershipFactory(customer=customer, group=trial)
    path = write(tmp_path, "name,external_id,address_country,groups\nAcme,EXT-1,GB,VIP|Promo\n")

    out, _ = run(path)

    assert "0 created, 1 updated, 0 unchanged" in out
    kept.refresh_from_db()
    removed.refresh_from_db()
    assert kept.left_at is None
    assert removed.left_at is not None  # ended, not deleted
    assert set(customer.group_ids) == {vip.id, promo.id}
    assert Membership.objects.filter(customer=customer).count() == 3


def test_empty_groups_cell_removes_all_groups(tmp_path):
    customer = CustomerFactory(external_id="EXT-1", name="Acme", address_country="GB")
    MembershipFactory(customer=customer)
    run(write(tmp_path, "name,external_id,address_country,groups\nAcme,EXT-1,GB,\n"))
    assert customer.group_ids == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (",EXT-9,,,,,,GB,", "line 3, column name: is required"),
        ("Acme,,,,,,,GB,", "line 3, column external_id: is required"),
        ("Acme,EXT-9,,,,,,XX,", "line 3, column address_country: 'XX' is not an ISO 3166-1 alpha-2 country code"),
        ("Acme,EXT-9,,,,,,GB,Nope", "line 3, column groups: unknown group 'Nope'"),
        ("A" * 256 + ",EXT-9,,,,,,GB,", "line 3, column name: Ensure this value has at most 255 characters"),
        ("Acme,EXT-9,,,,,123456789012345678901234567890123,GB,", "line 3, column address_zip: Ensure this value"),
        ("Ac\x07me,EXT-9,,,,,,GB,", "line 3, column name: Control characters are not allowed"),
        ("Acme,EXT-9,,,,,GB", "line 3: has 7 values but the header has 9 columns"),
        ("Acme,EXT-1,,,,,,GB,", "line 3, column external_id: 'EXT-1' appears 2 times in the file (lines 2, 3)"),
    ],
)
def test_each_kind_of_bad_row_is_refused_with_its_line_and_nothing_is_written(tmp_path, row, message):
    path = write(tmp_path, HEADER + "Good,EXT-1,,,,,,GB,\n" + row + "\n")

    with pytest.raises(CommandError) as raised:
        run(path)

    assert message in str(raised.value)
    assert "nothing was written" in str(raised.value)
    assert Customer.objects.count() == 0


def test_unknown_column_is_refused_naming_it(tmp_path):
    with pytest.raises(CommandError, match="line 1: unknown column\\(s\\) 'email'"):
        run(write(tmp_path, "name,external_id,email\nAcme,EXT-1,a@example.com\n"))


def test_dry_run_reports_the_changes_and_writes_nothing(tmp_path):
    CustomerFactory(external_id="EXT-1", name="Old", address_country="GB")
    path = write(tmp_path, "name,external_id\nNew,EXT-1\nFresh,EXT-2\n")
    history = Customer.history.count()

    out, _ = run(path, dry_run=True)

    assert "would have: 1 created, 1 updated, 0 unchanged, 0 rejected" in out
    assert list(Customer.objects.values_list("external_id", "name")) == [("EXT-1", "Old")]
    assert Customer.history.count() == history


def test_skip_invalid_writes_the_good_rows_and_lists_the_bad_ones(tmp_path):
    path = write(tmp_path, HEADER + "Good,EXT-1,,,,,,GB,\nBad,EXT-2,,,,,,ZZ,\nDup,EXT-3,,,,,,,\nDup,EXT-3,,,,,,,\n")

    out, err = run(path, skip_invalid=True)

    assert "1 created, 0 updated, 0 unchanged, 3 rejected" in out
    assert "line 3, column address_country" in err
    assert "line 4, column external_id: 'EXT-3' appears 2 times" in err
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["EXT-1"]


def test_rows_without_external_id_are_created_only_when_allowed(tmp_path):
    path = write(tmp_path, "name,external_id\nWalk-in,\n")
    with pytest.raises(CommandError, match="line 2, column external_id: is required"):
        run(path)

    out, _ = run(path, allow_missing_external_id=True)

    assert "1 created" in out
    assert Customer.objects.get().external_id is None


def test_jsonl_input_with_group_lists_and_bad_json_lines(tmp_path):
    vip = GroupFactory(name="VIP")
    good = json.dumps({"name": "Acme", "external_id": "EXT-1", "address_country": "GB", "groups": ["VIP"]})
    path = write(tmp_path, good + "\n\n" + "{not json\n" + '["a list"]\n', name="c.jsonl")

    with pytest.raises(CommandError) as raised:
        run(path)
    assert "line 3: is not valid JSON" in str(raised.value)
    assert "line 4: must be a JSON object" in str(raised.value)

    out, _ = run(write(tmp_path, good + "\n", name="ok.jsonl"))
    assert "1 created" in out
    assert Customer.objects.get().group_ids == [vip.id]


def test_import_reads_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("name,external_id\nAcme,EXT-1\n"))
    out, _ = run("-")
    assert "1 created" in out


def test_user_option_records_the_author_in_the_history(tmp_path):
    alice = UserFactory(username="alice")
    run(write(tmp_path, "name,external_id\nAcme,EXT-1\n"), user="alice")
    assert Customer.objects.get().history.get().history_user == alice


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/file.csv"], "Cannot read /nonexistent/file.csv"),
        ([], "No user 'ghost'"),
    ],
)
def test_clear_errors_for_missing_file_and_unknown_user(tmp_path, args, message):
    options = {"user": "ghost"} if not args else {}
    with pytest.raises(CommandError, match=message):
        run(*(args or [write(tmp_path, "name,external_id\nA,1\n")]), **options)


def test_empty_file_and_non_utf8_file_are_refused(tmp_path):
    with pytest.raises(CommandError, match="the file is empty"):
        run(write(tmp_path, ""))
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,external_id\nCaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(CommandError, match="is not UTF-8 text"):
        run(str(path))


SCENARIO = [
    HEADER + "Acme,EXT-1,T1,GB1,1 Road,London,E1,GB,VIP;Promo\nBeta,EXT-2,,,,,,DE,\nGamma,EXT-3,,,,,,FR,Trial\n",
    HEADER + "Acme Renamed,EXT-1,T1,GB1,1 Road,London,E1,GB,Promo|Trial\nBeta,EXT-2,,,,,,DE,\nDelta,EXT-4,,,,,,CZ,\n",
    "external_id,name\nEXT-3,Gamma Only Name\n",
]


def _run_scenario(tmp_path, method: str) -> tuple[list, list[str]]:
    for name in ("VIP", "Promo", "Trial"):
        GroupFactory(name=name)
    summaries = []
    for index, text in enumerate(SCENARIO):
        out, _ = run(write(tmp_path, text, name=f"{method}{index}.csv"), method=method)
        summaries.append(out.split(" (")[0])
    return state(), summaries


@pytest.mark.postgres
def test_postgres_copy_path_and_orm_path_give_the_same_results(tmp_path, django_db_blocker):
    """The COPY fast path and the ORM path must agree on the data and on the summary figures."""
    copy_state, copy_summaries = _run_scenario(tmp_path, "copy")
    copy_history = sorted(Customer.history.values_list("external_id", "history_type"))
    copy_membership_history = Membership.history.count()
    Membership.objects.all().delete()
    Customer.objects.all().delete()
    Customer.history.all().delete()
    Membership.history.all().delete()
    from groups.models import Group

    Group.objects.all().delete()

    orm_state, orm_summaries = _run_scenario(tmp_path, "orm")

    assert connection.vendor == "postgresql"
    assert copy_state == orm_state
    assert copy_summaries == orm_summaries
    assert copy_history == sorted(Customer.history.values_list("external_id", "history_type"))
    assert copy_membership_history == Membership.history.count()


def test_orm_path_scenario_summaries(tmp_path):
    _, summaries = _run_scenario(tmp_path, "orm")
    assert summaries == [
        "Imported: 3 created, 0 updated, 0 unchanged, 0 rejected",
        "Imported: 1 created, 1 updated, 1 unchanged, 0 rejected",
        "Imported: 0 created, 1 updated, 0 unchanged, 0 rejected",
    ]


def test_malformed_csv_quoting_is_refused_with_its_line(tmp_path):
    with pytest.raises(CommandError, match="line 3: not valid CSV"):
        run(write(tmp_path, 'name,external_id\nAcme,EXT-1\n"Unclosed,EXT-2\n'))
    assert Customer.objects.count() == 0


def test_method_copy_needs_postgresql(tmp_path, on_postgres):
    path = write(tmp_path, "name,external_id\nAcme,EXT-1\n")
    if on_postgres:
        assert "1 created" in run(path, method="copy")[0]
    else:
        with pytest.raises(CommandError, match="--method copy needs PostgreSQL"):
            run(path, method="copy")


def test_bad_input_exits_non_zero_with_the_reason_and_no_traceback(tmp_path):
    path = write(tmp_path, "name,external_id,address_country\nAcme,EXT-1,XX\n")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=settings.BASE_DIR, env=env, check=True)

    proc = subprocess.run(
        [*manage, "import_customers", path], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )

    assert proc.returncode == 1
    assert "line 2, column address_country: 'XX' is not an ISO 3166-1 alpha-2 country code" in proc.stderr
    assert "Traceback" not in proc.stderr
