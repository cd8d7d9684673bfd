"""Set-based SQL behind `groups.services.memberships_replace` on PostgreSQL (private: call the service).

The wanted (customer, group) pairs are COPied into temporary tables; one statement then ends the unwanted open
memberships, starts the missing ones and writes a change-history row for each, as the ORM path does row by row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from groups.models import Membership

_TARGETS = "memberships_replace_targets"
_WANTED = "memberships_replace_wanted"


def replace(
    wanted: Mapping[UUID, set[UUID]],
    *,
    at: datetime,
    now: datetime,
    user: AbstractBaseUser | None,
    reason: str,
) -> set[UUID]:
    """Do `memberships_replace` set-based; return the ids of the customers whose memberships changed."""
    membership_table = Membership._meta.db_table
    history_model = Membership.history.model
    history_table = history_model._meta.db_table
    user_type = history_model._meta.get_field("history_user").target_field.rel_db_type(connection)
    params = {"at": at, "now": now, "reason": reason or None, "user": user.pk if user is not None else None}
    history = f"%(now)s::timestamptz, %(reason)s::text, {{type}}, %(user)s::{user_type}"
    columns = "history_date, history_change_reason, history_type, history_user_id"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {_TARGETS} (customer_id uuid PRIMARY KEY) ON COMMIT DROP")
        cursor.execute(f"CREATE TEMP TABLE {_WANTED} (customer_id uuid, group_id uuid) ON COMMIT DROP")
        with cursor.copy(f"COPY {_TARGETS} (customer_id) FROM STDIN") as copy:
            for customer_id in wanted:
                copy.write_row((customer_id,))
        with cursor.copy(f"COPY {_WANTED} (customer_id, group_id) FROM STDIN") as copy:
            for customer_id, group_ids in wanted.items():
                for group_id in group_ids:
                    copy.write_row((customer_id, group_id))
        cursor.execute(f"CREATE INDEX ON {_WANTED} (customer_id, group_id)")
        cursor.execute(f"ANALYZE {_TARGETS}")
        cursor.execute(f"ANALYZE {_WANTED}")
        cursor.execute(
            f"""
            WITH ended AS (
                -- current at %(at)s, not wanted: end then
                UPDATE {membership_table} m SET left_at = %(at)s
                FROM {_TARGETS} t
                WHERE m.customer_id = t.customer_id
                  AND m.joined_at <= %(at)s AND (m.left_at IS NULL OR m.left_at > %(at)s)
                  AND NOT EXISTS (
                      SELECT 1 FROM {_WANTED} w WHERE w.customer_id = m.customer_id AND w.group_id = m.group_id
                  )
                RETURNING m.id, m.group_id, m.customer_id, m.joined_at, m.left_at
            ), moved AS (
                -- wanted, not current, but scheduled to start later: the earliest such membership starts now
                UPDATE {membership_table} m SET joined_at = %(at)s
                FROM {_WANTED} w
                WHERE m.customer_id = w.customer_id AND m.group_id = w.group_id AND m.joined_at > %(at)s
                  AND NOT EXISTS (
                      SELECT 1 FROM {membership_table} o
                      WHERE o.customer_id = m.customer_id AND o.group_id = m.group_id AND o.id <> m.id
                        AND o.joined_at <= %(at)s AND (o.left_at IS NULL OR o.left_at > %(at)s)
                  )
                  AND NOT EXISTS (
                      SELECT 1 FROM {membership_table} o
                      WHERE o.customer_id = m.customer_id AND o.group_id = m.group_id
                        AND o.joined_at > %(at)s AND o.joined_at < m.joined_at
                  )
                RETURNING m.id, m.group_id, m.customer_id, m.joined_at, m.left_at
            ), started AS (
                -- wanted, with no membership current at %(at)s or later: start one
                INSERT INTO {membership_table} (id, group_id, customer_id, joined_at)
                SELECT gen_random_uuid(), w.group_id, w.customer_id, %(at)s FROM {_WANTED} w
                WHERE NOT EXISTS (
                    SELECT 1 FROM {membership_table} m
                    WHERE m.customer_id = w.customer_id AND m.group_id = w.group_id
                      AND (m.left_at IS NULL OR m.left_at > %(at)s)
                )
                RETURNING id, group_id, customer_id, joined_at, left_at
            ), hist AS (
                INSERT INTO {history_table} (id, group_id, customer_id, joined_at, left_at, {columns})
                SELECT id, group_id, customer_id, joined_at, left_at, {history.format(type="'~'")} FROM ended
                UNION ALL
                SELECT id, group_id, customer_id, joined_at, left_at, {history.format(type="'~'")} FROM moved
                UNION ALL
                SELECT id, group_id, customer_id, joined_at, left_at, {history.format(type="'+'")} FROM started
            )
            SELECT customer_id FROM ended UNION SELECT customer_id FROM moved UNION SELECT customer_id FROM started
            """,
            params,
        )
        changed = {row[0] for row in cursor.fetchall()}
        cursor.execute(f"DROP TABLE {_TARGETS}")
        cursor.execute(f"DROP TABLE {_WANTED}")
    return changed


def load(rows: list[tuple[str, str, str, str]]) -> None:
    """COPY (id, group_id, customer_id, joined_at) text rows into the membership table (`memberships_load`)."""
    # Generated values never contain tabs, backslashes or line breaks, so no escaping is needed.
    text = "".join("\t".join(row) + "\n" for row in rows)
    table = Membership._meta.db_table
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} (id, group_id, customer_id, joined_at) FROM STDIN") as copy,
    ):
        copy.write(text)
