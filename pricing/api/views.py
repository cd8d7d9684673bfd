"""Price list and rate endpoints, and the explanation of the prices that apply to a customer."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from billingengine.api.permissions import ModelPermissions
from billingengine.api.serializers import CreatedSerializer
from billingengine.api.views import ResourceViewSet, WritableResourceViewSet
from customers.models import Customer
from pricing import resolver, services
from pricing.api.serializers import (
    ExplainQuerySerializer,
    ExplainSerializer,
    PriceListSerializer,
    RateCreateSerializer,
    RateSerializer,
    explain_representation,
)
from pricing.filters import PriceListFilterSet, RateFilterSet
from pricing.models import PriceList, Rate

PRICE_LIST_ID = OpenApiParameter("price_list_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The list.")


@extend_schema_view(
    list=extend_schema(summary="List price lists"),
    retrieve=extend_schema(summary="Price list detail"),
    create=extend_schema(summary="Create a price list", responses={201: CreatedSerializer}),
    update=extend_schema(summary="Replace a price list"),
    partial_update=extend_schema(summary="Change some fields of a price list"),
    destroy=extend_schema(summary="Delete a price list and its rates (409 price_list_in_use once billed)"),
)
class PriceListViewSet(WritableResourceViewSet):
    """Price lists: default ones, a group's, or one customer's."""

    queryset = PriceList.objects.all()
    serializer_class = PriceListSerializer
    filterset_class = PriceListFilterSet
    ordering_fields = ("name", "created_at", "updated_at")
    ordering = "name"
    basename = "price-list"

    def perform_service_create(self, data: dict) -> PriceList:
        return services.price_list_create(**data)

    def perform_service_update(self, obj: PriceList, changes: dict, replace: bool) -> None:
        services.price_list_update(price_list=obj, changes=changes, replace=replace)

    def perform_service_destroy(self, obj: PriceList) -> None:
        services.price_list_delete(price_list=obj)


@extend_schema_view(
    list=extend_schema(summary="List the rates of a price list", parameters=[PRICE_LIST_ID]),
    retrieve=extend_schema(
        summary="Rate detail",
        parameters=[PRICE_LIST_ID, OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    ),
    create=extend_schema(
        summary="Add a rate to a price list (rates are immutable: a price change is a new rate)",
        parameters=[PRICE_LIST_ID],
        request=RateCreateSerializer,
        responses={201: CreatedSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a rate (409 rate_in_use once billed)",
        parameters=[PRICE_LIST_ID, OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    ),
)
class RateViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, ResourceViewSet):
    """The rates of one price list: created and deleted, never changed (PUT and PATCH are 405)."""

    # A viewset of its own under the list's path rather than actions on the list's viewset: a rate has its own
    # detail route, filters and pagination, which actions would have to rebuild.

    serializer_class = RateSerializer
    filterset_class = RateFilterSet
    ordering_fields = ("valid_from", "created_at")
    ordering = "valid_from"
    basename = "rate"
    permission_model = Rate

    def get_price_list(self) -> PriceList:
        price_list = getattr(self, "_price_list", None)
        if price_list is None:
            try:
                pk = PriceList._meta.pk.to_python(self.kwargs["price_list_id"])
            except DjangoValidationError as error:  # a malformed id is an unknown resource
                raise NotFound() from error
            price_list = self._price_list = get_object_or_404(PriceList, pk=pk)
        return price_list

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Rate.objects.none()
        return Rate.objects.filter(price_list=self.get_price_list()).with_valid_to()

    def create(self, request, *args, **kwargs):
        price_list = self.get_price_list()
        serializer = RateCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rate = services.rate_create(price_list=price_list, **serializer.validated_data)
        location = request.build_absolute_uri(reverse("api:rate-detail", args=[price_list.pk, rate.pk]))
        return Response(CreatedSerializer(rate).data, status=201, headers={"Location": location})

    def perform_destroy(self, instance: Rate) -> None:
        services.rate_delete(rate=instance)


class ExplainPermissions(ModelPermissions):
    """Reading the prices of a customer needs the view permission on customers and on rates."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.user.has_perm("customers.view_customer")


@extend_schema_view(
    get=extend_schema(
        summary="The rates that apply to a customer at a moment, and why",
        description="Per code, the rate chosen by the walk (the customer's own lists by priority, then the lists of "
        "the groups it was a member of at that moment by priority, then the default lists by priority; the first "
        "list with a rate of the code valid then wins) and every candidate list with its outcome.",
        parameters=[
            OpenApiParameter("customer_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The customer."),
            ExplainQuerySerializer,
        ],
        responses=ExplainSerializer,
        tags=["customers"],
    )
)
class CustomerRatesView(generics.GenericAPIView):
    """`GET /customers/{id}/rates`: the explanation of a customer's prices."""

    permission_classes = [ExplainPermissions]
    permission_model = Rate
    queryset = Customer.objects.all()
    pagination_class = None
    filter_backends = []
    serializer_class = ExplainSerializer

    def get(self, request, customer_id=None):
        try:
            pk = Customer._meta.pk.to_python(customer_id)
        except DjangoValidationError as error:
            raise NotFound() from error
        if not Customer.objects.filter(pk=pk).exists():
            raise NotFound()
        query = ExplainQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        at = query.validated_data.get("at") or timezone.now()
        items = resolver.explain(customer_id=pk, at=at, code=query.validated_data.get("code"))
        return Response(explain_representation(at, items))
