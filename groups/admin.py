"""Customer groups and memberships in the admin (labelled "Customer groups" so staff never confuse them
with Django's permission groups)."""

from __future__ import annotations

from datetime import UTC
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, get_urlconf, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from billingengine.admin import LargeTablePaginator, ServiceHistoryAdmin
from billingengine.errors import DomainError, GroupNameTaken
from billingengine.validators import normalize_text
from customers.models import Customer
from groups.models import Group, Membership
from groups.services import GROUP_FIELDS, group_create, group_delete, group_update, membership_add, membership_remove


@lru_cache(maxsize=16)
def _customer_changelist(script_prefix: str, urlconf: str | None) -> str:
    return reverse("admin:customers_customer_changelist", urlconf=urlconf)


def members_url(group: Group) -> str:
    """Return the customer list filtered to the group's current members."""
    # Reversed once per script prefix and URLconf, not once per row of the group list (100 reverses a page).
    changelist = _customer_changelist(get_script_prefix(), get_urlconf())
    return f"{changelist}?{urlencode({'group': str(group.pk)})}"


class GroupAdminForm(forms.ModelForm):
    """A customer group's name and description; names are unique ignoring case, as in the API."""

    class Meta:
        model = Group
        fields = GROUP_FIELDS

    def clean_name(self) -> str:
        name = normalize_text(self.cleaned_data.get("name")) or ""
        existing = Group.objects.filter(name__iexact=name).exclude(pk=self.instance.pk).values_list("pk", flat=True)
        existing_id = next(iter(existing), None)
        if existing_id is not None:
            raise forms.ValidationError(GroupNameTaken(name, existing_id).detail, code="unique")
        return name


class MembershipsGoWithItMixin:
    """For the admin of what memberships belong to (customers, groups): deleting one deletes its memberships,
    as in the API (a group only once they have ended), so deleting needs no permission to delete memberships."""

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(Membership._meta.verbose_name)
        return deleted, model_count, perms_needed, protected


@admin.register(Group)
class GroupAdmin(MembershipsGoWithItMixin, ServiceHistoryAdmin):
    """Customer groups with their current member counts (one query for the whole page)."""

    form = GroupAdminForm
    list_display = ("name", "customer_count", "members", "created_at")
    search_fields = ("name", "description")
    ordering = ("name",)
    readonly_fields = ("current_members", "id", "created_at", "updated_at")
    history_fields = GROUP_FIELDS

    def get_fieldsets(self, request: HttpRequest, obj: Group | None = None):
        if obj is None:  # a new group has no members and no record data yet
            return ((None, {"fields": ("name", "description")}),)
        return (
            (None, {"fields": ("name", "description")}),
            ("Members", {"fields": ("current_members",)}),
            ("Record", {"fields": ("id", "created_at", "updated_at"), "classes": ("collapse",)}),
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return super().get_queryset(request).with_customer_count()

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        # Deleting goes one group at a time, through the page that explains the non-empty guard.
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="current members", ordering="customer_count")
    def customer_count(self, group: Group) -> int:
        return group.customer_count

    @admin.display(description="member list")
    def members(self, group: Group) -> str:
        return format_html('<a href="{}">View members</a>', members_url(group))

    @admin.display(description="Current members")
    def current_members(self, group: Group) -> str:
        if group.pk is None:
            return "—"
        count = getattr(group, "customer_count", None)
        if count is None:
            count = Membership.objects.current().filter(group=group).count()
        if not count:
            return "No current members."
        return format_html(
            '{} — <a href="{}">list them (with links to each customer)</a>', f"{count:,}", members_url(group)
        )

    def save_model(self, request: HttpRequest, obj: Group, form: GroupAdminForm, change: bool) -> None:
        data = {field: form.cleaned_data[field] for field in GROUP_FIELDS if field in form.cleaned_data}
        if change:
            saved = group_update(group=Group.objects.select_for_update().get(pk=obj.pk), changes=data)
        else:
            saved = group_create(**data)
        for field in ("id", *GROUP_FIELDS, "created_at", "updated_at"):
            setattr(obj, field, getattr(saved, field))
        obj._state.adding = False

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None):
        group = self.get_object(request, object_id)
        if group is not None and self.has_delete_permission(request, group) and group.customer_count:
            context = {
                **self.admin_site.each_context(request),
                "title": "Cannot delete a customer group that has members",
                "opts": self.model._meta,
                "object": group,
                "count": group.customer_count,
                "members_url": members_url(group),
            }
            return TemplateResponse(request, "admin/groups/group/delete_blocked.html", context)
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as error:  # members joined while the confirmation page was open
            self.message_user(request, f"Nothing was deleted: {error.detail}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:groups_group_change", args=[object_id]))

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Deleting hides the group and keeps its memberships for the history (as in the API): only the group
        # is listed; what protects it (a price list) still blocks the delete.
        perms_needed.discard(Membership._meta.verbose_name)
        deleted = [str(obj) for obj in objs]
        model_count = {Group._meta.verbose_name_plural: len(objs)}
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Group) -> None:
        group_delete(group=obj)


