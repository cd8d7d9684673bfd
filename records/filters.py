"""Query filters of the data record list."""

from __future__ import annotations

import django_filters

from billingengine.validators import no_control_characters
from records.models import DataRecord


class DataRecordFilterSet(django_filters.FilterSet):
    """Filters of `GET /api/v1/records`."""

    customer = django_filters.UUIDFilter(
        field_name="customer_id", help_text="Customer id (as submitted; also after the customer was deleted)."
    )
    customer_external_id = django_filters.CharFilter(
        field_name="customer_external_id",
        validators=[no_control_characters],
        help_text="The customer's external_id as submitted (also after the customer was deleted).",
    )
    code = django_filters.CharFilter(field_name="code", validators=[no_control_characters], help_text="Exact code.")
    time_from_after = django_filters.IsoDateTimeFilter(
        field_name="time_from", lookup_expr="gte", help_text="time_from at or after this RFC 3339 timestamp."
    )
    time_from_before = django_filters.IsoDateTimeFilter(
        field_name="time_from", lookup_expr="lt", help_text="time_from before this RFC 3339 timestamp."
    )

    class Meta:
        model = DataRecord
        fields = ()
