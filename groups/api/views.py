"""Customer group endpoints, with the group's members as a sub-resource."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from billingengine.api.serializers import CreatedSerializer
from billingengine.api.views import WritableResourceViewSet
from customers.api.serializers import CustomerSerializer
from customers.models import Customer
from customers.querysets import attach_group_ids
from groups import services
from groups.api.serializers import (
    GroupSerializer,
    MembershipCreateSerializer,
    MembershipEndQuerySerializer,
    MembershipSerializer,
)
from groups.filters import GroupFilterSet
from groups.models import Group, Membership


class ForceQuerySerializer(serializers.Serializer):
    force = serializers.BooleanField(required=False, default=False)


@extend_schema_view(
    list=extend_schema(summary="List customer groups"),
    retrieve=extend_schema(summary="Customer group detail"),
    create=extend_schema(summary="Create a customer group", responses={201: CreatedSerializer}),
    update=extend_schema(summary="Replace a customer group"),
    partial_update=extend_schema(summary="Change some fields of a customer group"),
    destroy=extend_schema(
        summary="Delete a customer group",
        parameters=[
            OpenApiParameter(
                "force", OpenApiTypes.BOOL, description="Also when it has current members: their memberships end first."
            )
        ],
    ),
)
class GroupViewSet(WritableResourceViewSet):
    """Customer groups (segments) that decide which price lists apply."""

    queryset = Group.objects.with_customer_count()
    serializer_class = GroupSerializer
    filterset_class = GroupFilterSet
    ordering_fields = ("name", "created_at")
    ordering = "name"
    basename = "group"

    def get_queryset(self):
        # Only the group's own representation shows customer_count; the membership routes need the group
        # alone, so they skip counting its members (tens of thousands in a large segment).
        if self.action in ("customers", "add_customer", "remove_customer"):
            return Group.objects.all()
        return super().get_queryset()

    def perform_service_create(self, data: dict) -> Group:
        return services.group_create(**data)

    def perform_service_update(self, obj: Group, changes: dict, replace: bool) -> None:
        services.group_update(group=obj, changes=changes, replace=replace)

    def perform_service_destroy(self, obj: Group) -> None:
        params = ForceQuerySerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        services.group_delete(group=obj, force=params.validated_data["force"], user=self.request.user)

    @extend_schema(summary="Current members of the group", responses=CustomerSerializer(many=True), filters=False)
    @action(
        detail=True,
        methods=["get"],
        permission_model=Membership,
        filterset_class=None,
        ordering_fields=("created_at", "name"),
        ordering="created_at",
    )
    def customers(self, request, *args, **kwargs):
        group = self.get_object()
        page = attach_group_ids(self.paginate_queryset(Customer.objects.in_group(group)))
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(
        summary="Add a customer to the group",
        request=MembershipCreateSerializer,
        responses={
            201: OpenApiResponse(MembershipSerializer, description="The membership starts at joined_at (default now)."),
            200: OpenApiResponse(
                MembershipSerializer, description="No joined_at and already a current member: the existing one."
            ),
        },
    )
    @customers.mapping.post
    def add_customer(self, request, *args, **kwargs):
        group = self.get_object()
        serializer = MembershipCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership, created = services.membership_add(
            group=group,
            customer=serializer.validated_data["customer"],
            joined_at=serializer.validated_data.get("joined_at"),
            user=request.user,
        )
        return Response(MembershipSerializer(membership).data, status=201 if created else 200)

    @extend_schema(
        summary="Remove a customer from the group (the membership ends)",
        parameters=[
            OpenApiParameter("customer_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter(
                "left_at",
                OpenApiTypes.DATETIME,
                description="When the membership ends (default now; past or future): the membership current at that "
                "instant ends then (404 if there is none).",
            ),
        ],
        responses={204: None},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"customers/(?P<customer_id>[^/.]+)",
        permission_model=Membership,
        filterset_class=None,
    )
    def remove_customer(self, request, customer_id=None, *args, **kwargs):
        group = self.get_object()
        try:
            customer_id = Customer._meta.pk.to_python(customer_id)
        except DjangoValidationError as error:  # a malformed id is an unknown resource
            raise NotFound("The customer is not a current member of this group.") from error
        params = MembershipEndQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        services.membership_remove(
            group=group, customer=customer_id, left_at=params.validated_data.get("left_at"), user=request.user
        )
        return Response(status=204)
