"""Billing endpoints: the billing summary and issuing of a customer, and the issued bills (immutable)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from billing import services
from billing.api.serializers import BillingSummarySerializer, BillSerializer, PeriodSerializer
from billing.filters import BillFilterSet
from billing.models import Bill
from billing.periods import parse_period
from billing.representation import bill_representation, summary_representation
from billing.statement import statement_pdf
from billing.summary import billing_summary
from billingengine.api.exceptions import PROBLEM_CONTENT_TYPE
from billingengine.api.serializers import CreatedSerializer
from billingengine.api.views import ResourceViewSet
from billingengine.errors import InvalidInput
from customers.models import Customer

_PERIOD_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATETIME, required=True, description="Start (inclusive)."),
    OpenApiParameter("to", OpenApiTypes.DATETIME, required=True, description="End (exclusive)."),
]


class CustomerBillingViewSet(ResourceViewSet):
    """A customer's billing summary (preview) and the issuing of its bills."""

    queryset = Customer.objects.all()
    permission_model = Bill
    serializer_class = PeriodSerializer  # what a bill is issued from (also OPTIONS' description of POST)
    filterset_class = None
    pagination_class = None
    basename = "bill"

    @extend_schema(
        summary="The customer's billing summary of a period (what its bill would be)",
        parameters=_PERIOD_PARAMETERS,
        responses=BillingSummarySerializer,
        filters=False,
    )
    def billing_summary(self, request, *args, **kwargs):
        """Rate the customer's records whose time_from lies in [from, to), per rate stretch."""
        customer = self.get_object()
        start, end = parse_period(request.query_params)
        services.period_validate(start=start, end=end, must_have_ended=False)
        return Response(summary_representation(billing_summary(customer=customer, start=start, end=end)))

    @extend_schema(
        summary="Issue the customer's bill for a period",
        request=PeriodSerializer,
        responses={201: CreatedSerializer},
        filters=False,
    )
    def issue(self, request, *args, **kwargs):
        """Freeze the period's billing summary as a numbered bill (the period must have ended)."""
        customer = self.get_object()
        if isinstance(request.data, dict):
            unknown = sorted(str(key) for key in request.data if key not in ("from", "to"))
            if unknown:
                errors = [{"field": key, "code": "unknown_field", "detail": "Unknown field."} for key in unknown]
                raise InvalidInput(f"{unknown[0]}: Unknown field.", code="invalid", errors=errors)
        start, end = parse_period(request.data)
        return self.created(services.bill_issue(customer=customer, start=start, end=end))


class PDFRenderer(BaseRenderer):
    """The printable statement of a bill."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return JSONRenderer().render(data)  # an error: problem+json (see BillViewSet.finalize_response)


@extend_schema_view(
    list=extend_schema(summary="List issued bills", responses=BillSerializer(many=True)),
    retrieve=extend_schema(summary="Bill detail", responses=BillSerializer),
)
class BillViewSet(ResourceViewSet):
    """Issued bills: immutable (no PUT, PATCH or DELETE)."""

    queryset = Bill.objects.prefetch_related("lines")
    serializer_class = BillSerializer
    filterset_class = BillFilterSet
    ordering_fields = ("issued_at", "number", "period_from")
    ordering = "issued_at"
    basename = "bill"

    def check_permissions(self, request):
        # Bills are immutable: PUT/PATCH/DELETE are 405 for every authenticated caller, not 403 for some.
        if self.action is None and request.method != "OPTIONS" and request.user and request.user.is_authenticated:
            raise MethodNotAllowed(request.method)
        super().check_permissions(request)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([bill_representation(bill) for bill in page])

    def retrieve(self, request, *args, **kwargs):
        return Response(bill_representation(self.get_object()))

    @extend_schema(
        summary="The bill's printable statement (PDF)",
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The statement.")},
        filters=False,
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PDFRenderer], filterset_class=None)
    def pdf(self, request, *args, **kwargs):
        bill = self.get_object()
        response = HttpResponse(statement_pdf(bill), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="bill-{bill.number}.pdf"'
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(response, Response):  # an error asked for as PDF
            response.content_type = PROBLEM_CONTENT_TYPE
        return response
