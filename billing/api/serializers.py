"""HTTP shape of billing summaries and bills (documentation; the bodies are built by billing.representation)."""

from __future__ import annotations

from rest_framework import serializers


class PeriodSerializer(serializers.Serializer):
    """A period [from, to): RFC 3339 timestamps with an offset."""

    to = serializers.DateTimeField(help_text="End of the period (exclusive).")

    def get_fields(self):
        fields = super().get_fields()
        return {"from": serializers.DateTimeField(help_text="Start of the period (inclusive)."), "to": fields["to"]}


class SummaryCustomerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    tax_id = serializers.CharField(allow_null=True)
    vat_id = serializers.CharField(allow_null=True)
    address_street = serializers.CharField(allow_null=True)
    address_city = serializers.CharField(allow_null=True)
    address_zip = serializers.CharField(allow_null=True)
    address_country = serializers.CharField(allow_null=True)


class LineRateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    model = serializers.ChoiceField(choices=["unit", "graduated", "volume", "package"])
    price_list_id = serializers.UUIDField()
    price_list_name = serializers.CharField()
    scope = serializers.ChoiceField(choices=["customer", "group", "default"])
    group_id = serializers.UUIDField(allow_null=True)


class LineTierSerializer(serializers.Serializer):
    up_to = serializers.CharField(allow_null=True, help_text="Inclusive upper bound; null for the last tier.")
    quantity = serializers.CharField(help_text="Quantity priced in this tier (6 decimal places).")
    unit_price = serializers.CharField()
    flat_price = serializers.CharField()
    amount = serializers.CharField(help_text="This tier's part, rounded half-up to the currency (informative).")


class LineSerializer(serializers.Serializer):
    code = serializers.CharField()
    to = serializers.DateTimeField()
    quantity = serializers.CharField(help_text="6 decimal places.")
    records = serializers.IntegerField()
    currency = serializers.CharField()
    amount = serializers.CharField(help_text="Rounded once, half-up, to the currency's minor unit.")
    rate = LineRateSerializer()
    tiers = LineTierSerializer(many=True)
    late = serializers.BooleanField(help_text="Usage of an earlier billed period, submitted after its bill.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        order = ("code", "from", "to", "quantity", "records", "currency", "amount", "rate", "tiers", "late")
        return {name: fields[name] for name in order}


class UnpricedSerializer(serializers.Serializer):
    code = serializers.CharField()
    quantity = serializers.CharField()
    records = serializers.IntegerField()


class TotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.CharField(help_text="Sum of the currency's rounded lines.")


class BillingSummarySerializer(serializers.Serializer):
    """The customer's records of [from, to) rated by the rate in force at each record's time."""

    customer = SummaryCustomerSerializer()
    to = serializers.DateTimeField()
    lines = LineSerializer(many=True)
    unpriced = UnpricedSerializer(many=True)
    totals = TotalSerializer(many=True)

    order = ("customer", "from", "to", "lines", "unpriced", "totals")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        return {name: fields[name] for name in self.order}


class BillSerializer(BillingSummarySerializer):
    """An issued bill: its billing summary frozen at issue, with number, issue time and status."""

    id = serializers.UUIDField()
    number = serializers.CharField(help_text='Sequential and gap-free per calendar year, e.g. "2026-000042".')
    status = serializers.ChoiceField(choices=["issued"])
    issued_at = serializers.DateTimeField()

    order = ("id", "number", "status", "issued_at", *BillingSummarySerializer.order)
