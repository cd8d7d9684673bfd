"""Customers are written by one set of rules whichever door the data comes through: the model's validators,
applied by the API, by both import paths (ORM and PostgreSQL COPY) and shared by one exporter."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from customers import _upsert_orm
from customers.models import Customer
from customers.services import customer_create, customer_update
from tests.admin_helpers import url
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "customers_customer_changelist"


def forbid_secret(value: str) -> None:
    if "SECRET" in value:
        raise ValidationError("must not contain SECRET")


@pytest.fixture
def stricter_tax_id(monkeypatch):
    """A validator added to Customer.tax_id after the code was written (as a later change would)."""
    field = Customer._meta.get_field("tax_id")
    monkeypatch.setitem(field.__dict__, "validators", [*field.validators, forbid_secret])


def import_file(tmp_path, text: str, **options) -> tuple[str, str]:
    path = tmp_path / "customers.csv"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_customers", str(path), stdout=out, stderr=err, **options)
    except CommandError as error:
        return f"{out.getvalue()}{error}", err.getvalue()
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("method", ["orm", pytest.param("copy", marks=pytest.mark.postgres)])
def test_import_refuses_a_row_breaking_a_validator_added_to_the_model_and_writes_nothing(
    tmp_path, stricter_tax_id, method
):
    out, _err = import_file(tmp_path, "name,external_id,tax_id\nGood,E-1,T-1\nBad,E-2,SECRET-2\n", method=method)
    assert "line 3, column tax_id: must not contain SECRET" in out
    assert not Customer.objects.exists()


@pytest.mark.parametrize("method", ["orm", pytest.param("copy", marks=pytest.mark.postgres)])
def test_import_refuses_an_update_breaking_a_validator_added_to_the_model(tmp_path, stricter_tax_id, method):
    CustomerFactory(external_id="E-1", tax_id="T-1")
    out, _err = import_file(tmp_path, "name,external_id,tax_id\nChanged,E-1,SECRET\n", method=method)
    assert "line 2, column tax_id: must not contain SECRET" in out
    assert Customer.objects.get().tax_id == "T-1"


def test_api_refuses_a_value_breaking_a_validator_added_to_the_model(api, stricter_tax_id):
    response = api.post("/api/v1/customers", {"name": "Bad", "external_id": "E-1", "tax_id": "SECRET"}, format="json")
    assert response.status_code == 400
    assert "must not contain SECRET" in response.content.decode()
    assert not Customer.objects.exists()


def test_create_and_update_services_refuse_a_value_breaking_a_validator_added_to_the_model(stricter_tax_id):
    """The admin and the commands reach the services directly: the same row validation refuses the value."""
    with pytest.raises(ValidationError) as created:
        customer_create(name="Bad", external_id="E-1", tax_id="SECRET")
    assert created.value.message_dict == {"tax_id": ["must not contain SECRET"]}
    assert not Customer.objects.exists()

    customer = CustomerFactory(name="Kept", tax_id="T-1")
    with pytest.raises(ValidationError) as updated:
        customer_update(customer=Customer.objects.get(pk=customer.pk), changes={"name": "New", "tax_id": "SECRET-2"})
    assert updated.value.message_dict == {"tax_id": ["must not contain SECRET"]}
    assert Customer.objects.values_list("name", "tax_id").get() == ("Kept", "T-1")


def test_create_update_and_the_orm_import_write_through_the_same_writer(tmp_path, monkeypatch):
    """One writer for customers: the services behind the API and the admin, and the importer's ORM path."""
    calls = []
    write = _upsert_orm.write

    def recording_write(targets, user, reason):
        calls.append([row.values.get("name") for _customer, row in targets])
        return write(targets, user, reason)

    monkeypatch.setattr(_upsert_orm, "write", recording_write)
    customer = customer_create(name="Created", external_id="E-1")
    customer_update(customer=customer, changes={"name": "Updated"})
    import_file(tmp_path, "name,external_id\nImported,E-2\nUpdated again,E-1\n", method="orm")
    assert calls == [["Created"], ["Updated"], ["Imported", "Updated again"]]
    assert sorted(Customer.objects.values_list("external_id", "name")) == [
        ("E-1", "Updated again"),
        ("E-2", "Imported"),
    ]


def test_an_update_that_changes_nothing_writes_no_history_row():
    customer = customer_create(name="Same", external_id="E-1", address_country="gb")
    customer_update(customer=Customer.objects.get(pk=customer.pk), changes={"name": " Same ", "address_country": "GB"})
    assert customer.history.count() == 1


def test_dry_run_reports_each_bad_line_once(tmp_path):
    """Regression: `import_customers --dry-run` printed every bad line twice (on stderr and in the error)."""
    bad = "".join(f"Bad {n},E-{n},,,,,,XX\n" for n in range(25))
    out, err = import_file(
        tmp_path,
        "name,external_id,tax_id,vat_id,address_street,address_city,address_zip,address_country\nGood,G-1,,,,,,GB\n"
        + bad,
        dry_run=True,
    )
    report = out + err
    for line in range(3, 28):
        assert report.count(f"line {line}, column address_country") == 1, line
    assert not Customer.objects.exists()


def test_export_command_and_admin_action_write_the_same_csv_with_formulas_escaped(admin_client):
    vip = GroupFactory(name="VIP")
    tricky = [
        CustomerFactory(name="=SUM(A1:A2)", external_id="E-1", tax_id="+44 20", vat_id="-1", address_city="@city"),
        CustomerFactory(name="Plain", external_id="E-2", address_street="-", address_zip="'=quoted"),
    ]
    MembershipFactory(customer=tricky[0], group=vip)

    command_out = io.StringIO()
    call_command("export_customers", stdout=command_out, stderr=io.StringIO(), group_format="names")
    data = {"action": "export_csv", "_selected_action": [str(c.pk) for c in tricky], "index": 0}
    admin_out = admin_client.post(url(CHANGELIST), data).content.decode()

    assert admin_out == command_out.getvalue()
    rows = list(csv.DictReader(io.StringIO(admin_out)))
    assert [(r["name"], r["tax_id"], r["vat_id"], r["address_city"], r["groups"]) for r in rows[:1]] == [
        ("'=SUM(A1:A2)", "'+44 20", "'-1", "'@city", "VIP")
    ]
    assert (rows[1]["address_street"], rows[1]["address_zip"]) == ("'-", "''=quoted")


def test_escaped_export_imports_back_unchanged(tmp_path):
    CustomerFactory(name="=SUM(A1:A2)", external_id="E-1", tax_id="+44 20", vat_id="-1", address_zip="'=quoted")
    before = list(Customer.objects.values_list("name", "tax_id", "vat_id", "address_zip"))
    path = tmp_path / "export.csv"
    call_command("export_customers", output=str(path), stdout=io.StringIO(), stderr=io.StringIO())
    out, _err = import_file(tmp_path, path.read_text(encoding="utf-8"))
    assert "0 created, 0 updated, 1 unchanged" in out
    assert list(Customer.objects.values_list("name", "tax_id", "vat_id", "address_zip")) == before