class GroupListFilter(admin.SimpleListFilter):
    """Rows of one customer group, picked by name among all groups (groups are few); `filter_group` says how."""

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
        except ValidationError as error:  # a malformed id in the URL: the admin answers with its "?e=1" page
            raise IncorrectLookupParameters(error) from error
        return self.filter_group(queryset, group_id)

    def filter_group(self, queryset: QuerySet, group_id: Any) -> QuerySet:
        raise NotImplementedError


class MembershipGroupFilter(GroupListFilter):
    """Memberships of one customer group."""

    def filter_group(self, queryset: QuerySet, group_id: Any) -> QuerySet:
        return queryset.filter(group_id=group_id)


class MembershipStateFilter(admin.SimpleListFilter):
    """Current, scheduled or ended memberships."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin):
        return [("current", "Current"), ("scheduled", "Scheduled"), ("ended", "Ended")]

    def queryset(self, request: HttpRequest, queryset: QuerySet):
        now = timezone.now()
        if self.value() == "current":
            return queryset.active_at(now)
        if self.value() == "scheduled":
            return queryset.filter(joined_at__gt=now)
        if self.value() == "ended":
            return queryset.filter(left_at__lte=now)
        return queryset


class ScheduleMembershipForm(forms.Form):
    """A membership change of one customer at a chosen time: join a group from a moment, or leave it at one."""

    change = forms.ChoiceField(
        choices=[("join", "Join the customer group from"), ("leave", "Leave the customer group at")],
        widget=forms.RadioSelect,
    )
    group = forms.ModelChoiceField(queryset=Group.objects.all(), label="Customer group")
    at = forms.SplitDateTimeField(
        widget=AdminSplitDateTime,
        label="Date and time (UTC)",
        help_text="Past (backdated) or future (scheduled). A scheduled membership is not current until then.",
    )


@admin.register(Membership)
class MembershipAdmin(ServiceHistoryAdmin):
    """Memberships, read-only: they change through the customer page or the bulk actions, and their
    history (who added or removed a customer, when) is on each membership's History page."""

    list_display = ("customer", "group", "joined_at", "left_at")
    list_select_related = ("customer", "group")
    list_filter = (MembershipGroupFilter, MembershipStateFilter, "joined_at")
    show_facets = admin.ShowFacets.NEVER  # facet counts would count millions of memberships per choice
    # Exact external ID (unique index) or exact group name; a name search over millions of rows belongs in the API.
    search_fields = ("=customer__external_id", "=group__name")
    search_help_text = "The customer's exact external ID, or the customer group's exact name."
    # Each customer's memberships together, in time order: served by the (customer, joined_at) index, so
    # the page does not sort the whole table.
    ordering = ("customer_id", "joined_at")
    show_full_result_count = False
    paginator = LargeTablePaginator
    fields = ("customer", "group", "joined_at", "left_at")
    readonly_fields = fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Index lookups only: the customer by its external ID (unique index), else the group by its name.
        customer_ids = Customer.objects.filter(external_id=term).values("pk")
        group_ids = Group.objects.filter(name__iexact=term).values("pk")
        return queryset.filter(Q(customer_id__in=customer_ids) | Q(group_id__in=group_ids)), False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        # The title, breadcrumbs and history name the customer and the group, not their ids.
        return super().get_queryset(request).select_related("customer", "group")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return False

    def get_urls(self):
        schedule = path(
            "schedule/<uuid:customer_id>/",
            self.admin_site.admin_view(self.schedule_view),
            name="groups_membership_schedule",
        )
        return [schedule, *super().get_urls()]

    def schedule_view(self, request: HttpRequest, customer_id):
        """Schedule (or backdate) one customer's joining or leaving a group, through the membership service."""
        may_join = request.user.has_perm("groups.add_membership")
        may_leave = request.user.has_perm("groups.delete_membership")
        if not (may_join or may_leave):
            raise PermissionDenied
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            self.message_user(request, "No such customer.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:customers_customer_changelist"))
        back = reverse("admin:customers_customer_change", args=[customer.pk])
        form = ScheduleMembershipForm(request.POST or None, initial={"change": "join", "at": timezone.now()})
        if form.is_bound and form.is_valid():
            change, group, at = (form.cleaned_data[f] for f in ("change", "group", "at"))
            if not (may_join if change == "join" else may_leave):
                raise PermissionDenied
            try:
                with transaction.atomic():
                    if change == "join":
                        membership_add(group=group, customer=customer, joined_at=at, user=request.user)
                    else:
                        membership_remove(group=group, customer=customer, left_at=at, user=request.user)
            except DomainError as error:
                # The API's joined_at / left_at is this form's "at".
                form.add_error("at" if error.field in ("joined_at", "left_at") else None, error.detail)
            else:
                verb = "joins" if change == "join" else "leaves"
                when = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
                self.message_user(request, f"{customer} {verb} customer group “{group}” at {when}.", messages.SUCCESS)
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Schedule a membership change of {customer}",
            "opts": self.model._meta,
            "customer": customer,
            "back": back,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/groups/membership/schedule.html", context)
