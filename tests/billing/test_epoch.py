"""Billing epochs: every record is stamped with its customer's epoch at submission, and only issuing moves it."""

from __future__ import annotations

import pytest

from customers.models import Customer
from customers.services import customer_update
from records.models import DataRecord
from tests.factories import CustomerFactory
from tests.records.conftest import ingest

pytestmark = pytest.mark.django_db


def _record(customer, **extra):
    return {
        "customer_id": str(customer.pk),
        "code": "SMS",
        "quantity": "1",
        "time_from": "2026-03-01T10:00:00Z",
    } | extra


def test_records_carry_the_customer_epoch_at_submission():
    first, second = CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=second.pk).update(billing_epoch=3)
    ingest(
        [
            _record(first),
            _record(second),
            {**_record(second), "customer_id": None, "customer_external_id": second.external_id},
        ]
    )
    epochs = sorted(DataRecord.objects.values_list("customer_id", "billing_epoch"), key=lambda r: r[1])
    assert [e for _, e in epochs] == [0, 3, 3]
    assert {c for c, e in epochs if e == 3} == {second.pk}


def test_saving_a_stale_customer_does_not_roll_its_epoch_back():
    """Bug guarded: a full-row save of a customer read before a bill was issued wrote the old epoch back, so
    records submitted afterwards would have been stamped with an epoch already billed (billed twice)."""
    customer = CustomerFactory()
    stale = Customer.objects.get(pk=customer.pk)
    Customer.objects.filter(pk=customer.pk).update(billing_epoch=1)  # a bill was issued meanwhile
    customer_update(customer=stale, changes={"name": "Renamed Ltd"})
    customer.refresh_from_db()
    assert (customer.name, customer.billing_epoch) == ("Renamed Ltd", 1)


def test_a_new_customer_starts_at_epoch_zero():
    assert CustomerFactory().billing_epoch == 0
