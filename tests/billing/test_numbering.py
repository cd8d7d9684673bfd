"""Bill numbers: sequential per calendar year, gap-free (the counter rolls back with a failed issue)."""

from __future__ import annotations

import pytest
from django.db import transaction

from billing.models import BillNumber
from billing.numbering import bill_numbers_take, format_number

pytestmark = pytest.mark.django_db


def test_numbers_are_sequential_per_year_and_start_at_one():
    assert bill_numbers_take(year=2026, count=2) == ["2026-000001", "2026-000002"]
    assert bill_numbers_take(year=2026, count=1) == ["2026-000003"]
    assert bill_numbers_take(year=2027, count=1) == ["2027-000001"]
    assert BillNumber.objects.get(year=2026).last == 3


def test_a_rolled_back_transaction_gives_its_numbers_back():
    bill_numbers_take(year=2026, count=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert bill_numbers_take(year=2026, count=5)[-1] == "2026-000006"
        raise RuntimeError("the issue failed")
    assert bill_numbers_take(year=2026, count=1) == ["2026-000002"]


def test_taking_no_number_writes_nothing():
    assert bill_numbers_take(year=2026, count=0) == []
    assert not BillNumber.objects.exists()


def test_number_format_pads_to_six_digits():
    assert format_number(2026, 42) == "2026-000042"
