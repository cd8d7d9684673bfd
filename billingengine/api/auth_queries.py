"""The API key, its user and the user's permissions read in ONE hand-written query (PostgreSQL).

Why SQL here: `bench/api_vs_baseline.py` and `bench/profile_request.py` show each ORM query costing about
0.7-1 ms of Python on the request path (building, compiling, instances) against ~0.15 ms through the
cursor; authentication ran two of them on every request. This module is the only hand-written SQL of the
request path: one parameterised statement, built once per process from the models' own table and column
names, with the same conditions as `ApiKey.objects.get_usable_keys()` and the same permission set as
Django's `ModelBackend`. Nothing is cached between requests: the key, the user and the permissions are
read fresh every time, so a revoked key, an expired key, a deactivated user or a removed permission
(own or via a group) takes effect on the very next request.

Other databases (SQLite in development and tests) use the ORM path in `authentication.py`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections

from billingengine.models import ApiKey


@cache
def supported() -> bool:
    """Return whether the one-query path applies to the default database (fixed for the process)."""
    return connection.vendor == "postgresql"


def usable_key_with_user(prefix: str, now: datetime) -> tuple[ApiKey, set[str] | None] | None:
    """Return the usable key with this *prefix* (its `user` set) and the user's permissions, or None.

    Usable: not revoked, not expired at *now*, its user active. The permissions are
    `"app_label.codename"` strings, the user's own and its groups' (ModelBackend's set); None for a
    superuser, who holds every permission without a lookup. The caller still verifies the secret.
    """
    sql, key_fields, user_fields = _statement()
    db = connections[DEFAULT_DB_ALIAS]  # looked up once: each `connection.x` is a thread-local look-up
    row = _fetch_checking_the_connection(db, sql, [prefix, now])
    if row is None:
        return None
    key_count = len(key_fields)
    user_count = len(user_fields)
    api_key = ApiKey.from_db(db.alias, key_fields, row[:key_count])
    user = get_user_model().from_db(db.alias, user_fields, row[key_count : key_count + user_count])
    api_key.user = user
    permissions = row[key_count + user_count]
    return api_key, (None if permissions is None else set(permissions))


def _fetch_checking_the_connection(db, sql: str, params: list) -> tuple | None:
    """Run the statement as the request's connection health check: reconnect once if the connection broke.

    With `CONN_HEALTH_CHECKS`, Django spends a round trip (`SELECT 1`) before the first query of each
    request on a reused connection, so that a connection broken since the last request (a restarted
    database) costs no failed request. This statement is an API request's first; outside a transaction
    it does that check itself: it marks the request's health check as done, and if the connection turns
    out to be broken, closes it and runs the statement once more on a new one (a read: safe to repeat).
    Inside a transaction (tests, a view made atomic) Django's own check and error handling apply unchanged.
    """
    retry = not db.in_atomic_block
    if retry:
        db.health_check_done = True  # this statement is the check
    try:
        return _fetch(db, sql, params)
    except (OperationalError, InterfaceError):
        if not retry:
            raise
        db.close()
        return _fetch(db, sql, params)


def _fetch(db, sql: str, params: list) -> tuple | None:
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@cache
def _statement() -> tuple[str, list[str], list[str]]:
    """Build the statement once per process: (sql, ApiKey attnames, User attnames) in column order."""
    qn = connection.ops.quote_name
    user_model = get_user_model()
    key_fields = [field.attname for field in ApiKey._meta.concrete_fields]
    user_fields = [field.attname for field in user_model._meta.concrete_fields]
    key_columns = [f"k.{qn(field.column)}" for field in ApiKey._meta.concrete_fields]
    user_columns = [f"u.{qn(field.column)}" for field in user_model._meta.concrete_fields]

    user_perms = user_model._meta.get_field("user_permissions").remote_field.through._meta
    user_groups = user_model._meta.get_field("groups").remote_field.through._meta
    group_perms = Group._meta.get_field("permissions").remote_field.through._meta

    def col(meta, name: str) -> str:
        return qn(meta.get_field(name).column)

    user_pk = qn(user_model._meta.pk.column)
    permissions = (
        f"CASE WHEN u.{qn(user_model._meta.get_field('is_superuser').column)} THEN NULL ELSE ARRAY("
        f"SELECT ct.{qn('app_label')} || '.' || p.{qn('codename')} "
        f"FROM {qn(Permission._meta.db_table)} p "
        f"JOIN {qn(ContentType._meta.db_table)} ct ON ct.{qn('id')} = p.{qn('content_type_id')} "
        f"WHERE p.{qn('id')} IN ("
        f"SELECT up.{col(user_perms, 'permission')} FROM {qn(user_perms.db_table)} up "
        f"WHERE up.{col(user_perms, 'user')} = u.{user_pk} "
        f"UNION ALL "
        f"SELECT gp.{col(group_perms, 'permission')} FROM {qn(group_perms.db_table)} gp "
        f"JOIN {qn(user_groups.db_table)} ug ON ug.{col(user_groups, 'group')} = gp.{col(group_perms, 'group')} "
        f"WHERE ug.{col(user_groups, 'user')} = u.{user_pk})) END"
    )
    key = ApiKey._meta
    sql = (
        f"SELECT {', '.join(key_columns)}, {', '.join(user_columns)}, {permissions} "
        f"FROM {qn(key.db_table)} k JOIN {qn(user_model._meta.db_table)} u ON u.{user_pk} = k.{col(key, 'user')} "
        f"WHERE k.{col(key, 'prefix')} = %s AND NOT k.{col(key, 'revoked')} "
        f"AND u.{qn(user_model._meta.get_field('is_active').column)} "
        f"AND (k.{col(key, 'expiry_date')} IS NULL OR k.{col(key, 'expiry_date')} > %s)"
    )
    return sql, key_fields, user_fields
