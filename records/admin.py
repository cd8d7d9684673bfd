"""Data records in the admin: read-only audit data, and this month's usage on the customer's page.

The usage section is added here, by extending the customer admin, so that customers need not know records
(records depend on customers, never the other way round).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from billingengine.admin import LargeTablePaginator
from billingengine.display import format_quantity
from customers.admin import CustomerPanel, register_customer_panel
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


class CustomerFilter(admin.SimpleListFilter):
    """The records of one customer (reached from the customer's page); shows whose records these are."""

    title = "customer"
    parameter_name = "customer_id"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value:
            return [("", "Open a customer's page and follow “All data records of this customer”")]
        try:
            customer = Customer.objects.filter(pk=value).first()
        except ValidationError:
            customer = None
        return [(value, str(customer) if customer else f"{value} (deleted customer)")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            return queryset.filter(customer_id=DataRecord._meta.get_field("customer_id").to_python(value))
        except ValidationError as error:
            raise IncorrectLookupParameters(error) from error

    def choices(self, changelist):
        for choice in super().choices(changelist):
            if choice["display"].startswith("Open a customer"):
                choice["query_string"] = changelist.get_query_string(remove=[self.parameter_name])
            yield choice


@admin.register(DataRecord)
class DataRecordAdmin(admin.ModelAdmin):
    """Records are immutable audit data: staff can look, search and filter, never add, change or delete."""

    list_display = ("time_from", "code", "amount", "customer_link_short", "customer_name", "transaction_id")
    list_filter = (CustomerFilter, CodeListFilter, ("time_from", admin.DateFieldListFilter))
    show_facets = admin.ShowFacets.NEVER  # facet counts would count millions of records per choice
    # "=" is an exact match, served by the (customer_external_id, time_from) and (code, time_from) indexes.
    search_fields = ("=customer_external_id", "=code", "=transaction_id")
    search_help_text = "Exact customer external ID, code or transaction ID."
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

    @admin.display(description="quantity", ordering="quantity")
    def amount(self, record: DataRecord) -> str:
        return format_quantity(record.quantity)

    @admin.display(description="customer external ID", ordering="customer_external_id")
    def customer_link_short(self, record: DataRecord) -> str:
        """The external ID as submitted, linking to the customer (records keep it even if the customer goes)."""
        text = record.customer_external_id or str(record.customer_id)
        url = reverse("admin:customers_customer_change", args=[record.customer_id])
        return format_html('<a class="nowrap" href="{}">{}</a>', url, text)

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


#: The query parameter of the customer page's month picker (YYYY-MM).
USAGE_MONTH_VAR = "usage_month"
#: How many months the picker offers (this one and the ones before).
USAGE_MONTHS = 13


def month_start(now: datetime | None = None, months_back: int = 0) -> datetime:
    """Return the first instant (UTC) of the month *months_back* months before the one of *now*."""
    now = (now or timezone.now()).astimezone(UTC)
    index = now.year * 12 + now.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def current_month(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Return [start, end) of the current UTC month."""
    return month_start(now), month_start(now, -1)


def parse_month(value: str | None) -> datetime | None:
    """Return the start of the month "YYYY-MM" (UTC), or None when *value* is not one."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        return datetime(year, month, 1, tzinfo=UTC) if 2000 <= year <= 9999 else None
    except ValueError:
        return None


def customer_usage_summary_html(customer, now: datetime | None = None, month: str | None = None) -> SafeString:
    """Return HTML for the customer's page: a month picker, usage per code that month and a link to the records.

    By default the month shown is last month: the one that gets invoiced. The picker offers the current
    month (so far) and the twelve before it; any month can be asked for in the URL (`?usage_month=2026-03`).
    """
    invoiced = month_start(now, 1)
    start = parse_month(month) or invoiced
    end = month_start(start, -1)
    options = []
    for back in range(USAGE_MONTHS):
        option = month_start(now, back)
        label = option.strftime("%B %Y")
        label += " (so far)" if back == 0 else " (last month: the one invoiced)" if back == 1 else ""
        options.append((option.strftime("%Y-%m"), " selected" if option == start else "", label))
    if start not in [month_start(now, back) for back in range(USAGE_MONTHS)]:
        options.append((start.strftime("%Y-%m"), " selected", start.strftime("%B %Y")))
    picker = format_html(
        '<p class="month-picker"><label for="usage-month">Month (UTC):</label> '
        '<select id="usage-month" name="{}" data-month-picker="{}" form="no-form">{}</select></p>',
        USAGE_MONTH_VAR,
        USAGE_MONTH_VAR,
        format_html_join("", '<option value="{}"{}>{}</option>', options),
    )
    items = usage_summary(customer.pk, start, end)
    link = format_html('<a href="{}">All data records of this customer</a>', customer_records_url(customer))
    period = f"{start:%Y-%m-%d} to {end:%Y-%m-%d} (UTC, end exclusive)"
    if not items:
        return format_html('<div id="usage">{}<p>No usage from {}.</p><p>{}</p></div>', picker, period, link)
    rows = format_html_join(
        "",
        '<tr><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td></tr>',
        ((i.code, format_quantity(i.quantity), f"{i.records:,}") for i in items),
    )
    return format_html(
        '<div id="usage">{}<p>Usage from {}:</p><table class="usage"><thead><tr><th>code</th>'
        '<th class="num">quantity</th><th class="num">records</th></tr></thead>'
        "<tbody>{}</tbody></table><p>{}</p></div>",
        picker,
        period,
        rows,
        link,
    )


#: Counting a customer's records stops here (the delete page says "more than").
DELETE_NOTE_COUNT_LIMIT = 100_000


def customer_records_delete_note(customer) -> str:
    """Say how many data records stay when *customer* is deleted."""
    count = DataRecord.objects.filter(customer_id=customer.pk).order_by()[: DELETE_NOTE_COUNT_LIMIT + 1].count()
    if not count:
        return "The customer has no data records."
    amount = f"More than {DELETE_NOTE_COUNT_LIMIT:,}" if count > DELETE_NOTE_COUNT_LIMIT else f"{count:,}"
    return (
        f"{amount} data record(s) of this customer stay: records are audit and billing data; they keep the "
        "customer's ID, external ID and name as submitted."
    )


register_customer_panel(
    CustomerPanel(
        key="usage",
        title="Usage",
        render=lambda customer, params: customer_usage_summary_html(customer, month=params.get(USAGE_MONTH_VAR)),
        delete_note=customer_records_delete_note,
    )
)
