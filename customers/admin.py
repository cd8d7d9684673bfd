"""Customers in the admin: find one in a million, fix billing details, move customers between groups."""

from __future__ import annotations

import csv
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from billingengine.admin import LargeTablePaginator, ServiceHistoryAdmin
from billingengine.errors import ExternalIdImmutable, ExternalIdTaken
from customers.models import Customer
from customers.services import (
    CUSTOMER_FIELDS,
    customer_create,
    customer_delete,
    customer_update,
    normalize_customer_value,
)
from groups.models import Group, Membership
from groups.services import membership_add, membership_remove

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

    class Meta:
        model = Customer
        fields = CUSTOMER_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance if not self.instance._state.adding else None
        self.stored_external_id = stored.external_id if stored is not None else None
        if stored is not None:
            self.fields["groups"].initial = [str(group_id) for group_id in stored.group_ids]
            if self.stored_external_id is not None and "external_id" in self.fields:
                self.fields["external_id"].help_text = (
                    "Cannot be changed or cleared once set: data records refer to it. "
                    "Operators re-key customers with `manage.py rekey_customers`."
                )

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
                raise forms.ValidationError(ExternalIdTaken(value, existing_id).detail, code="unique")
        return value


class CustomerGroupFilter(admin.SimpleListFilter):
    """Customers currently in a customer group (groups are few; customers are not loaded)."""

    title = "customer group"
    parameter_name = "group"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [(str(pk), name) for pk, name in Group.objects.order_by("name").values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet):
        value = self.value()
        if not value:
            return queryset
        try:
            group_id = Group._meta.pk.to_python(value)
        except Exception as error:  # a malformed id in the URL: the admin answers with its "?e=1" page
            raise IncorrectLookupParameters(error) from error
        return queryset.in_group(group_id)


class GroupChoiceForm(forms.Form):
    """The intermediate page of the group bulk actions."""

    group = forms.ModelChoiceField(
        queryset=Group.objects.all(), widget=_group_widget(multiple=False), label="Customer group"
    )


def _csv_cell(value: Any) -> str:
    """Return *value* for a CSV cell; text that a spreadsheet would run as a formula is quoted."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and not text[1:2].isdigit()):
        return "'" + text
    return text


@admin.register(Customer)
class CustomerAdmin(ServiceHistoryAdmin):
    """Customers: search, filters, billing details, current groups and bulk group changes."""

    form = CustomerAdminForm
    list_display = ("name", "external_id", "country", "groups", "created_at")
    list_display_links = ("name", "external_id")
    list_filter = ("address_country", CustomerGroupFilter, "created_at")
    search_fields = ("name", "external_id", "tax_id", "vat_id")
    search_help_text = (
        "Name, external ID, tax ID or VAT ID contains the text (any case). An exact external ID finds that customer."
    )
    ordering = ("-created_at", "-id")
    list_per_page = 50
    show_full_result_count = False
    paginator = LargeTablePaginator
    readonly_fields = ("id", "created_at", "updated_at", "membership_history")
    actions = ("add_to_group", "remove_from_group", "export_csv")
    history_list_per_page = 50
    object_history_template = "admin/customers/customer/object_history.html"

    def get_fieldsets(self, request: HttpRequest, obj: Customer | None = None):
        fieldsets = [
            (None, {"fields": ("name", "external_id", "groups")}),
            (
                "Billing details",
                {"fields": ("tax_id", "vat_id", "address_street", "address_city", "address_zip", "address_country")},
            ),
        ]
        if obj is not None:
            fieldsets += [
                ("Customer group membership history", {"fields": ("membership_history",)}),
                ("Record", {"fields": ("id", "created_at", "updated_at"), "classes": ("collapse",)}),
            ]
        return fieldsets

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

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None):
        """Show the customer's own changes and, below them, who added it to or removed it from groups."""
        self._require_valid_ids(object_id)
        changes = (
            Membership.history.filter(customer_id=unquote(object_id))
            .select_related("history_user", "group")
            .order_by("-history_date", "-history_id")[:200]
        )
        return super().history_view(request, object_id, {"membership_changes": changes, **(extra_context or {})})

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
            return value.strftime("%Y-%m-%d %H:%M:%S %Z") + (" (scheduled)" if value > now else "")

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
            '<tr><td>{}</td><td>{}</td><td>{}</td><td><a href="{}">history</a></td></tr>',
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
            stored = Customer.objects.select_for_update().get(pk=obj.pk)
            saved = customer_update(customer=stored, changes={**data, "group_ids": group_ids})
        else:
            saved = customer_create(group_ids=group_ids, **data)
        for field in ("id", *CUSTOMER_FIELDS, "created_at", "updated_at"):
            setattr(obj, field, getattr(saved, field))
        obj._state.adding = False

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Memberships go with their customer (as in the API); they are never deleted on their own.
        perms_needed.discard(Membership._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

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
            with transaction.atomic():
                if adding:
                    changed = sum(
                        membership_add(group=group, customer=c)[1]
                        for c in queryset.prefetch_related(None).order_by().iterator()
                    )
                    unchanged = f"{selected - changed} already were members" if selected - changed else ""
                    verb = f"Added {changed} of {selected} selected customer(s) to customer group “{group}”"
                else:
                    members = Membership.objects.current().filter(group=group, customer__in=queryset.values("pk"))
                    customer_ids = list(members.values_list("customer_id", flat=True))
                    for customer_id in customer_ids:
                        membership_remove(group=group, customer=customer_id)
                    changed = len(customer_ids)
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
        writer = csv.writer(response)
        writer.writerow(["id", *CUSTOMER_FIELDS, "customer_groups", "created_at", "updated_at"])
        exported = 0
        for customer in queryset.order_by("created_at", "id").iterator(chunk_size=1000):
            writer.writerow(
                [
                    customer.pk,
                    *(_csv_cell(getattr(customer, field)) for field in CUSTOMER_FIELDS),
                    _csv_cell("; ".join(m.group.name for m in customer.current_memberships)),
                    customer.created_at.isoformat(),
                    customer.updated_at.isoformat(),
                ]
            )
            exported += 1
        self.message_user(request, f"Exported {exported} customer(s) as CSV.", messages.SUCCESS)
        return response
