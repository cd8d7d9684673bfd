"""Data record endpoints: submit (single and batch), list and detail (immutable: 405), and a customer's usage.

The usage of a customer is served at /customers/{id}/usage, but from here: records know customers, customers
know nothing of records (`billingengine.api.urls` routes it).
"""

from __future__ import annotations

import orjson
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, ParseError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from billingengine.api.serializers import CreatedSerializer
from billingengine.api.views import ResourceViewSet
from customers.models import Customer
from records import services
from records.api.serializers import (
    BatchInputSerializer,
    BatchResultSerializer,
    DataRecordInputSerializer,
    DataRecordSerializer,
    UsageQuerySerializer,
    UsageSerializer,
)
from records.api.submissions import batch_items, batch_path, http_error, single_path
from records.filters import DataRecordFilterSet
from records.models import DataRecord
from records.usage import usage_summary
from records.validation import RecordsInvalid, records_parse


class FastJSONParser(JSONParser):
    """JSON bodies parsed by orjson: a 1,000-record batch in a fraction of the standard library's time.

    Same strictness as DRF's parser (NaN and Infinity are refused); the body must be UTF-8, as the contract says.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as error:
            raise ParseError(f"JSON parse error - {error}") from error


@extend_schema_view(
    list=extend_schema(summary="List data records (ordered by time_from)"),
    retrieve=extend_schema(summary="Data record detail"),
)
class DataRecordViewSet(ResourceViewSet):
    """Data records: usage facts, attached to a customer by its id or external_id; immutable."""

    queryset = DataRecord.objects.all()
    serializer_class = DataRecordSerializer
    filterset_class = DataRecordFilterSet
    ordering_fields = ("time_from",)
    ordering = "time_from"
    basename = "record"
    parser_classes = (FastJSONParser,)

    def check_permissions(self, request):
        # Records are immutable: PUT/PATCH/DELETE are 405 for every authenticated caller, not 403 for some.
        if self.action is None and request.method != "OPTIONS" and request.user and request.user.is_authenticated:
            raise MethodNotAllowed(request.method)
        super().check_permissions(request)

    @extend_schema(
        summary="Submit a data record",
        request=DataRecordInputSerializer,
        responses={
            201: CreatedSerializer,
            200: OpenApiResponse(CreatedSerializer, description="A retry: the stored record's id."),
        },
    )
    def create(self, request, *args, **kwargs):
        try:
            (record,) = records_parse([request.data])
            record_id, created = services.record_submit(record=record)
        except (RecordsInvalid, services.TransactionIdConflict) as error:
            raise http_error(error, single_path) from error
        if created:
            return self.created(DataRecord(pk=record_id))
        return Response({"id": str(record_id)}, status=200)

    @extend_schema(
        summary="Submit a batch of data records (all or none)",
        request=BatchInputSerializer,
        responses={201: BatchResultSerializer},
    )
    @action(detail=False, methods=["post"], filterset_class=None)
    def batch(self, request, *args, **kwargs):
        items = batch_items(request.data)
        try:
            result = services.records_ingest(records=records_parse(items))
        except (RecordsInvalid, services.TransactionIdConflict) as error:
            raise http_error(error, batch_path) from error
        return Response({"created": result.created, "duplicates": result.duplicates}, status=201)


class CustomerUsageView(GenericAPIView):
    """Sum the customer's data records whose time_from lies in [from, to), per code."""

    name = "Usage"
    queryset = Customer.objects.only("id")
    serializer_class = UsageSerializer
    permission_model = DataRecord  # usage is record data: viewing records is what it takes
    filter_backends = ()
    pagination_class = None

    @extend_schema(
        summary="The customer's usage per code in a period",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True, description="Start (inclusive)."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, required=True, description="End (exclusive)."),
        ],
        responses=UsageSerializer,
        filters=False,
    )
    def get(self, request, *args, **kwargs):
        customer = self.get_object()
        params = UsageQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        start, end = params.validated_data["from"], params.validated_data["to"]
        items = usage_summary(customer.pk, start, end)
        body = {"customer_id": customer.pk, "from": start, "to": end, "items": items}
        return Response(UsageSerializer(body).data)
