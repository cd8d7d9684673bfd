# Memberships at a chosen time: no two memberships of a customer in a group overlap (an exclusion constraint over
# their periods, PostgreSQL only: SQLite has none and serialises its writers), a membership ends strictly after it
# starts, and a deleted group is kept (hidden) with its name freed.

import django.contrib.postgres.fields.ranges
import django.db.models.functions.text
from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations, models

import groups.constraints


def drop_empty_memberships(apps, schema_editor):
    """Delete memberships that ended the instant they started: they covered no time, and `left_at > joined_at`
    now holds for every row (their change-history rows stay)."""
    Membership = apps.get_model("groups", "Membership")
    Membership.objects.filter(left_at=models.F("joined_at")).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('groups', '0002_membership_current_indexes'),
    ]

    operations = [
        BtreeGistExtension(),  # a no-op on databases other than PostgreSQL
        migrations.RemoveConstraint(
            model_name='group',
            name='groups_group_name_ci_unique',
        ),
        migrations.RemoveConstraint(
            model_name='membership',
            name='groups_membership_left_after_joined',
        ),
        migrations.AddField(
            model_name='group',
            name='deleted_at',
            field=models.DateTimeField(blank=True, editable=False, help_text='When the group was deleted: it is hidden, its name is free, its memberships stay for the history.', null=True),
        ),
        migrations.AddField(
            model_name='historicalgroup',
            name='deleted_at',
            field=models.DateTimeField(blank=True, editable=False, help_text='When the group was deleted: it is hidden, its name is free, its memberships stay for the history.', null=True),
        ),
        migrations.AddConstraint(
            model_name='group',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('name'), condition=models.Q(('deleted_at__isnull', True)), name='groups_group_name_ci_unique'),
        ),
        migrations.RunPython(drop_empty_memberships, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='membership',
            constraint=groups.constraints.PostgresOnlyExclusionConstraint(expressions=[('customer', '='), ('group', '='), (groups.constraints.TsTzRange('joined_at', 'left_at', django.contrib.postgres.fields.ranges.RangeBoundary()), '&&')], name='groups_membership_no_overlap', violation_error_code='membership_overlap', violation_error_message='The customer already has a membership of this group in that period.'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.CheckConstraint(condition=models.Q(('left_at__isnull', True), ('left_at__gt', models.F('joined_at')), _connector='OR'), name='groups_membership_left_after_joined'),
        ),
        migrations.AlterField(
            model_name='historicalmembership',
            name='joined_at',
            field=models.DateTimeField(help_text='When the membership starts; later than now: scheduled, not current yet.'),
        ),
        migrations.AlterField(
            model_name='historicalmembership',
            name='left_at',
            field=models.DateTimeField(blank=True, help_text='When it ends (past: ended, future: planned); empty: no end planned.', null=True),
        ),
        migrations.AlterField(
            model_name='membership',
            name='joined_at',
            field=models.DateTimeField(help_text='When the membership starts; later than now: scheduled, not current yet.'),
        ),
        migrations.AlterField(
            model_name='membership',
            name='left_at',
            field=models.DateTimeField(blank=True, help_text='When it ends (past: ended, future: planned); empty: no end planned.', null=True),
        ),
    ]
