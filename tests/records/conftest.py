from __future__ import annotations

import pytest

from records.services import IngestResult, records_ingest
from records.validation import records_parse
from tests.conftest import client_for, user_with_perms
from tests.factories import CustomerFactory


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users made by these tests need no slow password hashing (the keys are what authenticates)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def customer(db):
    return CustomerFactory(name="End Customer Ltd", external_id="EXT-CU-0042")


@pytest.fixture
def record_viewer_api(db):
    """A client whose key may only view data records."""
    return client_for(user_with_perms("records.view_datarecord"))


@pytest.fixture
def record_submitter_api(db):
    """A client whose key may submit and view data records, but nothing else."""
    return client_for(user_with_perms("records.add_datarecord", "records.view_datarecord"))


def sms(**overrides) -> dict:
    """Return the source document's example record, with *overrides*."""
    record = {
        "customer_external_id": "EXT-CU-0042",
        "code": "SMS",
        "quantity": 1500,
        "time_from": "2026-03-31T14:00:00Z",
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not ...}


def ingest(items: list) -> IngestResult:
    """Validate raw records (as the API receives them) and store them through the service."""
    return records_ingest(records=records_parse(items))
