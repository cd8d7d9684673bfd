"""HTTP shape of data records.

Submissions are validated by `records.validation.records_parse` (plain Python, fast enough for the hot path);
the input serializers here only describe the request bodies in the OpenAPI schema.
"""

from __future__ import annotations

from rest_framework import serializers

from billingengine.api.fastpath import CachedFieldsMixin, FastRepresentationMixin
from records.api.submissions import MAX_BATCH
from records.models import CODE_PATTERN, RECORD_COLUMNS, DataRecord


class DataRecordSerializer(FastRepresentationMixin, CachedFieldsMixin, serializers.ModelSerializer):
    """A data record as the API reads it."""

    class Meta:
        model = DataRecord
        fields = RECORD_COLUMNS
        read_only_fields = fields


class DataRecordInputSerializer(serializers.Serializer):
    """A data record to submit (documentation of the request body)."""

    customer_external_id = serializers.CharField(
        required=False, max_length=255, help_text="The customer's external_id; give this or customer_id."
    )
    customer_id = serializers.UUIDField(
        required=False, help_text="The customer's id; give this or customer_external_id."
    )
    code = serializers.RegexField(
        CODE_PATTERN, help_text="What was consumed: 1-64 letters, digits, `_ . : -` (e.g. SMS)."
    )
    quantity = serializers.DecimalField(
        max_digits=24,
        decimal_places=6,
        help_text="A finite decimal, number or string: up to 18 digits before and 6 after the point.",
    )
    time_from = serializers.DateTimeField(help_text="RFC 3339 timestamp with an offset, e.g. 2026-03-31T14:00:00Z.")
    time_to = serializers.DateTimeField(required=False, allow_null=True, help_text="Optional end, >= time_from.")
    transaction_id = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=255,
        help_text="Your own id of the record. A retry with the same id and content is answered 200 with the "
        "stored id; the same id with other content is 409 transaction_id_conflict.",
    )


class BatchInputSerializer(serializers.Serializer):
    """A batch of data records (documentation of the request body)."""

    records = DataRecordInputSerializer(
        many=True, help_text=f"1 to {MAX_BATCH:,} records, stored all or none.", min_length=1, max_length=MAX_BATCH
    )


class BatchResultSerializer(serializers.Serializer):
    """What a batch did."""

    created = serializers.IntegerField(help_text="Records stored.")
    duplicates = serializers.IntegerField(help_text="Retries of stored transaction_ids (not stored again).")


class UsageQuerySerializer(serializers.Serializer):
    """The period of a usage summary."""

    # `from` is a Python keyword, hence the field names are set below.
    to = serializers.DateTimeField(help_text="End of the period (exclusive).")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(help_text="Start of the period (inclusive).")
        return fields

    def validate(self, attrs):
        if attrs["to"] <= attrs["from"]:
            raise serializers.ValidationError({"to": ["Must be after from."]})
        return attrs


class UsageItemSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The code.")
    quantity = serializers.DecimalField(max_digits=38, decimal_places=6, help_text="Sum of the quantities.")
    records = serializers.IntegerField(help_text="Number of records.")


class UsageSerializer(serializers.Serializer):
    """A customer's usage per code in [from, to), by the records' time_from."""

    customer_id = serializers.UUIDField()
    to = serializers.DateTimeField(help_text="End of the period (exclusive).")
    items = UsageItemSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields = {
            "customer_id": fields["customer_id"],
            "from": serializers.DateTimeField(help_text="Start of the period (inclusive)."),
            "to": fields["to"],
            "items": fields["items"],
        }
        return fields
