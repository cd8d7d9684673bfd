"""Reusable reads on customer groups and memberships."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone


class CurrentTime(models.Expression):
    """The application's current time, read when the query runs rather than when it is built.

    `Group.objects.with_customer_count()` is built once, as a viewset's class attribute, and run on every
    request: a `timezone.now()` taken while building it would freeze "current" at start-up. The value is the
    application's clock (as the services' `joined_at`/`left_at` are), so a membership started now is current in
    the next query; the database's `NOW()` has only millisecond precision on SQLite.
    """

    output_field = models.DateTimeField()

    def as_sql(self, compiler, connection):
        return "%s", [self.output_field.get_db_prep_value(timezone.now(), connection)]


class MembershipQuerySet(models.QuerySet):
    """Membership reads: current ones and the ones active at a moment."""

    def current(self) -> MembershipQuerySet:
        """Return memberships current now (see `active_at`)."""
        return self.active_at(CurrentTime())

    def active_at(self, at: datetime | models.Expression) -> MembershipQuerySet:
        """Return memberships current at the moment *at*: `joined_at <= at < left_at` (no `left_at`: open).

        The one definition of "current": a membership scheduled to start later is not current yet, and
        one scheduled to end later still is.
        """
        # Two branches rather than `joined_at <= at AND (left_at IS NULL OR left_at > at)`: each is served by
        # an index of its own (the open memberships' partial index, the ended ones' (group, left_at)).
        return self.filter(
            models.Q(left_at__isnull=True, joined_at__lte=at) | models.Q(left_at__gt=at, joined_at__lte=at)
        )

    def open_ended(self) -> MembershipQuerySet:
        """Return memberships without an end (`left_at` unset): at most one per customer and group.

        The write path's view (the partial unique index's condition), not "current": an open membership
        may start in the future.
        """
        return self.filter(left_at__isnull=True)

    def scheduled(self, now: datetime | None = None) -> MembershipQuerySet:
        """Return memberships that start after *now* (default the current time): planned, not current yet."""
        return self.filter(joined_at__gt=now or CurrentTime())

    def overlapping(self, start: datetime, end: datetime | None) -> MembershipQuerySet:
        """Return memberships sharing an instant with the period `[start, end)` (no *end*: open)."""
        queryset = self.filter(models.Q(left_at__isnull=True) | models.Q(left_at__gt=start))
        return queryset if end is None else queryset.filter(joined_at__lt=end)


class GroupQuerySet(models.QuerySet):
    """Group reads: search and member counts."""

    def alive(self) -> GroupQuerySet:
        """Return the groups that were not deleted."""
        return self.filter(deleted_at__isnull=True)

    def search(self, term: str) -> GroupQuerySet:
        """Return groups whose name or description contains *term*, ignoring case."""
        term = term.strip()
        if not term:
            return self
        return self.filter(models.Q(name__icontains=term) | models.Q(description__icontains=term))

    def with_customer_count(self) -> GroupQuerySet:
        """Annotate `customer_count`, the number of current members, in the same query."""
        from groups.models import Membership

        counts = (
            Membership.objects.current()
            .filter(group_id=models.OuterRef("pk"))
            .order_by()
            .values("group_id")
            .annotate(n=models.Count("*"))
            .values("n")
        )
        return self.annotate(customer_count=Coalesce(models.Subquery(counts), 0))


class GroupManager(models.Manager.from_queryset(GroupQuerySet)):
    """`Group.objects`: the groups that exist. A deleted group is kept (its memberships are history) but hidden
    from everything that lists, filters or looks up groups; `Group.all_objects` still sees it."""

    def get_queryset(self) -> GroupQuerySet:
        return super().get_queryset().alive()
