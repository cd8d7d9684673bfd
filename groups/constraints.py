"""A database constraint that exists on PostgreSQL only: no two memberships of a customer in a group overlap."""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, models


class TsTzRange(models.Func):
    """`tstzrange(start, end, '[)')`: a missing end is an unbounded range, as an open membership is."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class PostgresOnlyExclusionConstraint(ExclusionConstraint):
    """An exclusion constraint that is created on PostgreSQL and skipped elsewhere.

    SQLite has no exclusion constraints; there the writes serialise (SQLite has one writer at a time) and the
    service's check before the insert holds the rule. Keeping the constraint on the model on every database
    keeps the migration state the same everywhere (`makemigrations --check` is clean on both).
    """

    def constraint_sql(self, model, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().constraint_sql(model, schema_editor)

    def create_sql(self, model, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().create_sql(model, schema_editor)

    def remove_sql(self, model, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return None
        return super().remove_sql(model, schema_editor)

    def validate(self, model, instance, exclude=None, using=DEFAULT_DB_ALIAS):
        """Refuse *instance* when it overlaps another membership of the same customer and group.

        Written with plain lookups rather than PostgreSQL's range operators, so model validation (the admin's
        forms) behaves the same on every database.
        """
        if exclude and {"customer", "group", "joined_at", "left_at"} & set(exclude):
            return
        if instance.joined_at is None or instance.customer_id is None or instance.group_id is None:
            return
        others = model._default_manager.using(using).filter(
            customer_id=instance.customer_id, group_id=instance.group_id
        )
        others = others.overlapping(instance.joined_at, instance.left_at)
        if not instance._state.adding and instance.pk is not None:
            others = others.exclude(pk=instance.pk)
        if others.exists():
            raise ValidationError(self.get_violation_error_message(), code=self.violation_error_code)


def membership_period() -> TsTzRange:
    """Return the expression of a membership's period, `[joined_at, left_at)`."""
    return TsTzRange("joined_at", "left_at", RangeBoundary())


__all__ = ["PostgresOnlyExclusionConstraint", "RangeOperators", "TsTzRange", "membership_period"]
