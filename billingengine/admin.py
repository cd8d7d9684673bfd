"""Admin plumbing shared by the apps (service-backed, history-keeping admins) and the API key admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.functional import cached_property
from rest_framework_api_key.models import APIKey
from simple_history.admin import SimpleHistoryAdmin

from billingengine.errors import DomainError
from billingengine.models import ApiKey
from billingengine.services import api_key_create, api_key_revoke


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

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self._require_valid_ids(object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request: HttpRequest, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is read-only; change the object on its own page.")
        self._require_valid_ids(object_id, version_id)
        return super().history_form_view(request, object_id, version_id, extra_context)

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


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys: created here (shown once), listed with their owner and last use, revoked."""

    list_display = ("name", "prefix", "user", "created", "last_used_at", "revoked")
    list_filter = ("revoked", "created")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username")
    autocomplete_fields = ("user",)
    ordering = ("-created",)
    actions = ("revoke_selected",)
    readonly_fields = ("name", "prefix", "user", "created", "last_used_at", "expiry_date", "revoked")

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

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            return  # a key's fields cannot be edited; it can only be revoked (action)
        api_key, key = api_key_create(user=form.cleaned_data["user"], name=form.cleaned_data["name"])
        obj.pk = api_key.pk
        obj.id = api_key.id
        obj.prefix = api_key.prefix
        self.message_user(
            request,
            f"The API key “{api_key.name}” for {api_key.user} is: {key} — store it now: it is shown only this "
            "once and cannot be recovered. Send it as “Authorization: Bearer <key>”.",
            messages.WARNING,
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

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
