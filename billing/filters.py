"""Query filters of the bill list."""

from __future__ import annotations

import django_filters

from billing.models import Bill
from billingengine.api.filters import TimestampFilter
from billingengine.validators import no_control_characters


class BillFilterSet(django_filters.FilterSet):
    """Filters of `GET /api/v1/bills`."""

    customer = django_filters.UUIDFilter(field_name="customer_id", help_text="Customer id.")
    customer_external_id = django_filters.CharFilter(
        field_name="customer_external_id",
        validators=[no_control_characters],
        help_text="The customer's external_id as on the bill.",
    )
    issued_after = TimestampFilter(field_name="issued_at", lookup_expr="gte", help_text="Issued at or after this.")
    issued_before = TimestampFilter(field_name="issued_at", lookup_expr="lt", help_text="Issued before this.")
    number = django_filters.CharFilter(
        field_name="number", validators=[no_control_characters], help_text='Exact number, e.g. "2026-000042".'
    )

    class Meta:
        model = Bill
        fields = ()
