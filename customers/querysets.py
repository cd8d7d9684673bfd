"""Reusable reads on customers."""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from django.db import models
from django.db.models.query import ModelIterable

if TYPE_CHECKING:
    from groups.models import Group


class CurrentMembership(NamedTuple):
    """The two fields of a current membership that `Customer.group_ids` needs."""

    group_id: UUID
    joined_at: datetime


class CustomerQuerySet(models.QuerySet):
    """Customer reads: search, group membership and the current group ids."""

    _with_group_ids = False

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
        """Load the current memberships of all fetched customers in one query, so `customer.group_ids`
        costs no query per row.

        Like a prefetch into `current_memberships`, but reading (group_id, joined_at) rows instead of
        building a Membership instance per row, which cost more than the rest of a 100-row page.
        """
        clone = self._chain()
        clone._with_group_ids = True
        return clone

    def _clone(self) -> CustomerQuerySet:
        clone = super()._clone()
        clone._with_group_ids = self._with_group_ids
        return clone

    def _fetch_all(self) -> None:
        fetching = self._result_cache is None
        super()._fetch_all()
        if fetching and self._with_group_ids and self._iterable_class is ModelIterable and self._result_cache:
            _attach_current_memberships(self._result_cache, self.db)

    def _iterator(self, use_chunked_fetch, chunk_size):
        rows = super()._iterator(use_chunked_fetch, chunk_size)
        if not self._with_group_ids or self._iterable_class is not ModelIterable:
            yield from rows
            return
        while batch := list(islice(rows, chunk_size or 2000)):
            _attach_current_memberships(batch, self.db)
            yield from batch


def _attach_current_memberships(customers: list, using: str) -> None:
    from groups.models import Membership

    by_customer: dict = {customer.pk: [] for customer in customers}
    rows = (
        Membership.objects.using(using)
        .current()
        .filter(customer_id__in=by_customer)
        .order_by()
        .values_list("customer_id", "group_id", "joined_at")
    )
    for customer_id, group_id, joined_at in rows:
        by_customer[customer_id].append(CurrentMembership(group_id, joined_at))
    for customer in customers:
        customer.current_memberships = by_customer[customer.pk]
