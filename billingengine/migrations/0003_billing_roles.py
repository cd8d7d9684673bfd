"""Create the staff roles "Billing viewer" and "Billing operator" (billingengine/roles.py says what each may do).

On a new database the permissions do not exist yet while migrations run; the post_migrate handler fills the
roles right after. On an existing database this migration gives them the permissions already there.
"""

from django.db import migrations

from billingengine.roles import OPERATOR, VIEWER, roles_sync


def create_roles(apps, schema_editor):
    roles_sync(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
        using=schema_editor.connection.alias,
    )


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=[VIEWER, OPERATOR]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billingengine", "0002_idempotencyrecord"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
