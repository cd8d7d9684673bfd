"""The raw baseline: a bare WSGI application doing the customer API's work with psycopg alone.

No Django, no ORM, no framework: the floor under what any Python server could answer on this
machine. It does the same work as the API, as plainly as it can be written:

* authenticates the same way: the `Authorization: Bearer <prefix>.<secret>` key is looked up by
  prefix (usable keys only: not revoked, not expired, active user; one query joining the user), its
  SHA-256 digest compared in constant time, `last_used_at` written at most once a minute; then the
  user's model permissions (own and through groups, one query, skipped for superusers) must hold
  the endpoint's permission (`customers.view_customer`, `customers.add_customer`), else 401/403;
* `GET /raw/customers/{id}`: reads the customer row and its current group ids (two queries), 404
  when absent, and answers the API's JSON representation (the same twelve fields, timestamps in ISO
  8601 with `Z`, group ids ordered by joining time);
* `GET /raw/customers?page_size=N`: the first N customers by `(created_at, id)` and their current
  group ids (two queries), in `{"next", "previous", "results"}`;
* `POST /raw/customers`: parses the JSON body, checks the name and the group ids, and in one
  transaction checks the groups exist, inserts the customer, its history row, its memberships
  and their history rows; answers 201 `{"id"}` with a `Location`.

Each worker process keeps one connection (autocommit), as Django's persistent connections do.
Served by gunicorn with the API's settings: `gunicorn bench.raw_app:application` (`DATABASE_URL`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

CUSTOMER_COLUMNS = (
    "id, name, external_id, tax_id, vat_id, address_street, address_city, address_zip, address_country, "
    "created_at, updated_at"
)
KEY_SQL = (
    "SELECT k.id, k.hashed_key, k.last_used_at, u.id, u.is_superuser FROM billingengine_apikey k "
    "JOIN auth_user u ON u.id = k.user_id WHERE k.prefix = %s AND NOT k.revoked AND u.is_active "
    "AND (k.expiry_date IS NULL OR k.expiry_date > now())"
)
PERMISSIONS_SQL = (
    "SELECT ct.app_label, p.codename FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id "
    "WHERE p.id IN (SELECT permission_id FROM auth_user_user_permissions WHERE user_id = %s) "
    "OR p.id IN (SELECT gp.permission_id FROM auth_group_permissions gp "
    "JOIN auth_user_groups ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s)"
)
# "Current" as the API reads it (groups.querysets.MembershipQuerySet.active_at): started, and open or ending
# later; a membership scheduled to start later is not current yet, one scheduled to end later still is.
GROUP_IDS_SQL = (
    "SELECT customer_id, group_id FROM groups_membership WHERE customer_id = ANY(%s) AND joined_at <= now() "
    "AND (left_at IS NULL OR left_at > now()) ORDER BY joined_at, group_id"
)
_connection: psycopg.Connection | None = None


def _db() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    return _connection


def _timestamp(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _represent(row, group_ids: list[str]) -> dict:
    return {
        "id": str(row[0]),
        "name": row[1],
        "external_id": row[2],
        "tax_id": row[3],
        "vat_id": row[4],
        "address_street": row[5],
        "address_city": row[6],
        "address_zip": row[7],
        "address_country": row[8] or None,
        "group_ids": group_ids,
        "created_at": _timestamp(row[9]),
        "updated_at": _timestamp(row[10]),
    }


def _group_ids(db, customer_ids: list) -> dict:
    by_customer: dict = {customer_id: [] for customer_id in customer_ids}
    for customer_id, group_id in db.execute(GROUP_IDS_SQL, [customer_ids]):
        by_customer[customer_id].append(str(group_id))
    return by_customer


def _authorize(db, environ, permission: str) -> tuple[int, int | None]:
    """Return (status, user id): 200 when the request's key may use *permission*, else 401 or 403."""
    header = environ.get("HTTP_AUTHORIZATION", "").split()
    if len(header) != 2 or header[0].lower() != "bearer":
        return 401, None
    key = header[1]
    row = db.execute(KEY_SQL, [key.partition(".")[0]]).fetchone()
    if row is None:
        return 401, None
    key_id, hashed, last_used_at, user_id, is_superuser = row
    if not secrets.compare_digest(f"sha256$${hashlib.sha256(key.encode()).hexdigest()}", hashed):
        return 401, None
    now = datetime.now(UTC)
    if last_used_at is None or now - last_used_at >= timedelta(seconds=60):
        db.execute("UPDATE billingengine_apikey SET last_used_at = %s WHERE id = %s", [now, key_id])
    if not is_superuser:
        held = {f"{app_label}.{codename}" for app_label, codename in db.execute(PERMISSIONS_SQL, [user_id, user_id])}
        if permission not in held:
            return 403, user_id
    return 200, user_id


