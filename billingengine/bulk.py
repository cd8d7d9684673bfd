"""Helpers for loading many rows into PostgreSQL fast (used by seed_demo and import_customers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

#: Below this many incoming rows (or when the tables already hold more), indexes are maintained row by row.
DEFER_INDEXES_MIN_ROWS = 100_000


def table_row_estimate(table: str) -> int:
    """Return PostgreSQL's cheap estimate of the rows in *table* (0 when it was never analysed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


def should_defer_indexes(tables: list[str], incoming: int) -> bool:
    """Return whether loading *incoming* rows is cheaper with the indexes rebuilt afterwards."""
    if connection.vendor != "postgresql" or incoming < DEFER_INDEXES_MIN_ROWS:
        return False
    return all(table_row_estimate(t) < incoming for t in tables)


@contextmanager
def deferred_indexes(tables: list[str]) -> Iterator[None]:
    """Drop the plain indexes and foreign keys of *tables* and recreate them from their own definitions on exit.

    This is what pg_restore does: building an index once over all rows is many times faster than updating it
    per row. Primary keys and UNIQUE constraints stay (ON CONFLICT needs them); unique *indexes* (Django's
    conditional UniqueConstraints) and foreign keys are checked again when they are recreated, so a violation
    still fails the load. Must run inside a transaction (which takes an exclusive lock on the tables until it
    ends); on an error the transaction rolls back the drops too.
    """
    assert connection.in_atomic_block, "deferred_indexes needs a transaction"
    indexes: list[str] = []
    foreign_keys: list[tuple[str, str, str]] = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # Run the checks still pending from earlier in the transaction: a table with pending deferred
        # foreign-key checks cannot be altered. (Django's foreign keys are all DEFERRABLE INITIALLY DEFERRED.)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid = %s::regclass
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                """,
                [table],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f"DROP INDEX {name}")
                indexes.append(definition)
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                "AND contype = 'f'",
                [table],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                foreign_keys.append((table, name, definition))
    yield
    with connection.cursor() as cursor:
        for definition in indexes:
            cursor.execute(definition)
        for table, name, definition in foreign_keys:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def vacuum_analyze(tables: list[str]) -> bool:
    """VACUUM ANALYZE *tables* after a bulk load on PostgreSQL, so index-only scans (member counts) work.

    A COPY leaves no visibility map until autovacuum comes round. VACUUM cannot run inside a
    transaction: there, or on other databases, nothing is done and False is returned.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
    return True
