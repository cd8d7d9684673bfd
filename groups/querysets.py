"""Reusable reads on customer groups and memberships."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models.functions import Coalesce, Now


class DatabaseNow(Now):
    """The database's current time, read when the query runs (so a queryset built once, e.g. a view's
    class attribute, never freezes "now"). SQLite's clock gives milliseconds while stored times have
    microseconds: the end of the millisecond is used, so a membership started earlier in it is current."""

    def as_sqlite(self, compiler, connection, **extra_context):
        return "(STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW') || '999')", []


class MembershipQuerySet(models.QuerySet):
    """Membership reads: current ones and the ones active at a moment."""

    def current(self) -> MembershipQuerySet:
        """Return memberships current now (see `active_at`)."""
        return self.active_at(DatabaseNow())

    def active_at(self, at: datetime | models.Expression) -> MembershipQuerySet:
        """Return memberships current at the moment *at*: `joined_at <= at < left_at` (no `left_at`: open).

        The one definition of "current": a membership scheduled to start later is not current yet, and
        one scheduled to end later still is.
        """
        started_open, ending_later = self.active_parts(at)
        return started_open | ending_later

    def active_parts(self, at: datetime | models.Expression) -> tuple[MembershipQuerySet, MembershipQuerySet]:
        """Return the two disjoint parts of `active_at(at)`: open memberships that have started, and started
        ones that end after *at*.

        Each part is served by an index of its own (open ones, ended ones), so a count per part stays an
        index-only scan, which a count over their union (an OR) is not.
        """
        started = self.filter(joined_at__lte=at)
        return started.filter(left_at__isnull=True), started.filter(left_at__gt=at)

    def open_ended(self) -> MembershipQuerySet:
        """Return memberships without an end (`left_at` unset): at most one per customer and group.

        The write path's view (the partial unique index's condition), not "current": an open membership
        may start in the future.
        """
        return self.filter(left_at__isnull=True)

    def scheduled(self) -> MembershipQuerySet:
        """Return memberships that start later than now: planned, not current yet."""
        return self.filter(joined_at__gt=DatabaseNow())

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
        """Annotate `customer_count`, the number of current members, in the same query.

        Read from the maintained count (database triggers keep it on every membership write; see
        `groups.models.GroupMemberCount`): the count as of the group's last write plus the scheduled changes
        due by the database's now. Two index lookups per group, whatever the number of memberships.
        """
        from groups.models import GroupMemberCount, PendingMemberChange

        stored = GroupMemberCount.objects.filter(group_id=models.OuterRef("pk")).values("members")
        due = (
            PendingMemberChange.objects.filter(group_id=models.OuterRef("pk"), at__lte=DatabaseNow())
            .order_by()
            .values("group_id")
            .annotate(n=models.Sum("delta"))
            .values("n")
        )
        return self.annotate(customer_count=Coalesce(models.Subquery(stored), 0) + Coalesce(models.Subquery(due), 0))

    def with_customer_recount(self) -> GroupQuerySet:
        """Annotate `customer_count` by counting the current memberships (the definition the maintained count
        must equal; slow on big groups: for checks and tests, not for pages)."""
        from groups.models import Membership

        def count(memberships: MembershipQuerySet) -> Coalesce:
            counts = (
                memberships.filter(group_id=models.OuterRef("pk"))
                .order_by()
                .values("group_id")
                .annotate(n=models.Count("*"))
                .values("n")
            )
            return Coalesce(models.Subquery(counts), 0)

        started_open, ending_later = Membership.objects.active_parts(DatabaseNow())
        return self.annotate(customer_count=count(started_open) + count(ending_later))


class GroupManager(models.Manager.from_queryset(GroupQuerySet)):
    """`Group.objects`: the groups that exist. A deleted group is kept (its memberships are history) but hidden
    from everything that lists, filters or looks up groups; `Group.all_objects` still sees it."""

    def get_queryset(self) -> GroupQuerySet:
        return super().get_queryset().alive()
