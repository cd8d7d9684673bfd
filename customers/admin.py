"""Customers in the admin: find one in a million, fix billing details, move customers between groups."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.db import connections, transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django_countries import countries

from billingengine.admin import HistoryEntry, KeysetChangeList, LargeTablePaginator, ServiceHistoryAdmin
from billingengine.errors import DomainError, ExternalIdImmutable
from customers.models import Customer
from customers.services import (
    CUSTOMER_FIELDS,
    customer_create,
    customer_delete,
    customer_update,
    normalize_customer_value,
)
from groups.admin import GroupListFilter, MembershipsGoWithItMixin
from groups.customer_export import export_customers
from groups.models import Group, Membership
from groups.services import customer_set_groups, memberships_end, memberships_start

#: Bulk actions work on at most this many customers at once (one request; more belongs in the API or a command).
BULK_ACTION_LIMIT = 10_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _group_widget(multiple: bool):
    """Return the admin's autocomplete widget for choosing customer groups (searches GroupAdmin.search_fields)."""
    # Autocomplete needs a relation to describe; the membership's group is the relation being edited.
    widget = AutocompleteSelectMultiple if multiple else AutocompleteSelect
    return widget(Membership._meta.get_field("group"), admin.site)


class CustomerAdminForm(forms.ModelForm):
    """The customer's fields and its current groups, validated by the same rules as the API."""

    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.all(),
        required=False,
        widget=_group_widget(multiple=True),
        label="Customer groups",
        help_text="The customer's current groups. Removing one ends that membership (it stays in the history).",
    )

    change_reason = forms.CharField(
        required=False,
        max_length=100,
        label="Reason for this change",
        help_text="Optional; shown in the history, e.g. “customer's email of 3 March” (up to 100 characters).",
    )

    class Meta:
        model = Customer
        fields = CUSTOMER_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance if not self.instance._state.adding else None
        self.stored_external_id = stored.external_id if stored is not None else None
        if stored is not None:
            self.fields["groups"].initial = [str(group_id) for group_id in stored.group_ids]
        for form_field in self.fields.values():
            # A browser cuts a pasted value at `maxlength` without a word; the server refuses it with a message.
            form_field.widget.attrs.pop("maxlength", None)
        if "address_street" in self.fields:
            self.fields["address_street"].widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def clean_external_id(self) -> str | None:
        value = normalize_customer_value("external_id", self.cleaned_data.get("external_id"))
        if self.stored_external_id is not None and value != self.stored_external_id:
            raise forms.ValidationError(
                ExternalIdImmutable(self.stored_external_id).detail, code="external_id_immutable"
            )
        if value is not None:
            existing = (
                Customer.objects.filter(external_id=value).exclude(pk=self.instance.pk).values_list("pk", flat=True)
            )
            existing_id = next(iter(existing), None)
            if existing_id is not None:
                raise forms.ValidationError(
                    format_html(
                        'Another customer already has the external ID “{}”: <a href="{}">open that customer</a>.',
                        value,
                        reverse("admin:customers_customer_change", args=[existing_id]),
                    ),
                    code="unique",
                )
        return value


class CustomerGroupFilter(GroupListFilter):
    """Customers currently in a customer group (customers are not loaded). Listed first: it is the filter
    billing staff use most."""

    def filter_group(self, queryset: QuerySet, group_id: Any) -> QuerySet:
        return queryset.in_group(group_id)


