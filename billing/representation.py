"""The JSON shape of a billing summary and of a bill (one shape: a bill is its summary frozen)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from rest_framework.fields import DateTimeField

from billing.models import Bill
from billing.money import money_text
from billing.summary import CUSTOMER_SNAPSHOT_FIELDS, Summary

_TIMESTAMP = DateTimeField()
_MICRO = Decimal("0.000001")


def timestamp(value: datetime) -> str:
    """Return *value* as the API writes timestamps (RFC 3339, UTC)."""
    return _TIMESTAMP.to_representation(value)


def summary_representation(summary: Summary) -> dict:
    """Return the billing summary as the contract's JSON."""
    return {
        "customer": summary.customer,
        "from": timestamp(summary.start),
        "to": timestamp(summary.end),
        "lines": [
            {
                "code": line.code,
                "from": timestamp(line.start),
                "to": timestamp(line.end),
                "quantity": str(line.quantity),
                "records": line.records,
                "currency": line.currency,
                "amount": str(line.amount),
                "rate": line.rate,
                "tiers": [
                    {
                        "up_to": tier.up_to,
                        "quantity": str(tier.quantity),
                        "unit_price": tier.unit_price,
                        "flat_price": tier.flat_price,
                        "amount": tier.amount,
                    }
                    for tier in line.tiers
                ],
                "late": line.late,
            }
            for line in summary.lines
        ],
        "unpriced": [{"code": u.code, "quantity": str(u.quantity), "records": u.records} for u in summary.unpriced],
        "totals": [{"currency": t.currency, "amount": str(t.amount)} for t in summary.totals],
    }


#: The contract's key order of the frozen parts of a bill. PostgreSQL's jsonb keeps objects with their keys
#: sorted its own way (shortest first), so a bill read back is put in the contract's order again.
_RATE_KEYS = ("id", "model", "price_list_id", "price_list_name", "scope", "group_id")
_TIER_KEYS = ("up_to", "quantity", "unit_price", "flat_price", "amount")
_UNPRICED_KEYS = ("code", "quantity", "records")
_TOTAL_KEYS = ("currency", "amount")


def _ordered(value: dict | None, keys: tuple[str, ...]) -> dict | None:
    """Return *value* with *keys* first, in that order (any other key after them, as stored)."""
    if value is None:
        return None
    return {**{key: value[key] for key in keys if key in value}, **value}


def bill_representation(bill: Bill) -> dict:
    """Return an issued bill as the contract's JSON: its frozen summary plus number, issue time and status.

    The lines must be prefetched (`Bill.objects.prefetch_related("lines")`) when many bills are shown.
    """
    return {
        "id": str(bill.pk),
        "number": bill.number,
        "status": bill.status,
        "issued_at": timestamp(bill.issued_at),
        "customer": _ordered(bill.customer_snapshot, CUSTOMER_SNAPSHOT_FIELDS),
        "from": timestamp(bill.period_from),
        "to": timestamp(bill.period_to),
        "lines": [
            {
                "code": line.code,
                "from": timestamp(line.period_from),
                "to": timestamp(line.period_to),
                "quantity": str(line.quantity.quantize(_MICRO)),
                "records": line.records,
                "currency": line.currency,
                "amount": money_text(line.amount, line.currency),
                "rate": _ordered(line.rate_snapshot, _RATE_KEYS),
                "tiers": [_ordered(tier, _TIER_KEYS) for tier in line.tiers],
                "late": line.late,
            }
            for line in sorted(bill.lines.all(), key=lambda line: line.position)
        ],
        "unpriced": [_ordered(item, _UNPRICED_KEYS) for item in bill.unpriced],
        "totals": [_ordered(total, _TOTAL_KEYS) for total in bill.totals],
    }
