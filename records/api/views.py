"""Data record endpoints: submit (single and batch), list and detail. Records are immutable (405)."""

from __future__ import annotations

import orjson
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from billingengine.api.serializers import CreatedSerializer
from billingengine.api.views import ResourceViewSet
from records import services
from records.api.serializers import (
    BatchInputSerializer,
    BatchResultSerializer,
    DataRecordInputSerializer,
    DataRecordSerializer,
)
from records.api.submissions import batch_items, batch_path, http_error, single_path
from records.filters import DataRecordFilterSet
from records.models import DataRecord
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
