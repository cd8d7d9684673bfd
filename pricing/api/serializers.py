"""HTTP shape of price lists, rates and the explanation of a customer's prices."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billingengine.api.serializers import (
    StrictCharField,
    StrictChoiceField,
    StrictFieldsMixin,
    StrictIntegerField,
    StrictUUIDField,
)
from billingengine.validators import no_control_characters
from pricing.models import PriceList, Rate, check_rate_terms, decimal_text
from records.models import code_validator

INT32 = 2**31 - 1


DECIMAL_INPUT = {
    "oneOf": [
        {"type": "string", "format": "decimal", "example": "0.05"},
        {"type": "number", "minimum": 0},
    ],
    "description": "A decimal >= 0, as a string (exact) or a JSON number: up to 18 digits before and 10 after the "
    "point.",
}


@extend_schema_field({**DECIMAL_INPUT, "nullable": True})
class RawDecimalField(serializers.Field):
    """A price as sent (decimal string or JSON number); `check_rate_terms` parses and checks it."""

    def to_internal_value(self, data):
        return data


class TierInputSerializer(serializers.Serializer):
    """A tier as sent (documentation of the request body)."""

    up_to = serializers.CharField(
        allow_null=True,
        help_text="Inclusive upper bound of the tier (decimal string or number, > 0, greater than the previous "
        "tier's); null for the last tier, and only there.",
    )
    unit_price = serializers.CharField(help_text="Price of each unit in the tier (decimal string or number, >= 0).")
    flat_price = serializers.CharField(
        required=False, help_text="Charged once when the tier is reached (decimal string or number, >= 0; default 0)."
    )


class TierSerializer(serializers.Serializer):
    """A tier as the API returns it."""

    up_to = serializers.CharField(allow_null=True, help_text="Inclusive upper bound; null for the last tier.")
    unit_price = serializers.CharField(help_text="Price of each unit in the tier.")
    flat_price = serializers.CharField(help_text="Charged once when the tier is reached.")


@extend_schema_field(TierInputSerializer(many=True, allow_null=True))
class RawTiersField(serializers.Field):
    """Tiers as sent; `check_rate_terms` checks them and names the bad element (tiers[1].up_to)."""

    def to_internal_value(self, data):
        return data


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True, "example": "0.05"})
class PriceOutputField(serializers.Field):
    """A stored price as plain decimal text without trailing zeros ("0.05")."""

    def to_representation(self, value: Decimal):
        return decimal_text(value)


# -- price lists -------------------------------------------------------------------------------------------------


class PriceListSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A price list as the API reads and writes it."""

    name = StrictCharField(
        max_length=255,
        validators=[no_control_characters],
        help_text="Unique, ignoring case (at most 255 characters).",
    )
    description = StrictCharField(
        required=False, allow_blank=True, allow_null=True, max_length=10000, help_text="What the list is for."
    )
    currency = StrictCharField(
        max_length=16,
        help_text="ISO 4217 code, any case in, upper-case out (e.g. EUR). Cannot change once the list has a rate "
        "(400 currency_immutable).",
    )
    scope = serializers.ChoiceField(
        choices=PriceList.Scope.choices,
        read_only=True,
        help_text='"customer" when customer_id is set, "group" when group_id is set, else "default".',
    )
    group_id = StrictUUIDField(
        required=False, allow_null=True, help_text="A group's list: it prices the records of the group's members."
    )
    customer_id = StrictUUIDField(required=False, allow_null=True, help_text="One customer's own list.")
    priority = StrictIntegerField(
        required=False,
        min_value=-INT32 - 1,
        max_value=INT32,
        help_text="Lower wins; unique among lists of the same scope (customer lists: per customer). Default 0.",
    )

    class Meta:
        model = PriceList
        fields = (
            "id",
            "name",
            "description",
            "currency",
            "scope",
            "group_id",
            "customer_id",
            "priority",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "scope", "created_at", "updated_at")
        validators = []  # uniqueness is the database's job; conflicts are mapped to 409


class PriceListBriefSerializer(serializers.ModelSerializer):
    """The price list a rate belongs to, in an explanation."""

    scope = serializers.ChoiceField(choices=PriceList.Scope.choices, read_only=True)
    group_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = PriceList
        fields = ("id", "name", "scope", "group_id", "priority", "currency")
        read_only_fields = fields


# -- rates -------------------------------------------------------------------------------------------------------


class RateSerializer(serializers.ModelSerializer):
    """A rate as the API returns it."""

    price_list_id = serializers.UUIDField(read_only=True)
    valid_to = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the next rate of the code in the list starts; null while open."
    )
    unit_price = PriceOutputField(read_only=True, help_text="unit: the price of one unit.")
    tiers = TierSerializer(many=True, read_only=True, allow_null=True, help_text="graduated and volume: the tiers.")
    package_size = PriceOutputField(read_only=True, help_text="package: units per package.")
    package_price = PriceOutputField(read_only=True, help_text="package: the price of one started package.")

    class Meta:
        model = Rate
        fields = (
            "id",
            "price_list_id",
            "code",
            "model",
            "valid_from",
            "valid_to",
            "unit_price",
            "tiers",
            "package_size",
            "package_price",
            "created_at",
        )
        read_only_fields = fields


class RateCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    """A new rate: the fields of its model only (unit: unit_price; graduated and volume: tiers; package:
    package_size and package_price)."""

    # Read-only fields of the representation are accepted and ignored, so a rate read can be posted back.
    id = serializers.UUIDField(read_only=True)
    price_list_id = serializers.UUIDField(read_only=True)
    valid_to = serializers.DateTimeField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    code = StrictCharField(
        max_length=64, validators=[code_validator], help_text="The record code it prices: 1-64 of A-Z a-z 0-9 _ . : -"
    )
    model = StrictChoiceField(choices=Rate.Model.choices, help_text="How the amount is computed.")
    valid_from = serializers.DateTimeField(
        help_text="From when it applies (RFC 3339); until the next rate of the code in the list."
    )
    unit_price = RawDecimalField(required=False, allow_null=True, help_text="unit: the price of one unit.")
    tiers = RawTiersField(
        required=False,
        allow_null=True,
        help_text="graduated and volume: up_to strictly increasing and inclusive, the last one null.",
    )
    package_size = RawDecimalField(required=False, allow_null=True, help_text="package: units per package (> 0).")
    package_price = RawDecimalField(required=False, allow_null=True, help_text="package: price of a started package.")

    def to_internal_value(self, data):
        # The terms are checked here as well as by the service, so one answer lists every problem at once.
        term_errors = {}
        if isinstance(data, dict) and data.get("model") in Rate.Model.values:
            _, problems = check_rate_terms(
                model=data["model"],
                **{f: data.get(f) for f in ("unit_price", "tiers", "package_size", "package_price")},
            )
            for problem in problems:
                term_errors.setdefault(problem.path, []).append(
                    serializers.ErrorDetail(problem.detail, code=problem.code)
                )
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if term_errors and isinstance(error.detail, dict):
                raise serializers.ValidationError({**error.detail, **term_errors}) from error
            raise
        if term_errors:
            raise serializers.ValidationError(term_errors)
        return value


# -- explanation -------------------------------------------------------------------------------------------------


class ExplainedRateSerializer(RateSerializer):
    """The rate chosen, with the list it comes from."""

    price_list = PriceListBriefSerializer(read_only=True)

    class Meta(RateSerializer.Meta):
        fields = (*RateSerializer.Meta.fields, "price_list")
        read_only_fields = fields


class CandidateSerializer(serializers.Serializer):
    """One list of the walk and what it had for the code."""

    price_list = PriceListBriefSerializer(read_only=True)
    rate_id = serializers.UUIDField(
        read_only=True, allow_null=True, source="rate.id", help_text="Its rate of the code then, or null."
    )
    outcome = serializers.ChoiceField(
        choices=["applied", "shadowed", "no_rate"],
        read_only=True,
        help_text="applied: the first list with a rate, it prices the code; shadowed: it has a rate, but an "
        "earlier list wins; no_rate: no rate of the code then.",
    )


class ExplainItemSerializer(serializers.Serializer):
    """The rate that prices one code at the moment, and why."""

    code = serializers.CharField(read_only=True)
    rate = ExplainedRateSerializer(read_only=True, allow_null=True, help_text="null: the code is unpriced then.")
    candidates = CandidateSerializer(many=True, read_only=True, help_text="The candidate lists in the walk's order.")


class ExplainSerializer(serializers.Serializer):
    """Which rate prices each code of the customer at a moment, and every candidate list considered."""

    at = serializers.DateTimeField(read_only=True)
    items = ExplainItemSerializer(many=True, read_only=True)


class ExplainQuerySerializer(serializers.Serializer):
    """The query of an explanation."""

    at = serializers.DateTimeField(required=False, help_text="The moment (RFC 3339); default now.")
    code = serializers.CharField(
        required=False, max_length=64, validators=[code_validator], help_text="One code; default every code priced."
    )


def explain_representation(at, items: list) -> dict:
    """Return exactly what `ExplainSerializer` gives for (at, items), built directly: with 100 candidate lists and
    a few codes the explanation has hundreds of candidate rows, which DRF's per-field path made the slowest part
    of the request (tests/pricing/test_api_explain.py compares the two)."""
    briefs: dict = {}

    def brief(price_list: PriceList) -> dict:
        found = briefs.get(price_list.id)
        if found is None:
            found = briefs[price_list.id] = {
                "id": str(price_list.id),
                "name": price_list.name,
                "scope": price_list.scope,
                "group_id": None if price_list.group_id is None else str(price_list.group_id),
                "priority": price_list.priority,
                "currency": price_list.currency,
            }
        return found

    out = []
    for item in items:
        rate = None
        if item.rate is not None:
            rate = {**RateSerializer(item.rate).data, "price_list": brief(item.price_list)}
        candidates = [
            {
                "price_list": brief(c.price_list),
                "rate_id": None if c.rate is None else str(c.rate.id),
                "outcome": c.outcome,
            }
            for c in item.candidates
        ]
        out.append({"code": item.code, "rate": rate, "candidates": candidates})
    return {"at": serializers.DateTimeField().to_representation(at), "items": out}
