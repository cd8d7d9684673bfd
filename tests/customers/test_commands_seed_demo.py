from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django_countries import countries

from customers.models import Customer
from customers.services import normalize_customer_value
from groups.models import Group, Membership

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_customers_groups_and_memberships_obeying_every_model_rule(capsys):
    call_command("seed_demo", customers=300, groups=7, memberships_per_customer=3, seed=1)

    assert Customer.objects.count() == 300
    assert Group.objects.count() == 7
    memberships = Membership.objects.count()
    assert 600 <= memberships <= 1200  # average 3 per customer, capped at 7 groups
    assert "Seeded 300 customers" in capsys.readouterr().out
    codes = {code for code, _ in countries}
    for customer in Customer.objects.all():
        customer.full_clean()  # every field validator and max_length
        for field in ("name", "external_id", "tax_id", "vat_id", "address_street", "address_city", "address_zip"):
            value = getattr(customer, field)
            assert value == normalize_customer_value(field, value)
        assert customer.address_country.code in codes
        assert customer.external_id.startswith("DEMO-")
    assert Customer.objects.values("external_id").distinct().count() == 300
    pairs = list(Membership.objects.current().values_list("customer_id", "group_id"))
    assert len(pairs) == len(set(pairs)) == memberships


def test_seeding_twice_continues_the_external_ids_and_reuses_the_groups():
    call_command("seed_demo", customers=5, groups=3, seed=1)
    call_command("seed_demo", customers=5, groups=3, seed=1)

    assert Customer.objects.count() == 10
    assert Group.objects.count() == 3
    assert sorted(Customer.objects.values_list("external_id", flat=True))[-1] == "DEMO-000000010"


def test_seed_demo_same_seed_gives_the_same_names():
    call_command("seed_demo", customers=20, groups=2, seed=7, prefix="A-")
    call_command("seed_demo", customers=20, groups=2, seed=7, prefix="B-")

    first = list(Customer.objects.filter(external_id__startswith="A-").order_by("external_id").values_list("name"))
    second = list(Customer.objects.filter(external_id__startswith="B-").order_by("external_id").values_list("name"))
    assert first == second


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"customers": -1}, "--customers and --groups must be 0 or more"),
        ({"memberships_per_customer": -2}, "--memberships-per-customer must be 0 or more"),
        ({"prefix": "  "}, "--prefix must be 1 to 200 characters"),
    ],
)
def test_seed_demo_refuses_bad_options_and_writes_nothing(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", **options)
    assert Customer.objects.count() == 0


def test_seed_demo_without_groups_creates_no_memberships():
    call_command("seed_demo", customers=10, groups=0)

    assert Customer.objects.count() == 10
    assert Membership.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seed_demo_vacuums_its_tables_so_member_counts_are_index_only():
    """Regression: after a big seed the membership table had no visibility map (COPY, never vacuumed),
    so counting a group's current members read the heap: the customer-group list took 5.4 s at
    1M customers / 3M memberships, and 0.2-0.4 s once vacuumed."""
    from django.core.management import call_command
    from django.db import connection

    call_command("seed_demo", "--customers", "50", "--groups", "3", "--seed", "1")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname IN ('customers_customer', 'groups_membership') "
            "AND last_vacuum IS NOT NULL ORDER BY relname"
        )
        assert [row[0] for row in cursor.fetchall()] == ["customers_customer", "groups_membership"]