class CountryInUseFilter(admin.SimpleListFilter):
    """Customers by country, offering only the countries customers have (not all ~250)."""

    title = "country"
    parameter_name = "address_country"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        codes = set(countries_in_use())
        if self.value():
            codes.add(self.value())
        names = dict(countries)
        return sorted(((code, f"{names.get(code, code)} ({code})") for code in codes), key=lambda c: c[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet):
        value = self.value()
        if not value:
            return queryset
        if value not in dict(countries):
            raise IncorrectLookupParameters(f"Unknown country code {value!r}.")
        return queryset.filter(address_country=value)


def countries_in_use() -> list[str]:
    """Return the distinct country codes of customers, cheaply at a million customers.

    On PostgreSQL a "loose index scan" (a recursive query hopping from one country to the next in the
    (address_country, created_at, id) index) reads one index entry per country instead of every customer;
    a plain DISTINCT would read the whole table on each page view.
    """
    connection = connections[Customer.objects.db]
    if connection.vendor != "postgresql":
        return list(
            Customer.objects.exclude(address_country__isnull=True)
            .exclude(address_country="")
            .order_by("address_country")
            .values_list("address_country", flat=True)
            .distinct()
        )
    table = connection.ops.quote_name(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE seen(code) AS (
                (SELECT address_country FROM {table} WHERE address_country > '' ORDER BY address_country LIMIT 1)
                UNION ALL
                SELECT (SELECT address_country FROM {table} WHERE address_country > seen.code
                        ORDER BY address_country LIMIT 1)
                FROM seen WHERE seen.code IS NOT NULL
            )
            SELECT code FROM seen WHERE code IS NOT NULL
            """
        )
        return [row[0] for row in cursor.fetchall()]


class GroupChoiceForm(forms.Form):
    """The intermediate page of the group bulk actions."""

    group = forms.ModelChoiceField(
        queryset=Group.objects.all(), widget=_group_widget(multiple=False), label="Customer group"
    )


#: The reason on the first history row of a customer loaded without history (seed_demo, a COPY import).
BASELINE_REASON = "Created by a bulk load (demo data or an import); these were its values when first recorded"


def history_baseline_ensure(*, customer_id) -> bool:
    """Give a customer that has no history row (bulk-loaded) a first one holding its stored values.

    Called before the admin saves a change, so the History page can show that change field by field.
    The row is dated at the customer's creation, has no user (nobody in the admin made it) and says why.
    Return whether a row was written.
    """
    if Customer.history.filter(id=customer_id).exists():
        return False
    stored = Customer.objects.filter(pk=customer_id).first()
    if stored is None:
        return False
    stored._history_user = None  # not the staff member who is about to change it
    Customer.history.bulk_history_create(
        [stored], default_change_reason=BASELINE_REASON, default_date=stored.created_at
    )
    return True


@dataclass(frozen=True)
class CustomerPanel:
    """A section another app adds to the customer's page, e.g. the data records app's usage.

    Apps above `customers` register one (`register_customer_panel`) from their own admin module, so this
    module imports none of them. `render(customer, params)` returns HTML (params: the page's query string);
    `delete_note(customer)` says what of that app's data stays when the customer is deleted.
    """

    key: str
    title: str
    render: Callable[[Customer, QueryDict], str]
    delete_note: Callable[[Customer], str] | None = None


CUSTOMER_PANELS: dict[str, CustomerPanel] = {}


def register_customer_panel(panel: CustomerPanel) -> None:
    """Show *panel* on every customer's page (registering the same key again replaces it)."""
    CUSTOMER_PANELS[panel.key] = panel


class CustomerListPaginator(LargeTablePaginator):
    """Counts a filtered customer list up to 1,000 ("more than 1,000 customers"): with first / previous / next
    links no page number needs the exact total, and counting 10,000 members of a big group cost ~0.1 s."""

    count_limit = 1_000


@admin.register(Customer)
class CustomerAdmin(MembershipsGoWithItMixin, ServiceHistoryAdmin):
    """Customers: search, filters, billing details, current groups and bulk group changes."""

    form = CustomerAdminForm
    list_display = ("name", "external_id", "country", "groups", "created_at")
    list_display_links = ("name", "external_id")
    list_filter = (CustomerGroupFilter, CountryInUseFilter, "created_at")
    # Facet counts would count the whole (filtered) table once per choice on every page view.
    show_facets = admin.ShowFacets.NEVER
    search_fields = ("name", "external_id", "tax_id", "vat_id")
    search_help_text = (
        "Name, external ID, tax ID or VAT ID contains the text (any case). An exact external ID finds that customer."
    )
    ordering = ("-created_at", "-id")
    # Keyset pagination (first / previous / next) over these, each served by an index on (field, id).
    keyset_fields = ("created_at", "name")
    sortable_by = ("name", "created_at")
    list_per_page = 50
    show_full_result_count = False
    paginator = CustomerListPaginator
    readonly_fields = ("id", "created_at", "updated_at", "membership_history", "panels", "external_id_locked")
    actions = ("add_to_group", "remove_from_group", "export_csv")
    history_list_per_page = 50
    history_fields = CUSTOMER_FIELDS
    delete_confirmation_template = "admin/customers/customer/delete_confirmation.html"

    def get_changelist(self, request: HttpRequest, **kwargs: Any):
        return KeysetChangeList

    def get_fieldsets(self, request: HttpRequest, obj: Customer | None = None):
        locked = obj is not None and obj.external_id is not None
        fieldsets = [
            (None, {"fields": ("name", "external_id_locked" if locked else "external_id", "groups")}),
            (
                "Billing details",
                {"fields": ("tax_id", "vat_id", "address_street", "address_city", "address_zip", "address_country")},
            ),
        ]
        if obj is not None and self.has_change_permission(request, obj):
            fieldsets[0][1]["fields"] = (*fieldsets[0][1]["fields"], "change_reason")
        if obj is not None:
            fieldsets += [
                ("Customer group membership history", {"fields": ("membership_history",)}),
                *[(panel.title, {"fields": ("panels",)}) for panel in list(CUSTOMER_PANELS.values())[:1]],
                ("Record", {"fields": ("id", "created_at", "updated_at"), "classes": ("collapse",)}),
            ]
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None):
        readonly = super().get_readonly_fields(request, obj)
        if not self.has_change_permission(request, obj):
            readonly = (*readonly, "change_reason")
        if obj is not None and obj.external_id is not None:
            readonly = (*readonly, "external_id")
        return readonly

    @admin.display(description="external ID")
    def external_id_locked(self, customer: Customer) -> str:
        return format_html(
            '<code class="external-id">{}</code><div class="help">Fixed: data records and invoices refer to '
            "this ID, so it cannot be changed here. If a customer really needs a new ID (e.g. after a CRM "
            "migration), an operator re-keys it with the <code>rekey_customers</code> command, which keeps "
            "its data records attached.</div>",
            customer.external_id,
        )

    @admin.display(description="By month")
    def panels(self, customer: Customer) -> str:
        """Sections of other apps (usage); the page's query string (e.g. the chosen month) is passed on."""
        params = getattr(customer, "admin_params", None) or QueryDict()
        return format_html_join("", "{}", ((panel.render(customer, params),) for panel in CUSTOMER_PANELS.values()))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        customer = super().get_object(request, object_id, from_field)
        if customer is not None:
            customer.admin_params = request.GET  # the panels read their options (e.g. the month) from it
        return customer

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        current = Membership.objects.current().select_related("group").order_by("joined_at", "group_id")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("memberships", queryset=current, to_attr="current_memberships"))
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = _CONTROL.sub(" ", search_term).strip()[:255]
        if not term:
            return queryset, False
        # An exact external ID is the common case and must be instant: one unique-index lookup.
        exact = list(queryset.filter(external_id=term).values_list("pk", flat=True)[:1])
        if exact:
            return queryset.filter(pk=exact[0]), False
        return queryset.search(term), False

    def extra_history_entries(self, request: HttpRequest, customer: Customer) -> list[HistoryEntry]:
        """Who added the customer to or removed it from customer groups, in the same timeline."""
        records = (
            Membership.history.filter(customer_id=customer.pk)
            .select_related("history_user")
            .order_by("-history_date", "-history_id")[: self.history_limit]
        )
        names = dict(Group.objects.filter(pk__in={r.group_id for r in records}).values_list("pk", "name"))
        entries = []
        for record in records:
            group = f"“{names.get(record.group_id, 'a deleted group')}”"
            if record.history_type == "+":
                action, detail = "Added to customer group", f"joined {group}"
            elif record.history_type == "-":
                action, detail = "Membership deleted", f"in {group} (with the customer or the group)"
            elif record.left_at is not None:
                ended = date_format(localtime(record.left_at), "DATETIME_FORMAT")
                action, detail = "Removed from customer group", f"left {group} (membership ended {ended})"
            else:
                action, detail = "Membership changed", f"in {group}"
            entries.append(
                HistoryEntry(
                    when=record.history_date,
                    who=record.history_user,
                    action=action,
                    reason=record.history_change_reason or "",
                    detail=detail,
                )
            )
        return entries

    def save_form(self, request: HttpRequest, form: CustomerAdminForm, change: bool):
        if change:
            history_baseline_ensure(customer_id=form.instance.pk)
            request.customer_change_reason = (form.cleaned_data.get("change_reason") or "").strip()
        return super().save_form(request, form, change)

    def log_change(self, request: HttpRequest, obj: Customer, message):
        """After the services saved the change: put the reason staff gave on the history row it wrote."""
        reason = getattr(request, "customer_change_reason", "")
        if reason:
            latest = Customer.history.filter(id=obj.pk).order_by("-history_date", "-history_id").first()
            if latest is not None and latest.history_user_id == request.user.pk and not latest.history_change_reason:
                Customer.history.filter(history_id=latest.history_id).update(history_change_reason=reason)
        return super().log_change(request, obj, message)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None):
        customer = self.get_object(request, unquote(object_id))
        notes = []
        if customer is not None:
            notes = [panel.delete_note(customer) for panel in CUSTOMER_PANELS.values() if panel.delete_note]
        return super().delete_view(request, object_id, {"delete_notes": notes, **(extra_context or {})})

    @admin.display(description="country", ordering="address_country")
    def country(self, customer: Customer) -> str:
        # Not the field itself: the admin would look the code up in ~250 country choices on every row.
        return customer.address_country.code if customer.address_country else "—"

    @admin.display(description="Customer groups")
    def groups(self, customer: Customer) -> str:
        memberships = getattr(customer, "current_memberships", None)
        if memberships is None:
            memberships = customer.memberships.current().select_related("group")
        return ", ".join(m.group.name for m in memberships) or "—"

    @admin.display(description="Memberships (newest first)")
    def membership_history(self, customer: Customer) -> str:
        memberships = customer.memberships.select_related("group").order_by("-joined_at", "-id")
        now = timezone.now()

        def moment(value, open_text: str) -> str:
            if value is None:
                return open_text
            return date_format(localtime(value), "DATETIME_FORMAT") + (" (scheduled)" if value > now else "")

        rows = [
            (
                format_html("{} (deleted)", m.group.name)
                if m.group.deleted_at
                else format_html(
                    '<a href="{}">{}</a>', reverse("admin:groups_group_change", args=[m.group_id]), m.group
                ),
                moment(m.joined_at, ""),
                moment(m.left_at, "current" if m.joined_at <= now else "—"),
                reverse("admin:groups_membership_history", args=[m.pk]),
            )
            for m in memberships
        ]
        schedule = format_html(
            '<p><a href="{}">Schedule a membership change (join or leave a group at a date)…</a></p>',
            reverse("admin:groups_membership_schedule", args=[customer.pk]),
        )
        if not rows:
            return format_html("Not a member of any customer group yet.{}", schedule)
        body = format_html_join(
            "",
            '<tr><td>{}</td><td class="nowrap">{}</td><td class="nowrap">{}</td><td><a href="{}">history</a></td></tr>',
            rows,
        )
        return format_html(
            '<table class="membership-history"><thead><tr><th>Customer group</th><th>Joined</th>'
            "<th>Left</th><th>Who changed it</th></tr></thead><tbody>{}</tbody></table>{}",
            body,
            schedule,
        )

    # Writes go through the services, so the API's rules hold here too.

    def save_model(self, request: HttpRequest, obj: Customer, form: CustomerAdminForm, change: bool) -> None:
        data = {field: form.cleaned_data[field] for field in CUSTOMER_FIELDS if field in form.cleaned_data}
        group_ids = [group.pk for group in form.cleaned_data.get("groups", [])]
        if change:
            saved = customer_update(customer=Customer.objects.select_for_update().get(pk=obj.pk), changes=data)
        else:
            saved = customer_create(**data)
        customer_set_groups(customer=saved, group_ids=group_ids, user=request.user, new=not change)
        for field in ("id", *CUSTOMER_FIELDS, "created_at", "updated_at"):
            setattr(obj, field, getattr(saved, field))
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Customer) -> None:
        customer_delete(customer=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        for customer in queryset:
            customer_delete(customer=customer)

    # Bulk actions

    def has_add_membership_permission(self, request: HttpRequest) -> bool:
        """Adding to a group needs the same permission as the API's `POST /groups/{id}/customers`."""
        return request.user.has_perm("groups.add_membership")

    def has_remove_membership_permission(self, request: HttpRequest) -> bool:
        """Removing needs the same permission as the API's `DELETE /groups/{id}/customers/{id}`."""
        return request.user.has_perm("groups.delete_membership")

    @admin.action(description="Add to customer group…", permissions=("add_membership",))
    def add_to_group(self, request: HttpRequest, queryset: QuerySet[Customer]):
        return self._group_action(request, queryset, adding=True)

    @admin.action(description="Remove from customer group…", permissions=("remove_membership",))
    def remove_from_group(self, request: HttpRequest, queryset: QuerySet[Customer]):
        return self._group_action(request, queryset, adding=False)

    def _too_many(self, request: HttpRequest, queryset: QuerySet) -> bool:
        if queryset.order_by()[: BULK_ACTION_LIMIT + 1].count() > BULK_ACTION_LIMIT:
            self.message_user(
                request,
                f"Select at most {BULK_ACTION_LIMIT:,} customers for a bulk action (narrow the search or filters); "
                "nothing was changed.",
                messages.ERROR,
            )
            return True
        return False

    def _group_action(self, request: HttpRequest, queryset: QuerySet[Customer], *, adding: bool):
        if self._too_many(request, queryset):
            return None
        form = GroupChoiceForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            group = form.cleaned_data["group"]
            selected = queryset.count()
            customer_ids = list(queryset.order_by().values_list("pk", flat=True))
            with transaction.atomic():
                if adding:
                    started = memberships_start(group=group, customer_ids=customer_ids, user=request.user)
                    changed = len(started.started)
                    unchanged = f"{selected - changed} already were members" if selected - changed else ""
                    verb = f"Added {changed} of {selected} selected customer(s) to customer group “{group}”"
                else:
                    changed = len(memberships_end(group=group, customer_ids=customer_ids, user=request.user))
                    unchanged = f"{selected - changed} were not members" if selected - changed else ""
                    verb = (
                        f"Removed {changed} of {selected} selected customer(s) from customer group “{group}” "
                        "(their memberships ended and stay in the history)"
                    )
            self.message_user(request, f"{verb}{'; ' + unchanged if unchanged else ''}.", messages.SUCCESS)
            return None
        preview = list(queryset.order_by("name", "pk")[:20])
        context = {
            **self.admin_site.each_context(request),
            "title": "Add customers to a customer group" if adding else "Remove customers from a customer group",
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
            "action": "add_to_group" if adding else "remove_from_group",
            "adding": adding,
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "count": queryset.count(),
            "preview": preview,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/customers/customer/group_action.html", context)

    @admin.action(description="Export selected as CSV", permissions=("view",))
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Customer]) -> HttpResponse | None:
        if self._too_many(request, queryset):
            return None
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
        # The same exporter as `manage.py export_customers --group-format names`: same columns, same escaping.
        try:
            exported = export_customers(response, customers=queryset.prefetch_related(None), group_format="names")
        except DomainError as error:
            self.message_user(request, f"Nothing was exported: {error.detail}", messages.ERROR)
            return None
        self.message_user(request, f"Exported {exported} customer(s) as CSV.", messages.SUCCESS)
        return response
