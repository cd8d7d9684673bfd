"""Scratch databases for the benchmarks."""

from __future__ import annotations

from urllib.parse import urlparse


def recreate_database(url: str) -> None:
    """Drop and create the database of *url* (its server reached through the `postgres` database)."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
