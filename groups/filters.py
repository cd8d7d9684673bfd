"""Query filters of the group list."""

from __future__ import annotations

import django_filters

from billingengine.validators import no_control_characters
from groups.models import Group


class GroupFilterSet(django_filters.FilterSet):
    """Filters of `GET /api/v1/groups`."""

    q = django_filters.CharFilter(
        method="filter_q",
        validators=[no_control_characters],
        help_text="Case-insensitive search in name and description.",
    )
    name = django_filters.CharFilter(
        lookup_expr="icontains", validators=[no_control_characters], help_text="Name contains (ignoring case)."
    )

    class Meta:
        model = Group
        fields = ()

    def filter_q(self, queryset, name, value):
        return queryset.search(value)