def _json(start_response, status: str, body, headers=()) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers])
    return [data]


def _retrieve(db, environ, start_response, pk: str):
    try:
        customer_id = uuid.UUID(pk)
    except ValueError:
        return _json(start_response, "404 Not Found", {"detail": "not found"})
    row = db.execute(f"SELECT {CUSTOMER_COLUMNS} FROM customers_customer WHERE id = %s", [customer_id]).fetchone()
    if row is None:
        return _json(start_response, "404 Not Found", {"detail": "not found"})
    return _json(start_response, "200 OK", _represent(row, _group_ids(db, [customer_id])[customer_id]))


def _list(db, environ, start_response):
    size = 50
    for part in environ.get("QUERY_STRING", "").split("&"):
        name, _, value = part.partition("=")
        if name == "page_size" and value.isdigit():
            size = min(int(value), 1000)
    rows = db.execute(
        f"SELECT {CUSTOMER_COLUMNS} FROM customers_customer ORDER BY created_at, id LIMIT %s", [size + 1]
    ).fetchall()
    page = rows[:size]
    groups = _group_ids(db, [row[0] for row in page])
    results = [_represent(row, groups[row[0]]) for row in page]
    return _json(start_response, "200 OK", {"next": None, "previous": None, "results": results})


FIELDS = ("name", "external_id", "tax_id", "vat_id", "address_street", "address_city", "address_zip", "address_country")


def _create(db, environ, start_response, user_id):
    try:
        data = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        group_ids = sorted({uuid.UUID(g) for g in data.get("group_ids") or []}, key=str)
        values = {f: (data.get(f) or None) for f in FIELDS}
        assert isinstance(values["name"], str) and 0 < len(values["name"]) <= 255
    except (ValueError, TypeError, AssertionError, AttributeError):
        return _json(start_response, "400 Bad Request", {"detail": "invalid body"})
    if values["address_country"]:
        values["address_country"] = values["address_country"].upper()
    customer_id, now = uuid.uuid4(), datetime.now(UTC)
    with db.transaction():
        found = db.execute("SELECT id FROM groups_group WHERE id = ANY(%s)", [group_ids]).fetchall()
        if len(found) != len(group_ids):
            return _json(start_response, "400 Bad Request", {"detail": "unknown group"})
        row = [customer_id, *values.values(), now]
        db.execute(
            f"INSERT INTO customers_customer ({CUSTOMER_COLUMNS}) VALUES ({', '.join(['%s'] * 11)})", [*row, now]
        )
        db.execute(
            f"INSERT INTO customers_historicalcustomer ({CUSTOMER_COLUMNS.removesuffix(', updated_at')}, history_date, "
            "history_change_reason, history_type, history_user_id) "
            f"VALUES ({', '.join(['%s'] * 10)}, %s, NULL, '+', %s)",
            [*row, now, user_id],
        )
        if group_ids:
            memberships = [(uuid.uuid4(), group_id) for group_id in group_ids]
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO groups_membership (id, group_id, customer_id, joined_at, left_at) "
                    "VALUES (%s, %s, %s, %s, NULL)",
                    [(m, g, customer_id, now) for m, g in memberships],
                )
                cursor.executemany(
                    "INSERT INTO groups_historicalmembership (id, joined_at, left_at, group_id, customer_id, "
                    "history_date, history_change_reason, history_type, history_user_id) "
                    "VALUES (%s, %s, NULL, %s, %s, %s, NULL, '+', %s)",
                    [(m, now, g, customer_id, now, user_id) for m, g in memberships],
                )
    location = f"http://{environ.get('HTTP_HOST', 'localhost')}/raw/customers/{customer_id}"
    return _json(start_response, "201 Created", {"id": str(customer_id)}, [("Location", location)])


def application(environ, start_response):
    """Serve /raw/customers (GET list, POST create) and /raw/customers/{id} (GET)."""
    path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
    if path == "/healthz":
        return _json(start_response, "200 OK", {"status": "ok"})
    if not path.startswith("/raw/customers"):
        return _json(start_response, "404 Not Found", {"detail": "not found"})
    db = _db()
    permission = "customers.add_customer" if method == "POST" else "customers.view_customer"
    status, user_id = _authorize(db, environ, permission)
    if status != 200:
        return _json(start_response, f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", {"detail": status})
    if path == "/raw/customers" and method == "POST":
        return _create(db, environ, start_response, user_id)
    if path == "/raw/customers" and method == "GET":
        return _list(db, environ, start_response)
    if path.startswith("/raw/customers/") and method == "GET":
        return _retrieve(db, environ, start_response, path.removeprefix("/raw/customers/"))
    return _json(start_response, "405 Method Not Allowed", {"detail": "method not allowed"})
