"""Helpers for tests that need PostgreSQL itself (a second connection, a backend to terminate)."""

from __future__ import annotations

import psycopg
from django.db import connection


def terminate_backend(pid: int) -> None:
    """Terminate the PostgreSQL backend *pid* from another connection (what a server restart does to it)."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
