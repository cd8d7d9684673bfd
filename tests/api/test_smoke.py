"""GET /healthz reports what it checks: the database answers a query and every migration is applied."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder


@pytest.mark.django_db
def test_healthz_reports_database_and_migrations_ok_without_credentials(anon):
    response = anon.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "app": "ok", "database": "ok", "migrations": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_naming_the_pending_migration_when_one_is_not_applied(anon):
    """Regression: /healthz said "ok" whatever the migration state (it only ran SELECT 1)."""
    # Every records migration unapplied (Django plans nothing below an applied leaf, so deleting only the first
    # one would hide it once the app has a second migration).
    MigrationRecorder.Migration.objects.filter(app="records").delete()
    response = anon.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "ok"
    assert body["migrations"].startswith("pending: records.0001_initial")


@pytest.mark.django_db
def test_healthz_is_503_naming_the_database_when_it_refuses_queries(anon):
    def unreachable(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(unreachable):
        response = anon.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unhealthy",
        "app": "ok",
        "database": "unavailable: OperationalError",
        "migrations": "not checked",
    }
