"""Query filters of the group list."""

from __future__ import annotations

import django_filters

from billingengine.api.filters import NameContainsFilter, SearchFilter
from groups.models import Group


class GroupFilterSet(django_filters.FilterSet):
    """Filters of `GET /api/v1/groups`."""

    q = SearchFilter(help_text="Case-insensitive search in name and description.")
    name = NameContainsFilter()

    class Meta:
        model = Group
        fields = ()
