"""Bills in the admin (view only, with the printable statement and its PDF), and billing on the customer page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from billing.errors import StatementUnavailable
from billing.models import Bill
from billing.statement import statement_html, statement_pdf
from billing.summary import billing_summary
from billingengine.admin import LargeTablePaginator
from billingengine.display import format_moment, format_money, format_quantity
from customers.models import Customer


def bill_total(bill: Bill) -> str:
    """The bill's totals as staff read money: "1,234.50 EUR", one per currency."""
    return ", ".join(format_money(t["amount"], t["currency"]) for t in bill.totals) or "-"


def month_of(moment: datetime) -> tuple[datetime, datetime]:
    """Return [start, end) of *moment*'s UTC calendar month."""
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


@admin.register(Bill)
class BillAdmin(admin.ModelAdmin):
    """Issued bills are accounting documents: staff find, read, print and download them; nobody edits them."""

    list_display = ("number", "customer_name", "customer_external_id", "period_from", "period_to", "issued_at", "total")
    list_display_links = ("number",)
    search_fields = ("=number", "customer_name", "=customer_external_id")
    search_help_text = "Exact bill number or customer external ID, or part of the customer's name."
    list_filter = (("period_from", admin.DateFieldListFilter), ("issued_at", admin.DateFieldListFilter))
    ordering = ("-issued_at", "-id")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50
    fields = ("number", "status", "issued_at", "customer_link", "period_from", "period_to", "total", "statement")
    readonly_fields = fields
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Bill | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Bill | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Bill]:
        return super().get_queryset(request).prefetch_related("lines")

    @admin.display(description="total")
    def total(self, obj: Bill) -> str:
        return bill_total(obj)

    @admin.display(description="customer")
    def customer_link(self, obj: Bill) -> str:
        name = f"{obj.customer_name} ({obj.customer_external_id})" if obj.customer_external_id else obj.customer_name
        if obj.customer_id is None:
            return f"{name} (deleted)"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:customers_customer_change", args=[obj.customer_id]), name
        )

    @admin.display(description="statement")
    def statement(self, obj: Bill) -> SafeString:
        page = reverse("admin:billing_bill_statement", args=[obj.pk])
        pdf = reverse("admin:billing_bill_pdf", args=[obj.pk])
        return format_html(
            '<p><a href="{}" target="_blank">Printable statement</a> · <a href="{}">Download PDF</a></p>'
            '<iframe src="{}" title="Statement" class="bill-statement"></iframe>',
            page,
            pdf,
            page,
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/statement/",
                self.admin_site.admin_view(self.statement_view),
                name="billing_bill_statement",
            ),
            path("<path:object_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_bill_pdf"),
            *super().get_urls(),
        ]

    def _bill(self, request: HttpRequest, object_id: str) -> Bill:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            return self.get_queryset(request).get(pk=unquote(object_id))
        except (Bill.DoesNotExist, ValidationError, ValueError) as error:
            raise Http404("No such bill.") from error

    def statement_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The bill's statement as a printable page (the same template as the PDF); the bill's page frames it."""
        response = HttpResponse(statement_html(self._bill(request, object_id)))
        response["X-Frame-Options"] = "SAMEORIGIN"  # the project's DENY for every other page
        return response

    def pdf_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The bill's statement as a PDF download."""
        bill = self._bill(request, object_id)
        try:
            pdf = statement_pdf(bill)
        except StatementUnavailable as error:
            return HttpResponse(error.detail, status=503, content_type="text/plain; charset=utf-8")
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="bill-{bill.number}.pdf"'
        return response


# -- the customer page: draft bills of this month and last month, and the customer's bills ------------------

_CustomerAdmin = type(admin.site.get_model_admin(Customer))


def draft_summary_html(customer: Customer, start: datetime, end: datetime) -> SafeString:
    """Return the billing summary of [start, end) as a small table for the customer's admin page."""
    summary = billing_summary(customer=customer, start=start, end=end)
    period = f"{format_moment(start)} to {format_moment(end)} (end exclusive)"
    link = format_html(
        '<a href="{}?{}">Billing summary in the API</a>',
        reverse("api:customer-billing-summary", args=[customer.pk]),
        urlencode({"from": start.isoformat(), "to": end.isoformat()}),
    )
    if summary.is_empty:
        return format_html("<p>{}: no usage.</p>", period)
    rows = format_html_join(
        "",
        "<tr><td>{}{}</td><td>{} to {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                line.code,
                " (late)" if line.late else "",
                format_moment(line.start),
                format_moment(line.end),
                format_quantity(line.quantity),
                f"{line.records:,}",
                format_money(line.amount, line.currency),
            )
            for line in summary.lines
        ),
    )
    unpriced = format_html_join(
        "; ", "{} {} ({} records)", ((u.code, format_quantity(u.quantity), f"{u.records:,}") for u in summary.unpriced)
    )
    totals = ", ".join(format_money(t.amount, t.currency) for t in summary.totals) or "nothing priced"
    return format_html(
        "<p>{}</p><table><thead><tr><th>code</th><th>stretch</th><th>quantity</th><th>records</th><th>amount</th>"
        "</tr></thead><tbody>{}</tbody></table>{}<p><strong>Total: {}</strong> · {}</p>",
        period,
        rows,
        format_html("<p>Unpriced: {}</p>", unpriced) if summary.unpriced else "",
        totals,
        link,
    )


class BillingCustomerAdmin(_CustomerAdmin):
    """The customer admin plus its draft bills (this month, last month) and its issued bills."""

    readonly_fields = (*_CustomerAdmin.readonly_fields, "draft_this_month", "draft_last_month", "bills")

    def get_fieldsets(self, request: HttpRequest, obj: Customer | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Billing", {"fields": ("draft_this_month", "draft_last_month", "bills")}))
        return fieldsets

    @admin.display(description="draft bill, this month")
    def draft_this_month(self, obj: Customer) -> str:
        return draft_summary_html(obj, *month_of(timezone.now())) if obj.pk else "-"

    @admin.display(description="draft bill, last month")
    def draft_last_month(self, obj: Customer) -> str:
        if not obj.pk:
            return "-"
        start, _ = month_of(timezone.now())
        return draft_summary_html(obj, *month_of(start - timedelta(days=1)))

    @admin.display(description="bills")
    def bills(self, obj: Customer) -> str:
        bills = list(Bill.objects.filter(customer=obj).order_by("-issued_at", "-id")[:25]) if obj.pk else []
        if not bills:
            return "No bills issued."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{} to {}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:billing_bill_change", args=[b.pk]),
                    b.number,
                    format_moment(b.period_from),
                    format_moment(b.period_to),
                    format_moment(b.issued_at),
                    bill_total(b),
                )
                for b in bills
            ),
        )
        more = reverse("admin:billing_bill_changelist") + "?" + urlencode({"q": obj.external_id or obj.name})
        return format_html(
            "<table><thead><tr><th>number</th><th>period</th><th>issued</th><th>total</th></tr></thead>"
            '<tbody>{}</tbody></table><p><a href="{}">All bills of this customer</a></p>',
            rows,
            more,
        )


admin.site.unregister(Customer)
admin.site.register(Customer, BillingCustomerAdmin)
