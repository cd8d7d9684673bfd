"""Trigram indexes so the `q` and `name` searches use an index on PostgreSQL (no-op on SQLite).

Django's icontains on PostgreSQL compiles to `UPPER(col::text) LIKE UPPER(%s)`, so the indexes are on
exactly that expression.
"""

from django.db import migrations

COLUMNS = ("name", "external_id", "tax_id", "vat_id")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS customers_{column}_trgm_idx ON customers_customer "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS customers_{column}_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
