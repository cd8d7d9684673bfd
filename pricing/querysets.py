"""Reusable reads on price lists and rates."""

from __future__ import annotations

from datetime import datetime

from django.db import models


class PriceListQuerySet(models.QuerySet):
    """Price list reads: search and scope."""

    def search(self, term: str) -> PriceListQuerySet:
        """Return lists whose name or description contains *term*, ignoring case."""
        term = term.strip()
        if not term:
            return self
        return self.filter(models.Q(name__icontains=term) | models.Q(description__icontains=term))

    def of_scope(self, scope: str) -> PriceListQuerySet:
        """Return the lists of one scope: "default", "group" or "customer"."""
        if scope == "customer":
            return self.filter(customer__isnull=False)
        if scope == "group":
            return self.filter(group__isnull=False)
        if scope == "default":
            return self.filter(customer__isnull=True, group__isnull=True)
        raise ValueError(f"Unknown scope {scope!r}")


class RateQuerySet(models.QuerySet):
    """Rate reads: when each rate ends and which rate is in force at a moment."""

    def with_valid_to(self) -> RateQuerySet:
        """Annotate `valid_to`: the `valid_from` of the next rate of the same code in the same list (None while
        open). A correlated subquery rather than a window, so it stays right whatever else filters the rows."""
        following = (
            self.model._default_manager.filter(
                price_list_id=models.OuterRef("price_list_id"),
                code=models.OuterRef("code"),
                valid_from__gt=models.OuterRef("valid_from"),
            )
            .order_by("valid_from")
            .values("valid_from")[:1]
        )
        return self.annotate(valid_to=models.Subquery(following, output_field=models.DateTimeField()))

    def valid_at(self, at: datetime) -> RateQuerySet:
        """Return the rates in force at *at* (valid_from <= at < valid_to), with `valid_to` annotated."""
        return (
            self.with_valid_to()
            .filter(valid_from__lte=at)
            .filter(models.Q(valid_to__isnull=True) | models.Q(valid_to__gt=at))
        )
