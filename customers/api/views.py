"""Customer endpoints."""

from __future__ import annotations

from functools import cache

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

from billingengine.api.compiled import CompiledGet
from billingengine.api.serializers import CreatedSerializer
from billingengine.api.views import WritableResourceViewSet
from customers import services
from customers.api.serializers import CustomerSerializer
from customers.filters import CustomerFilterSet
from customers.models import Customer
from customers.querysets import attach_group_id_array, attach_group_ids
from groups.api.serializers import CustomerMembershipSerializer, GroupSerializer
from groups.models import Group, Membership
from groups.services import customer_set_groups, resolve_group_ids


@cache
def _read_queryset():
    """The retrieve's and the list's queryset on PostgreSQL, built once per process (its subquery reads
    "now" when it runs); None elsewhere (the customers, then one query for their group ids)."""
    return Customer.objects.with_group_id_array() if connection.vendor == "postgresql" else None


#: The retrieve's `get(pk=...)` on the read queryset, compiled once per process (billingengine/api/compiled.py).
_retrieve_customer = CompiledGet(lambda: _read_queryset() if _read_queryset() is not None else Customer.objects.all())


class AtQuerySerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, help_text="List the groups at this moment instead of now.")


@extend_schema_view(
    list=extend_schema(summary="List customers"),
    retrieve=extend_schema(summary="Customer detail"),
    create=extend_schema(summary="Create a customer", responses={201: CreatedSerializer}),
    update=extend_schema(summary="Replace a customer"),
    partial_update=extend_schema(summary="Change some fields of a customer"),
    destroy=extend_schema(summary="Delete a customer (its data records stay)"),
)
class CustomerViewSet(WritableResourceViewSet):
    """Customers: the companies whose usage is billed."""

    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    ordering_fields = ("created_at", "name", "updated_at")
    ordering = "created_at"
    basename = "customer"
    #: Routes listing something other than customers.
    SUB_RESOURCES = ("groups", "memberships")
    #: The retrieve reads the customer through its query compiled once per process (False: DRF's plain
    #: `get_object()`; tests compare both).
    compiled_retrieve = True
    #: The list represents `values_list` rows (billingengine/api/views.py, `ResourceViewSet.row_list`): on
    #: PostgreSQL, where the read queryset holds the group ids; SQLite keeps the plain path.
    row_list = True

    def get_queryset(self):
        if self.action in self.SUB_RESOURCES:  # only the customer's id is needed there
            return Customer.objects.only("id")
        if self.action in ("retrieve", "list") and _read_queryset() is not None:
            return _read_queryset().all()  # customers and their current group ids in one query
        return super().get_queryset()

    def get_object(self):
        if self.action == "retrieve" and self.compiled_retrieve:
            customer = self._retrieve_object()
        else:
            customer = super().get_object()
        if self.action in self.SUB_RESOURCES:
            return customer
        if hasattr(customer, "group_id_array"):
            return attach_group_id_array(customer)
        return attach_group_ids([customer])[0]

    def _retrieve_object(self) -> Customer:
        """What DRF's `get_object()` does for the retrieve (404 for an unknown or malformed id, then the object
        permissions), without building and compiling the query each time."""
        try:
            customer = _retrieve_customer(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        except (TypeError, ValueError, ValidationError) as error:
            raise Http404 from error
        if customer is None:
            raise Http404(f"No {Customer._meta.object_name} matches the given query.")
        self.check_object_permissions(self.request, customer)
        return customer

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if self.action in self.SUB_RESOURCES:
            return page
        if page and hasattr(page[0], "group_id_array"):
            return [attach_group_id_array(customer) for customer in page]
        return attach_group_ids(page)  # one query for the page's group ids

    @transaction.atomic
    def perform_service_create(self, data: dict) -> Customer:
        group_ids = data.pop("group_ids", None)
        if group_ids:
            group_ids = resolve_group_ids(group_ids)  # unknown groups fail before anything is written; once
        customer = services.customer_create(**data)
        if group_ids:
            customer_set_groups(customer=customer, group_ids=group_ids, new=True)
        return customer

    @transaction.atomic
    def perform_service_update(self, obj: Customer, changes: dict, replace: bool) -> None:
        services.customer_update(customer=obj, changes=changes, replace=replace)
        if changes.get("group_ids") is not None:
            customer_set_groups(customer=obj, group_ids=changes["group_ids"])

    def perform_service_destroy(self, obj: Customer) -> None:
        services.customer_delete(customer=obj)

    @extend_schema(
        summary="The customer's groups",
        parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME, description="Groups at this moment (default now).")],
        responses=GroupSerializer(many=True),
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        permission_model=Membership,
        filterset_class=None,
        ordering_fields=("name", "created_at"),
        ordering="name",
    )
    def groups(self, request, *args, **kwargs):
        customer = self.get_object()
        params = AtQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        at = params.validated_data.get("at")
        memberships = Membership.objects.filter(customer=customer)
        memberships = memberships.active_at(at) if at else memberships.current()
        # A deleted group ended its memberships when it was deleted, so it can only answer for a moment before.
        groups = Group.all_objects if at else Group.objects
        queryset = groups.filter(id__in=memberships.values("group_id")).with_customer_count()
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(GroupSerializer(page, many=True).data)

    @extend_schema(
        summary="The customer's memberships: past, current and scheduled",
        responses=CustomerMembershipSerializer(many=True),
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        permission_model=Membership,
        filterset_class=None,
        ordering_fields=("joined_at",),
        ordering="joined_at",
    )
    def memberships(self, request, *args, **kwargs):
        """List every membership of the customer by `joined_at`, those of deleted groups included."""
        customer = self.get_object()
        queryset = (
            Membership.objects.filter(customer=customer)
            .select_related("group")
            .only("id", "group_id", "joined_at", "left_at", "group__name")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(CustomerMembershipSerializer(page, many=True).data)
