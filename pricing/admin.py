"""Prices in the admin: price lists with their rates (a new rate version is added, existing ones are read-only),
tiers entered as rows rather than JSON, a group's price lists on its page, and on a customer's page the prices
that apply to it now.

Group and customer pages are extended from here (their admins are subclassed and registered again), so
`groups` and `customers` never import `pricing`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from billingengine.admin import ServiceHistoryAdmin
from billingengine.display import format_moment
from billingengine.errors import DomainError
from customers.models import Customer
from groups.models import Group
from pricing import resolver, services
from pricing.currencies import normalize_currency
from pricing.errors import RateExists
from pricing.models import PriceList, Rate, TermProblem, check_rate_terms, decimal_text
from pricing.services import PRICE_LIST_FIELDS

TIER_ROWS = 6


# -- tiers as rows --------------------------------------------------------------------------------------------------


class TiersWidget(forms.Widget):
    """A small table of tier rows (up to, unit price, flat price) instead of a JSON text box."""

    columns = (
        ("up_to", "Up to (inclusive; empty on the last row)"),
        ("unit_price", "Unit price"),
        ("flat_price", "Flat price (default 0)"),
    )

    def value_from_datadict(self, data, files, name: str) -> list[tuple[str, str, str]]:
        return [
            tuple((data.get(f"{name}_{row}_{key}") or "").strip() for key, _ in self.columns)
            for row in range(TIER_ROWS)
        ]

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return not any(key.startswith(f"{name}_") for key in data)

    def render(self, name: str, value: Any, attrs=None, renderer=None) -> str:
        rows = _tier_rows(value)
        head = format_html_join("", "<th>{}</th>", ((label,) for _, label in self.columns))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html_join(
                        "",
                        '<td><input type="text" name="{}" value="{}" size="12" inputmode="decimal"></td>',
                        ((f"{name}_{row}_{key}", cells[i]) for i, (key, _) in enumerate(self.columns)),
                    ),
                )
                for row, cells in enumerate(rows)
            ),
        )
        return format_html(
            '<table class="pricing-tiers"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body
        )


def _tier_rows(value: Any) -> list[tuple[str, str, str]]:
    """Return TIER_ROWS rows of cell texts for *value* (stored tiers, or rows as submitted)."""
    rows: list[tuple[str, str, str]] = []
    for item in value or ():
        if isinstance(item, dict):
            rows.append(
                tuple("" if item.get(k) is None else str(item.get(k)) for k in ("up_to", "unit_price", "flat_price"))
            )
        else:
            rows.append(tuple(item))
    return (rows + [("", "", "")] * TIER_ROWS)[:TIER_ROWS]


class TiersField(forms.Field):
    """Tier rows in, the tiers list out (blank rows dropped; the rates' own check validates the tiers)."""

    widget = TiersWidget

    def to_python(self, value: Any) -> list[dict[str, str | None]] | None:
        rows = [row for row in (value or ()) if any(row)]
        if not rows:
            return None
        return [
            {"up_to": up_to or None, "unit_price": unit_price or None, "flat_price": flat_price or "0"}
            for up_to, unit_price, flat_price in rows
        ]


# -- price lists and their rates ------------------------------------------------------------------------------------


def _map_problems(form: forms.BaseForm, problems: list[TermProblem]) -> None:
    for problem in problems:
        field = problem.path.split("[", 1)[0].split(".", 1)[0]
        message = (
            problem.detail if problem.path == field else f"{problem.path.replace('tiers', 'row ', 1)}: {problem.detail}"
        )
        form.add_error(field if field in form.fields else None, message)


class RateInlineForm(forms.ModelForm):
    """A new rate version: code, model, from when, and the fields of its model only."""

    tiers = TiersField(required=False, help_text="graduated and volume: one row per tier, the last without a bound.")

    class Meta:
        model = Rate
        fields = ("code", "model", "valid_from", "unit_price", "tiers", "package_size", "package_price")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        model = cleaned.get("model")
        if model:
            terms = {f: cleaned.get(f) for f in ("unit_price", "tiers", "package_size", "package_price")}
            _, problems = check_rate_terms(model=model, **terms)
            _map_problems(self, problems)
        code, valid_from = cleaned.get("code"), cleaned.get("valid_from")
        existing = Rate.objects.filter(price_list_id=self.instance.price_list_id, code=code, valid_from=valid_from)
        if code and valid_from and self.instance.price_list_id and existing.exists():
            self.add_error("valid_from", RateExists(code, valid_from).detail)
        return cleaned

    def _post_clean(self) -> None:
        # The rate is made by `services.rate_create` in PriceListAdmin.save_related; the model's own clean would
        # check the same terms a second time.
        pass


class RateInline(admin.TabularInline):
    """Rates of the list: existing ones read-only (rates are immutable); staff add new versions."""

    model = Rate
    form = RateInlineForm
    extra = 1
    can_delete = False
    fields = (
        "code",
        "model",
        "valid_from",
        "valid_to_display",
        "terms_display",
        "unit_price",
        "tiers",
        "package_size",
        "package_price",
    )
    ordering = ("code", "valid_from")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ("valid_to_display", "terms_display")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # existing rates are shown read-only

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("price_list").with_valid_to()

    @admin.display(description="price")
    def terms_display(self, rate: Rate) -> str:
        if "_valid_to" not in rate.__dict__:  # a new row
            return "—"
        return _terms(rate, rate.price_list.currency)

    @admin.display(description="valid to")
    def valid_to_display(self, rate: Rate) -> str:
        if "_valid_to" not in rate.__dict__:  # a new row (existing ones come annotated by the queryset)
            return "—"
        return format_moment(rate.valid_to) if rate.valid_to else "open"


class PriceListAdminForm(forms.ModelForm):
    """A price list; the checks are the service's own, run and rolled back before the real save."""

    class Meta:
        model = PriceList
        fields = ("name", "description", "currency", "group", "customer", "priority")
        help_texts = {"currency": "ISO 4217 code, e.g. EUR (any case)."}

    def clean_currency(self) -> str:
        try:
            return normalize_currency(self.cleaned_data.get("currency"))
        except ValueError as error:
            raise forms.ValidationError(str(error), code="unknown_currency") from error

    def _post_clean(self) -> None:
        # Not the model's validation: the service's (which maps the constraints to the contract's messages).
        if self.errors:
            return
        try:
            with transaction.atomic():
                save_price_list(self.instance, self.cleaned_data)
                raise _DryRun
        except _DryRun:
            pass
        except DomainError as error:
            for item in error.extra.get("errors") or [{"field": error.field, "detail": error.detail}]:
                field = (item.get("field") or "").removesuffix("_id")
                self.add_error(field if field in self.fields else None, item["detail"])


class _DryRun(Exception):
    """Raised to roll a trial save back."""


def save_price_list(instance: PriceList, cleaned: dict[str, Any]) -> PriceList:
    """Create or change a list from the admin form's values through the services."""
    values = {
        "name": cleaned.get("name"),
        "description": cleaned.get("description"),
        "currency": cleaned.get("currency"),
        "group_id": cleaned["group"].pk if cleaned.get("group") else None,
        "customer_id": cleaned["customer"].pk if cleaned.get("customer") else None,
        "priority": cleaned.get("priority"),
    }
    if instance.pk is not None and PriceList.objects.filter(pk=instance.pk).exists():
        current = PriceList.objects.get(pk=instance.pk)
        return services.price_list_update(price_list=current, changes=values, replace=True)
    return services.price_list_create(**values)


@admin.register(PriceList)
class PriceListAdmin(ServiceHistoryAdmin):
    """Price lists with their rates."""

    form = PriceListAdminForm
    inlines = (RateInline,)
    list_display = ("name", "scope_display", "group", "customer", "priority", "currency", "updated_at")
    list_select_related = ("group", "customer")
    list_filter = ("currency",)
    search_fields = ("name", "description")
    ordering = ("name",)
    autocomplete_fields = ("customer",)
    readonly_fields = ("id", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "currency")}),
        (
            "Whom it prices (neither: everybody; a group: its members while they are members; a customer: "
            "that customer)",
            {"fields": ("group", "customer", "priority")},
        ),
        ("Record", {"fields": ("id", "created_at", "updated_at"), "classes": ("collapse",)}),
    )

    @admin.display(description="scope")
    def scope_display(self, price_list: PriceList) -> str:
        return price_list.scope

    def save_model(self, request: HttpRequest, obj: PriceList, form: PriceListAdminForm, change: bool) -> None:
        saved = save_price_list(obj, form.cleaned_data)
        for field in ("id", "created_at", "updated_at", *[f.removesuffix("_id") for f in PRICE_LIST_FIELDS]):
            setattr(obj, field, getattr(saved, field))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        price_list = form.instance
        for formset in formsets:
            # What formset.save() would record, for the change message.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            for inline_form in formset.extra_forms:  # the new rows; existing rates are read-only
                if not inline_form.has_changed():
                    continue
                data = inline_form.cleaned_data
                rate = services.rate_create(
                    price_list=price_list,
                    code=data["code"],
                    model=data["model"],
                    valid_from=data["valid_from"],
                    unit_price=data.get("unit_price"),
                    tiers=data.get("tiers"),
                    package_size=data.get("package_size"),
                    package_price=data.get("package_price"),
                )
                formset.new_objects.append(rate)

    def delete_model(self, request: HttpRequest, obj: PriceList) -> None:
        services.price_list_delete(price_list=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for price_list in queryset:
            services.price_list_delete(price_list=price_list)


# -- a group's price lists ------------------------------------------------------------------------------------------


_GroupAdmin = type(admin.site.get_model_admin(Group))
admin.site.unregister(Group)


@admin.register(Group)
class GroupWithPricesAdmin(_GroupAdmin):
    """The group's page, with its price lists (a read-only table: no formset, so the group's form is unchanged)."""

    readonly_fields = (*_GroupAdmin.readonly_fields, "price_lists")

    def get_fieldsets(self, request: HttpRequest, obj: Group | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Price lists", {"fields": ("price_lists",)}))
        return fieldsets

    @admin.display(description="Price lists of this group (its members' prices while they are members)")
    def price_lists(self, group: Group) -> str:
        lists = PriceList.objects.filter(group=group).order_by("priority")
        if not lists:
            return "No price list is attached to this group."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
            (
                (reverse("admin:pricing_pricelist_change", args=[pl.pk]), pl.name, pl.currency, pl.priority)
                for pl in lists
            ),
        )
        return format_html(
            '<table class="pricing-group-lists"><thead><tr><th>Price list</th><th>Currency</th><th>Priority</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )


# -- the prices that apply to a customer now ------------------------------------------------------------------------


def explain_table_html(customer: Customer, at=None) -> str:
    """Return the explanation of the prices that apply to *customer* at *at* (default now) as an HTML table."""
    at = at or timezone.now()
    items = resolver.explain(customer_id=customer.pk, at=at)
    if not items:
        return "No price list prices anything for this customer now."
    rows = []
    for item in items:
        rate, price_list = item.rate, item.price_list
        if rate is None:
            rows.append((item.code, "unpriced", "—", "—", "—"))
            continue
        shadowed = ", ".join(c.price_list.name for c in item.candidates if c.outcome == "shadowed") or "—"
        rows.append((item.code, _terms(rate, price_list.currency), price_list.name, price_list.scope, shadowed))
    body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
    return format_html(
        '<table class="pricing-explain"><thead><tr><th>Code</th><th>Price</th><th>From list</th><th>Scope</th>'
        "<th>Also priced by (shadowed)</th></tr></thead><tbody>{}</tbody></table><p>As at {} (the API's "
        "<code>GET /api/v1/customers/{}/rates</code> explains every candidate).</p>",
        body,
        format_moment(at),
        customer.pk,
    )


def _terms(rate: Rate, currency: str) -> str:
    if rate.model == Rate.Model.UNIT:
        return f"{decimal_text(rate.unit_price)} {currency} per unit"
    if rate.model == Rate.Model.PACKAGE:
        return f"{decimal_text(rate.package_price)} {currency} per {decimal_text(rate.package_size)} units"
    tiers = "; ".join(
        f"{'above' if t['up_to'] is None else 'up to ' + t['up_to']}: {t['unit_price']}"
        + (f" + {t['flat_price']} flat" if t.get("flat_price") not in (None, "0") else "")
        for t in rate.tiers or ()
    )
    return f"{rate.model} ({currency}): {tiers}"


_CustomerAdmin = type(admin.site.get_model_admin(Customer))
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerWithPricesAdmin(_CustomerAdmin):
    """The customer's page, with the prices that apply to it now."""

    readonly_fields = (*_CustomerAdmin.readonly_fields, "prices_now")

    def get_fieldsets(self, request: HttpRequest, obj: Customer | None = None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            # Before the collapsed "Record" block, if the customer page ends with one.
            at = len(fieldsets) - 1 if fieldsets and fieldsets[-1][0] == "Record" else len(fieldsets)
            fieldsets.insert(at, ("Prices that apply now", {"fields": ("prices_now",)}))
        return fieldsets

    @admin.display(description="Prices that apply now")
    def prices_now(self, customer: Customer) -> str:
        return explain_table_html(customer) if customer.pk else "—"
