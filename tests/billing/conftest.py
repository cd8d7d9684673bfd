"""Fixtures of the billing tests: customers with records submitted through the ingestion service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory
from tests.records.conftest import ingest

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    """Return a UTC datetime from "2026-03-01T10:30" style text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def submit(customer, items: Iterable[tuple[str, str | Decimal | int, datetime]]) -> None:
    """Submit (code, quantity, time_from) records for *customer* through the ingestion service."""
    ingest(
        [
            {"customer_id": str(customer.pk), "code": code, "quantity": str(quantity), "time_from": moment.isoformat()}
            for code, quantity, moment in items
        ]
    )


@pytest.fixture
def customer(db):
    return CustomerFactory(
        name="Acme Ltd",
        external_id="EXT-ACME",
        tax_id="T-1",
        vat_id="GB123",
        address_street="1 High Street\nUnit 2",
        address_city="London",
        address_zip="N1 1AA",
        address_country="GB",
    )


@pytest.fixture
def billing_api(db):
    """A client whose user may view and issue bills."""
    return client_for(user_with_perms("billing.view_bill", "billing.add_bill"))
