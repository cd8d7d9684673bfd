"""Admin plumbing shared by the apps (service-backed, history-keeping admins) and the API key admin."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import capfirst
from rest_framework_api_key.models import APIKey
from simple_history.admin import SimpleHistoryAdmin

from billingengine.display import format_moment
from billingengine.errors import DomainError
from billingengine.models import ApiKey
from billingengine.services import api_key_create, api_key_revoke

HISTORY_ACTIONS = {"+": "Created", "~": "Changed", "-": "Deleted"}


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a History page."""

    when: datetime
    who: Any
    action: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    reason: str = ""
    created: bool = False
    detail: str = ""
    version_url: str | None = None


def label_of(model, name: str) -> str:
    return capfirst(model._meta.get_field(name).verbose_name)


def display_value(model, name: str, instance) -> str:
    """Return a field's value as staff read it ("—" when empty)."""
    model_field = model._meta.get_field(name)
    value = getattr(instance, model_field.attname, None)
    if value is None or value == "":
        return "—"
    if model_field.is_relation:
        try:
            return str(getattr(instance, model_field.name))
        except ObjectDoesNotExist:
            return f"deleted ({value})"
    if getattr(model_field, "choices", None):
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, datetime):
        return format_moment(value)
    if hasattr(value, "code") and hasattr(value, "name"):  # a django-countries Country
        return f"{value.name} ({value.code})" if value.code else "—"
    return str(value)


def field_changes(model, fields, previous, record) -> list[tuple[str, str, str]]:
    """Return (label, old, new) for each field that differs between two versions (all set fields if no previous)."""
    changes = []
    for name in fields:
        new = display_value(model, name, record)
        old = display_value(model, name, previous) if previous is not None else "—"
        if previous is None and new == "—":
            continue
        if old != new:
            changes.append((label_of(model, name), old, new))
    return changes


def domain_error_message(error: DomainError) -> str:
    """Return the message staff see for a domain error (the same text the API sends as `detail`)."""
    return error.detail


