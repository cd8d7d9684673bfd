"""On PostgreSQL, an ORM query a connection runs repeatedly is prepared once and then only executed."""

from __future__ import annotations

import pytest
from django.db import connection

from customers.models import Customer
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _prepared_statements() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        return cursor.fetchone()[0]


def test_a_query_repeated_on_a_connection_becomes_a_prepared_statement():
    customers = CustomerFactory.create_batch(6)
    before = _prepared_statements()
    for customer in customers:  # the same SQL, different parameters
        assert Customer.objects.get(pk=customer.pk) == customer
    assert _prepared_statements() > before


def test_prepared_statements_answer_with_each_calls_own_parameters():
    customers = CustomerFactory.create_batch(8)
    for _ in range(2):
        for customer in customers:
            assert Customer.objects.filter(pk=customer.pk).values_list("name", flat=True).get() == customer.name
