"""Gap-free bill numbers: a counter row per calendar year, incremented inside the issuing transaction.

A database sequence would skip numbers on rollback; this counter rolls back with the bills it numbered, and
its row lock (held until the issuing transaction ends) makes concurrent issuers take turns. Take numbers as
late in the transaction as possible, so the lock is held briefly.
"""

from __future__ import annotations

from django.db import connection

from billing.models import BillNumber


def format_number(year: int, sequence: int) -> str:
    """Return the bill number of the *sequence*-th bill of *year*: "2026-000042"."""
    return f"{year:04d}-{sequence:06d}"


def bill_numbers_take(*, year: int, count: int) -> list[str]:
    """Return the next *count* numbers of *year* and lock the year's counter until the transaction ends."""
    if count <= 0:
        return []
    table = connection.ops.quote_name(BillNumber._meta.db_table)
    with connection.cursor() as cursor:
        # One statement on both databases: creates the year's row, or locks and increments it.
        cursor.execute(
            f"INSERT INTO {table} AS n (year, last) VALUES (%s, %s) "
            "ON CONFLICT (year) DO UPDATE SET last = n.last + excluded.last RETURNING last",
            [year, count],
        )
        last = cursor.fetchone()[0]
    return [format_number(year, sequence) for sequence in range(last - count + 1, last + 1)]
