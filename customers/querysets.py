"""Reusable reads on customers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from django.contrib.postgres.expressions import ArraySubquery
from django.db import models

if TYPE_CHECKING:
    from customers.models import Customer


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

    def in_group(self, group: models.Model | UUID | str, at: datetime | None = None) -> CustomerQuerySet:
        """Return customers that are members of *group* (a group or its id) now, or at the moment *at*."""
        memberships = _memberships(self.model).filter(group=group)
        memberships = memberships.current() if at is None else memberships.active_at(at)
        return self.filter(id__in=memberships.values("customer_id"))

    def with_group_ids(self) -> CustomerQuerySet:
        """Prefetch the current memberships of the fetched customers into `current_memberships`, so
        `customer.group_ids` costs no query per row: one query for all of them (one per chunk with `iterator()`).

        For any use of the queryset. A page of the API, already fetched, takes the faster `attach_group_ids`.
        """
        current = _current_memberships(self.model).only("customer_id", "group_id", "joined_at")
        return self.prefetch_related(models.Prefetch("memberships", queryset=current, to_attr="current_memberships"))

    def with_group_id_array(self) -> CustomerQuerySet:
        """PostgreSQL: annotate each customer with `group_id_array`, the ids of its current groups in
        `Customer.group_ids` order, read in the customer's own query (an array subquery); pass the fetched
        customers to `attach_group_id_array` before reading `group_ids`.

        The API's retrieve and list: one query instead of two (the customers, then `attach_group_ids`).
        """
        ids = (
            _current_memberships(self.model)
            .filter(customer_id=models.OuterRef("pk"))
            .order_by("joined_at", "group_id")
            .values("group_id")
        )
        return self.annotate(group_id_array=ArraySubquery(ids))


class CurrentMembership(NamedTuple):
    """The two fields of a current membership that `Customer.group_ids` reads (it sorts by them)."""

    group_id: UUID
    joined_at: datetime | int  # an int: the position in an array already in `group_ids` order


def attach_group_id_array(customer: Customer) -> Customer:
    """Turn the `group_id_array` read by `with_group_id_array()` into the customer's `current_memberships`,
    so `customer.group_ids` costs no query and lists the same ids in the same order; return *customer*.
    """
    customer.current_memberships = [
        CurrentMembership(group_id, position) for position, group_id in enumerate(customer.group_id_array)
    ]
    return customer


def attach_group_ids(customers: Sequence[Customer]) -> Sequence[Customer]:
    """Load the current memberships of *customers* (fetched already, e.g. a page) with ONE query into their
    `current_memberships`, so `customer.group_ids` costs no query; return *customers*.

    What `with_group_ids()` does, reading (group_id, joined_at) rows instead of building a membership instance
    per row and going through the prefetch machinery, which doubled the cost of fetching a 100-row page
    (bench/list_throughput.py).
    """
    if not customers:
        return customers
    by_customer: dict[UUID, list[CurrentMembership]] = {customer.pk: [] for customer in customers}
    rows = (
        _current_memberships(type(customers[0]))
        .filter(customer_id__in=by_customer)
        .values_list("customer_id", "group_id", "joined_at")
    )
    for customer_id, group_id, joined_at in rows:
        by_customer[customer_id].append(CurrentMembership(group_id, joined_at))
    for customer in customers:
        customer.current_memberships = by_customer[customer.pk]
    return customers


def _memberships(customer_model: type[Customer]) -> models.QuerySet:
    """Return all memberships, reached through the customer's reverse relation `memberships`.

    Through the relation, so customers need no import of groups (groups sit above customers: README, "Layout").
    """
    return customer_model._meta.get_field("memberships").related_model.objects.all()


def _current_memberships(customer_model: type[Customer]) -> models.QuerySet:
    """Return the current memberships of all customers, unordered."""
    return _memberships(customer_model).current().order_by()
