"""Data records in the admin: read-only audit data, and this month's usage on the customer's page.

The usage section is added here, by extending the customer admin, so that customers need not know records
(records depend on customers, never the other way round).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from billingengine.admin import LargeTablePaginator
from customers.admin import CustomerAdmin
from customers.models import Customer
from records.models import RECORD_COLUMNS, DataRecord, UsageRollup
from records.usage import usage_summary


class CodeListFilter(admin.SimpleListFilter):
    """Filter by code; the choices come from the hourly rollup, not a DISTINCT over every record."""

    title = "code"
    parameter_name = "code"

    def lookups(self, request, model_admin):
        codes = UsageRollup.objects.order_by("code").values_list("code", flat=True).distinct()[:200]
        return [(code, code) for code in codes]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(code=value) if value else queryset


@admin.register(DataRecord)
class DataRecordAdmin(admin.ModelAdmin):
    """Records are immutable audit data: staff can look, search and filter, never add, change or delete."""

    list_display = ("time_from", "code", "quantity", "customer_external_id", "customer_name", "transaction_id")
    list_filter = (CodeListFilter, ("time_from", admin.DateFieldListFilter))
    # "=" is an exact match, served by the (customer_external_id, time_from) and (code, time_from) indexes.
    search_fields = ("=customer_external_id", "=code", "=transaction_id")
    search_help_text = "Exact customer external_id, code or transaction_id."
    ordering = ("-time_from", "-id")
    show_full_result_count = False  # no COUNT(*) over every record on each page
    paginator = LargeTablePaginator  # and no full count for the pages either
    list_per_page = 100
    readonly_fields = ("id", "customer_link", *RECORD_COLUMNS[1:])
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="customer")
    def customer_link(self, record: DataRecord) -> str:
        customer = Customer.objects.filter(pk=record.customer_id).first()
        if customer is None:
            return "deleted (the record keeps its id, external ID and name as submitted)"
        try:
            url = reverse("admin:customers_customer_change", args=[customer.pk])
        except NoReverseMatch:  # the customer admin is not registered
            return str(customer)
        return format_html('<a href="{}">{}</a>', url, customer)


def customer_records_url(customer) -> str:
    """Return the admin URL of the customer's data records."""
    return reverse("admin:records_datarecord_changelist") + "?" + urlencode({"customer_id": str(customer.pk)})


def current_month(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Return [start, end) of the current UTC month."""
    now = (now or timezone.now()).astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def customer_usage_summary_html(customer, now: datetime | None = None) -> SafeString:
    """Return HTML for the customer's admin page: usage per code this month and a link to its records."""
    start, end = current_month(now)
    items = usage_summary(customer.pk, start, end)
    link = format_html('<a href="{}">All data records of this customer</a>', customer_records_url(customer))
    period = f"{start:%Y-%m-%d} to {end:%Y-%m-%d} (UTC, end exclusive)"
    if not items:
        return format_html("<p>No usage from {}.</p><p>{}</p>", period, link)
    rows = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", ((i.code, i.quantity, i.records) for i in items)
    )
    return format_html(
        "<p>Usage from {}:</p><table><thead><tr><th>code</th><th>quantity</th><th>records</th></tr></thead>"
        "<tbody>{}</tbody></table><p>{}</p>",
        period,
        rows,
        link,
    )


class CustomerWithUsageAdmin(CustomerAdmin):
    """The customer admin with a "Usage" section: this month's usage per code and a link to the records."""

    readonly_fields = (*CustomerAdmin.readonly_fields, "usage_this_month")

    def get_fieldsets(self, request: HttpRequest, obj: Customer | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            # Before the collapsed "Record" section (ids and timestamps), which stays last.
            at = next((i for i, (title, _) in enumerate(fieldsets) if title == "Record"), len(fieldsets))
            fieldsets.insert(at, ("Usage", {"fields": ("usage_this_month",)}))
        return fieldsets

    @admin.display(description="usage this month")
    def usage_this_month(self, obj: Customer) -> str:
        """The customer's usage per code this calendar month (UTC), with a link to its data records."""
        return customer_usage_summary_html(obj) if obj.pk else "-"


admin.site.unregister(Customer)
admin.site.register(Customer, CustomerWithUsageAdmin)
