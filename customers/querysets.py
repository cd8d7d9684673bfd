"""Reusable reads on customers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from django.db import models

if TYPE_CHECKING:
    from groups.models import Group


class CustomerQuerySet(models.QuerySet):
    """Customer reads: search, group membership and the current group ids."""

    def search(self, term: str) -> CustomerQuerySet:
        """Return customers whose name, external_id, tax_id or vat_id contains *term*, ignoring case."""
        term = term.strip()
        if not term:
            return self
        return self.filter(
            models.Q(name__icontains=term)
            | models.Q(external_id__icontains=term)
            | models.Q(tax_id__icontains=term)
            | models.Q(vat_id__icontains=term)
        )

    def in_group(self, group: Group | UUID | str, at: datetime | None = None) -> CustomerQuerySet:
        """Return customers that are members of *group* now, or at the moment *at*."""
        from groups.models import Membership

        memberships = Membership.objects.filter(group=group)
        memberships = memberships.current() if at is None else memberships.active_at(at)
        return self.filter(id__in=memberships.values("customer_id"))

    def with_group_ids(self) -> CustomerQuerySet:
        """Prefetch the current memberships, so `customer.group_ids` costs no query per row."""
        from groups.models import Membership

        return self.prefetch_related(
            models.Prefetch(
                "memberships",
                queryset=Membership.objects.current().only("id", "customer_id", "group_id", "joined_at"),
                to_attr="current_memberships",
            )
        )
