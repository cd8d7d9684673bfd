"""HTTP shape of customers."""

from __future__ import annotations

from django.utils import timezone
from django_countries import countries
from rest_framework import serializers

from billingengine.api.serializers import StrictFieldsMixin
from customers.models import Customer
from customers.services import CUSTOMER_FIELDS


class CountryCodeField(serializers.CharField):
    """An ISO 3166-1 alpha-2 code, accepted in any case, returned upper-case."""

    default_error_messages = {"invalid_country": "'{value}' is not an ISO 3166-1 alpha-2 country code."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value == "":
            return value
        code = value.upper()
        if len(code) != 2 or code not in dict(countries):
            self.fail("invalid_country", value=value[:16])
        return code

    def to_representation(self, value):
        return str(value.code if hasattr(value, "code") else value) or None


class CustomerSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A customer as the API reads and writes it."""

    group_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=1000,
        help_text="Ids of the customer's current groups. On write, the customer's groups become exactly these "
        "(memberships that stay keep their start); every id must exist; duplicates are ignored.",
    )
    address_country = CountryCodeField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=16,
        help_text="ISO 3166-1 alpha-2 country code, any case on input, upper-case on output.",
    )

    class Meta:
        model = Customer
        fields = ("id", *CUSTOMER_FIELDS, "group_ids", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")
        validators = []  # uniqueness is the database's job; conflicts are mapped to 409
        extra_kwargs = {
            "name": {"help_text": "Business name of the customer (required, at most 255 characters)."},
            "external_id": {
                "validators": Customer._meta.get_field("external_id").validators,
                "help_text": "Your identifier from a CRM or ERP; unique; cannot be changed or cleared once set. "
                '`""` and null mean unset.',
            },
            "tax_id": {"help_text": "Customer tax ID."},
            "vat_id": {"help_text": "Customer VAT ID."},
            "address_street": {"help_text": "Street and number; line breaks allowed."},
            "address_city": {"help_text": "City."},
            "address_zip": {"help_text": "Postal code."},
        }

    def to_representation(self, instance):
        # Reading is the hot path (100 rows a page): plain attribute reads for text, UUIDs and the group ids
        # give exactly what DRF's per-field path gives (tests/perf/test_serializer_fast_path.py compares
        # them) at a fraction of its cost; fields of any other kind (timestamps too) still go through DRF.
        readers = self.__dict__.get("_readers")
        if readers is None:
            readers = self._readers = [(field.field_name, _fast_reader(field)) for field in self._readable_fields]
        tz = timezone.get_current_timezone()
        return {name: read(instance, tz) for name, read in readers}


def _fast_reader(field: serializers.Field):
    """Return `read(instance, tz)` giving `field`'s representation of *instance* (None stays None)."""
    attr = field.source_attrs[0] if len(field.source_attrs) == 1 else None
    kind = type(field)
    if attr and kind is serializers.CharField:
        return lambda obj, tz: None if (v := getattr(obj, attr)) is None else str(v)
    if attr and kind is serializers.UUIDField and field.uuid_format == "hex_verbose":
        return lambda obj, tz: None if (v := getattr(obj, attr)) is None else str(v)
    if (
        attr
        and kind is serializers.ListField
        and type(field.child) is serializers.UUIDField
        and field.child.uuid_format == "hex_verbose"
    ):
        return lambda obj, tz: None if (v := getattr(obj, attr)) is None else [str(x) for x in v]

    def generic(obj, tz):
        value = field.get_attribute(obj)
        return None if value is None else field.to_representation(value)

    return generic
