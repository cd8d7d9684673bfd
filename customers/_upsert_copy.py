"""Customer upserts on PostgreSQL: COPY into a staging table, then set-based statements (the private fast path
of `customers_upsert`)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from billingengine import bulk
from billingengine.bulk import deferred_indexes
from customers.importing.validation import ImportResult, ValidRow, duplicate_error
from customers.models import CUSTOMER_FIELDS, Customer
from customers.upserting import GroupTarget, UpsertOutcome

_STAGING = "import_customers_staging"
_HISTORY_COLUMNS = ("history_date", "history_change_reason", "history_type", "history_user_id")


def upsert(
    rows: Iterable[ValidRow],
    result: ImportResult,
    *,
    skip_invalid: bool,
    user: AbstractBaseUser | None,
    reason: str,
) -> UpsertOutcome:
    """Upsert *rows* by external_id set-based on PostgreSQL, with history rows; see `customers_upsert`."""
    columns = list(CUSTOMER_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGING}")
        cursor.execute(
            f"""
            CREATE TEMP TABLE {_STAGING} (
                line integer NOT NULL,
                new_id uuid NOT NULL DEFAULT gen_random_uuid(),
                present integer NOT NULL,  -- bit i set: the file has column i (columns it lacks stay)
                {", ".join(f"{c} text" for c in columns)},
                set_groups boolean NOT NULL,
                group_ids uuid[]
            ) ON COMMIT DROP
            """
        )
        staged = 0
        copy_sql = f"COPY {_STAGING} (line, present, {', '.join(columns)}, set_groups, group_ids) FROM STDIN"
        masks: dict[tuple[str, ...], int] = {}
        # One COPY for the whole file: the server stores rows while Python reads and validates the next ones.
        with cursor.copy(copy_sql) as copy:
            for row in rows:
                values = row.values
                keys = tuple(values)
                mask = masks.get(keys)
                if mask is None:
                    mask = masks[keys] = sum(1 << i for i, c in enumerate(columns) if c in values)
                copy.write_row(
                    (row.line, mask, *[values.get(c) for c in columns], row.group_ids is not None, row.group_ids)
                )
                staged += 1

        cursor.execute(
            f"""
            SELECT external_id, array_agg(line ORDER BY line) FROM {_STAGING}
            WHERE external_id IS NOT NULL GROUP BY external_id HAVING count(*) > 1
            """
        )
        duplicated = cursor.fetchall()
        for external_id, lines in duplicated:
            for line in lines:
                result.rejected += 1
                result.add_error(duplicate_error(line, external_id, lines))
        result.fail_if_invalid(skip_invalid)
        if duplicated:
            cursor.execute(f"DELETE FROM {_STAGING} s WHERE s.external_id = ANY(%s)", [[e for e, _ in duplicated]])
            staged -= cursor.rowcount
        if not staged:
            return UpsertOutcome()
        empty = not Customer.objects.exists()
        if not empty:
            cursor.execute(f"CREATE INDEX ON {_STAGING} (external_id)")
        cursor.execute(f"ANALYZE {_STAGING}")

        now = timezone.now()
        user_id = user.pk if user is not None else None
        user_type = Customer.history.model._meta.get_field("history_user").target_field.rel_db_type(connection)
        history_values = f"%(now)s::timestamptz, %(reason)s::text, %(type)s, %(user)s::{user_type}"
        params = {"now": now, "reason": reason, "user": user_id}
        history_cols = ", ".join(_HISTORY_COLUMNS)
        fields = ", ".join(columns)
        customer_table = Customer._meta.db_table
        history_table = Customer.history.model._meta.db_table
        tables = [customer_table, history_table]
        # Loading into an empty table (first onboarding, the benchmark): build the indexes once at the end.
        with deferred_indexes(tables) if empty and staged >= bulk.DEFER_INDEXES_MIN_ROWS else nullcontext():
            # Created: rows whose external_id is new (or absent, with --allow-missing-external-id).
            cursor.execute(
                f"""
                WITH ins AS (
                    INSERT INTO {customer_table} (id, {fields}, created_at, updated_at)
                    SELECT s.new_id, {", ".join(f"s.{c}" for c in columns)}, %(now)s, %(now)s
                    FROM {_STAGING} s
                    WHERE s.external_id IS NULL
                       OR NOT EXISTS (SELECT 1 FROM {customer_table} c WHERE c.external_id = s.external_id)
                    RETURNING id, {fields}, created_at
                )
                INSERT INTO {history_table} (id, {fields}, created_at, {history_cols})
                SELECT id, {fields}, created_at, {history_values} FROM ins
                """,
                {**params, "type": "+"},
            )
            created = cursor.rowcount
            # Updated: existing customers whose columns in the file differ (others stay untouched).
            compare_old = ", ".join(
                f"CASE WHEN s.present & {1 << i} <> 0 THEN c.{c} END"
                for i, c in enumerate(columns)
                if c != "external_id"
            )
            compare_new = ", ".join(
                f"CASE WHEN s.present & {1 << i} <> 0 THEN s.{c} END"
                for i, c in enumerate(columns)
                if c != "external_id"
            )
            assignments = ", ".join(
                f"{c} = CASE WHEN s.present & {1 << i} <> 0 THEN s.{c} ELSE c.{c} END"
                for i, c in enumerate(columns)
                if c != "external_id"
            )
            if empty:  # nothing to update: every row was just created
                cursor.execute("CREATE TEMP TABLE import_customers_changed (customer_id uuid) ON COMMIT DROP")
            else:
                cursor.execute(
                    f"""
                CREATE TEMP TABLE import_customers_changed ON COMMIT DROP AS
                WITH upd AS (
                    UPDATE {customer_table} c SET {assignments}, updated_at = %(now)s
                    FROM {_STAGING} s
                    WHERE c.external_id = s.external_id
                      AND ROW({compare_old}) IS DISTINCT FROM ROW({compare_new})
                    RETURNING c.id, {", ".join(f"c.{c}" for c in columns)}, c.created_at
                ), hist AS (
                    INSERT INTO {history_table} (id, {fields}, created_at, {history_cols})
                    SELECT id, {fields}, created_at, {history_values} FROM upd
                )
                SELECT id AS customer_id FROM upd
                """,
                    {**params, "type": "~"},
                )
        cursor.execute("SELECT customer_id FROM import_customers_changed")
        updated_ids = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            f"""
            SELECT COALESCE(c.id, s.new_id), s.group_ids, c.created_at = %(now)s
            FROM {_STAGING} s LEFT JOIN {customer_table} c ON c.external_id = s.external_id
            WHERE s.set_groups
            """,
            params,
        )
        group_targets = [GroupTarget(pk, ids or [], new) for pk, ids, new in cursor.fetchall()]
        cursor.execute("DROP TABLE import_customers_changed")
        cursor.execute(f"DROP TABLE {_STAGING}")
    return UpsertOutcome(rows=staged, created=created, updated_ids=updated_ids, group_targets=group_targets)