class ServiceHistoryAdmin(SimpleHistoryAdmin):
    """A model admin whose writes go through services and whose objects show their change history.

    Forms validate the rules up front (so staff get field errors); a domain error raised by a service
    anyway (a race with a concurrent write) rolls the whole request back and is shown as a message,
    never as a server error. History is read-only: reverting an old version would bypass the services.
    """

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:  # the atomic block of changeform_view has rolled everything back
            self.message_user(request, f"Nothing was saved: {domain_error_message(error)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def revert_disabled(self, request: HttpRequest, obj=None) -> bool:
        return True

    def _require_valid_ids(self, object_id: str, version_id: str | None = None) -> None:
        """Answer 404 for a malformed id in a history URL (simple-history would fail with a 500)."""
        try:
            self.model._meta.pk.to_python(unquote(object_id))
            if version_id is not None:
                int(version_id)
        except (ValidationError, ValueError, TypeError) as error:
            raise Http404("No such object.") from error

    #: Fields compared between versions on the History page (default: the fields of the admin's form).
    history_fields: tuple[str, ...] = ()
    #: At most this many rows on the History page (newest first).
    history_limit = 200
    object_history_template = "admin/history_timeline.html"
    object_history_form_template = "admin/history_version.html"

    def get_history_fields(self) -> tuple[str, ...]:
        if self.history_fields:
            return tuple(self.history_fields)
        return tuple(
            f.name for f in self.model._meta.concrete_fields if not f.primary_key and f.name not in ("updated_at",)
        )

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        """Every change of the object, newest first: when, who, which fields from what to what, and why."""
        self._require_valid_ids(object_id)
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        entries = sorted(
            [*self.history_entries(obj), *self.extra_history_entries(request, obj)],
            key=lambda entry: entry.when,
            reverse=True,
        )[: self.history_limit]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change history: {obj}",
            "subtitle": None,
            "opts": self.model._meta,
            "app_label": self.model._meta.app_label,
            "object": obj,
            "entries": entries,
            "has_created_entry": any(entry.created for entry in entries),
            "history_limit": self.history_limit,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_template, context)

    def history_entries(self, obj) -> list[HistoryEntry]:
        """The object's own versions, each compared with the one before it."""
        fields = self.get_history_fields()
        records = list(obj.history.select_related("history_user").order_by("history_date", "history_id"))
        entries = []
        previous = None
        for record in records:
            changes = field_changes(self.model, fields, previous, record)
            entries.append(
                HistoryEntry(
                    when=record.history_date,
                    who=record.history_user,
                    action=HISTORY_ACTIONS.get(record.history_type, record.history_type),
                    changes=changes,
                    reason=record.history_change_reason or "",
                    created=record.history_type == "+",
                    version_url=reverse(
                        f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_simple_history",
                        args=[obj.pk, record.history_id],
                    ),
                )
            )
            previous = record
        return entries

    def extra_history_entries(self, request: HttpRequest, obj) -> list[HistoryEntry]:
        """More rows for the History page (e.g. a customer's membership changes)."""
        return []

    def history_form_view(self, request: HttpRequest, object_id, version_id, extra_context=None):
        """An old version, read-only: its own field values then, nothing of today's relations."""
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is read-only; change the object on its own page.")
        self._require_valid_ids(object_id, version_id)
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        record = obj.history.filter(history_id=int(version_id)).select_related("history_user").first()
        if record is None:
            raise Http404("No such version.")
        fields = self.get_history_fields()
        rows = [(label_of(self.model, name), display_value(self.model, name, record)) for name in fields]
        context = {
            **self.admin_site.each_context(request),
            "title": f"{obj} as of {format_moment(record.history_date)}",
            "subtitle": None,
            "opts": self.model._meta,
            "object": obj,
            "record": record,
            "action": HISTORY_ACTIONS.get(record.history_type, record.history_type),
            "rows": rows,
            "history_url": reverse(
                f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_history", args=[obj.pk]
            ),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.object_history_form_template, context)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Save nothing besides the object: inlines here are read-only and relations are set by services."""


# ---------------------------------------------------------------------------------------------------
# API keys

if admin.site.is_registered(APIKey):
    # rest_framework_api_key registers its own concrete model; ours (ApiKey) is the one in use.
    admin.site.unregister(APIKey)


class ApiKeyCreationForm(forms.ModelForm):
    """Name a new key and choose the user it acts as; the key itself is generated and shown once."""

    class Meta:
        model = ApiKey
        fields = ("user", "name")
        help_texts = {"name": "A label, e.g. “crm-sync” (1 to 50 characters)."}

    def clean_name(self) -> str:
        name = (self.cleaned_data.get("name") or "").strip()
        if not name:
            raise forms.ValidationError("The key's name must be 1 to 50 characters.")
        return name


class ChoiceListFilter(admin.SimpleListFilter):
    """A list filter whose few fixed choices each select the rows matching a condition:
    `conditions = {"value": ("Label", Q(...))}`."""

    conditions: dict[str, tuple[str, Q]] = {}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [(value, label) for value, (label, _condition) in self.conditions.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet):
        choice = self.conditions.get(self.value())
        return queryset if choice is None else queryset.filter(choice[1])


class ApiKeyStatusFilter(ChoiceListFilter):
    """Active or revoked keys (the same words as the Status column)."""

    title = "status"
    parameter_name = "status"
    conditions = {"active": ("Active", Q(revoked=False)), "revoked": ("Revoked", Q(revoked=True))}


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys: created here (shown once), listed with their owner, status and last use, revoked (never deleted:
    a revoked key stays listed, so staff can see which integration used which key)."""

    list_display = ("name", "prefix", "user", "status", "created", "last_used_at")
    list_filter = (ApiKeyStatusFilter, "created")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username")
    autocomplete_fields = ("user",)
    ordering = ("-created",)
    actions = ("revoke_selected",)
    readonly_fields = ("name", "prefix", "user", "status", "created", "last_used_at", "expiry_date")
    change_form_template = "admin/billingengine/apikey/change_form.html"

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ("user", "name")
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if obj is None else self.readonly_fields

    @admin.display(description="status", ordering="revoked")
    def status(self, api_key: ApiKey) -> str:
        if api_key.revoked:
            return format_html('<span class="key-status key-revoked">{}</span>', "Revoked")
        if api_key.has_expired:
            return format_html('<span class="key-status key-revoked">{}</span>', "Expired")
        return format_html('<span class="key-status key-active">{}</span>', "Active")

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            return  # a key's fields cannot be edited; it can only be revoked
        api_key, key = api_key_create(user=form.cleaned_data["user"], name=form.cleaned_data["name"])
        obj.pk = api_key.pk
        obj.id = api_key.id
        obj.prefix = api_key.prefix
        self.message_user(
            request,
            format_html(
                "The API key “{}” for {} is: "
                '<code class="api-key-once" id="new-api-key">{}</code>'
                '<button type="button" class="button copy-api-key" data-copy="#new-api-key">Copy</button>'
                " — store it now: it is shown only this once and cannot be recovered. "
                "Send it as “Authorization: Bearer &lt;key&gt;”.",
                api_key.name,
                api_key.user,
                key,
            ),
            messages.WARNING,
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        """Keys are revoked, never deleted: the list keeps showing which keys existed."""
        return False

    def get_urls(self):
        urls = super().get_urls()
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name="billingengine_apikey_revoke",
        )
        return [revoke, *urls]

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The Revoke button of a key's page (POST only); the key stops working on the next request."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        api_key = self.get_object(request, unquote(object_id))
        if api_key is None:
            raise Http404("No such API key.")
        was_revoked = api_key.revoked
        api_key_revoke(prefix=api_key.prefix)
        if was_revoked:
            self.message_user(request, f"The API key “{api_key.name}” was already revoked.", messages.INFO)
        else:
            self.message_user(
                request,
                f"Revoked the API key “{api_key.name}” ({api_key.prefix}…); it stops working immediately.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:billingengine_apikey_change", args=[api_key.pk]))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {**(extra_context or {}), "can_revoke": self.has_revoke_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Revoke selected API keys", permissions=("revoke",))
    def revoke_selected(self, request: HttpRequest, queryset) -> HttpResponse | None:
        revoked = 0
        for api_key in queryset.filter(revoked=False):
            api_key_revoke(prefix=api_key.prefix)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s); revoked keys stop working immediately.")
        return None

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking is a change of the key."""
        return super().has_change_permission(request)


# ---------------------------------------------------------------------------------------------------
# Big tables


class LargeTablePaginator(Paginator):
    """A paginator that never counts a whole big table.

    Unfiltered on PostgreSQL it uses the planner's row estimate (`pg_class.reltuples`, kept fresh by
    autovacuum); filtered it counts at most `count_limit + 1` rows. `is_estimate` / `is_capped` say
    which, so the page can print "about" or "more than".
    """

    count_limit = 10_000
    #: Below this many (estimated) rows an exact count is cheap and nicer.
    estimate_threshold = 100_000

    is_estimate = False
    is_capped = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if not queryset.query.where and connections[queryset.db].vendor == "postgresql":
            estimate = self._estimate(queryset)
            if estimate >= self.estimate_threshold:
                self.is_estimate = True
                return estimate
        counted = queryset.order_by()[: self.count_limit + 1].count()
        if counted > self.count_limit:
            self.is_capped = True
        return counted

    @staticmethod
    def _estimate(queryset: QuerySet) -> int:
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [queryset.model._meta.db_table]
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] and row[0] > 0 else 0


# ---------------------------------------------------------------------------------------------------
# Keyset ("seek") pagination: page 1 and page 5,000 cost the same.

AFTER_VAR = "after"
BEFORE_VAR = "before"


def encode_cursor(value: Any, pk: Any) -> str:
    """Return the URL token of a row's position: its ordering value and its id."""
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([value, str(pk)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[Any, str]:
    """Return (value, id) from a token of `encode_cursor`; ValueError when it is not one."""
    try:
        value, pk = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, binascii.Error) as error:
        raise ValueError("not a page position") from error
    if not isinstance(pk, str) or not (value is None or isinstance(value, str | int | float)):
        raise ValueError("not a page position")
    return value, pk


class KeysetChangeList(ChangeList):
    """A change list that pages by position instead of by number ("seek" pagination).

    `?p=5000` makes the database read and throw away 250,000 rows; here the next page starts after the
    last row shown (`?after=<its sort value and id>`), which an index on (ordering field, id) finds
    directly, so every page costs the same. The price: no page numbers, only first / previous / next.
    Filters, search and sorting keep working; the position is dropped whenever they change.

    The model admin lists the fields it may sort by in `keyset_fields` (non-null fields with an index on
    (field, id)); any other ordering falls back to the admin's default.
    """

    cursor_vars = (AFTER_VAR, BEFORE_VAR)

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        for var in self.cursor_vars:
            lookup_params.pop(var, None)
        return lookup_params

    def get_query_string(self, new_params=None, remove=None):
        # Any other change (a filter, the sort, a search) starts again from the first page.
        new_params = {**dict.fromkeys(self.cursor_vars), PAGE_VAR: None, **(new_params or {})}
        return super().get_query_string(new_params, remove)

    def keyset_order(self) -> tuple[str, bool]:
        """Return (field, descending) of the list's first ordering field, if the keyset can serve it."""
        allowed = set(getattr(self.model_admin, "keyset_fields", ()))
        ordering = [o for o in self.queryset.query.order_by if isinstance(o, str)]
        for candidate in (*ordering[:1], *self.model_admin.get_ordering(None)[:1]):
            descending = candidate.startswith("-")
            field = candidate.lstrip("-")
            if field in allowed:
                return field, descending
        return "pk", True

    def get_results(self, request: HttpRequest) -> None:
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        self.paginator = paginator
        self.result_count = paginator.count  # an estimate or a capped count on big tables
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.can_show_all = False
        self.show_all = False

        field, descending = self.keyset_order()
        self.keyset_field = field
        sign = "-" if descending else ""
        forward = [f"{sign}{field}", f"{sign}pk"] if field != "pk" else [f"{sign}pk"]
        backward = [o[1:] if o.startswith("-") else f"-{o}" for o in forward]
        size = self.list_per_page
        after, before = request.GET.get(AFTER_VAR), request.GET.get(BEFORE_VAR)
        try:
            if before:
                rows = list(self._seek(self.queryset, before, field, not descending).order_by(*backward)[: size + 1])
                self.has_previous = len(rows) > size
                rows = rows[:size][::-1]
                self.has_next = True
            else:
                queryset = self._seek(self.queryset, after, field, descending) if after else self.queryset
                rows = list(queryset.order_by(*forward)[: size + 1])
                self.has_next = len(rows) > size
                rows = rows[:size]
                self.has_previous = bool(after)
        except (ValueError, ValidationError) as error:
            raise IncorrectLookupParameters(error) from error
        self.result_list = rows
        self.multi_page = self.has_next or self.has_previous
        self.is_first_page = not self.has_previous
        self.first_url = self.get_query_string()
        self.next_url = self.get_query_string({AFTER_VAR: self._cursor(rows[-1], field)}) if self.has_next else None
        self.previous_url = (
            self.get_query_string({BEFORE_VAR: self._cursor(rows[0], field)}) if self.has_previous and rows else None
        )

    def _seek(self, queryset: QuerySet, token: str, field: str, descending: bool) -> QuerySet:
        value, pk = decode_cursor(token)
        pk = self.model._meta.pk.to_python(pk)
        if field == "pk":
            return queryset.filter(pk__lt=pk) if descending else queryset.filter(pk__gt=pk)
        value = self.model._meta.get_field(field).to_python(value)
        if value is None:
            raise ValueError("not a page position")
        # (field, id) beyond (value, pk); the first condition lets the (field, id) index start right there.
        op = "lt" if descending else "gt"
        return queryset.filter(
            Q(**{f"{field}__{op}e": value}) & (Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk}))
        )

    @staticmethod
    def _cursor(row: Any, field: str) -> str:
        return encode_cursor(getattr(row, field) if field != "pk" else None, row.pk)
