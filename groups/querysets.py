"""Reusable reads on customer groups and memberships."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models.functions import Coalesce


class MembershipQuerySet(models.QuerySet):
    """Membership reads: current ones and the ones active at a moment."""

    def current(self) -> MembershipQuerySet:
        """Return memberships that have not ended."""
        return self.filter(left_at__isnull=True)

    def active_at(self, at: datetime) -> MembershipQuerySet:
        """Return memberships that had started and not yet ended at the moment *at*."""
        return self.filter(joined_at__lte=at).filter(models.Q(left_at__isnull=True) | models.Q(left_at__gt=at))


class GroupQuerySet(models.QuerySet):
    """Group reads: search and member counts."""

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
