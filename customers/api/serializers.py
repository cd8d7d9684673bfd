"""HTTP shape of customers."""

from __future__ import annotations

from django_countries import countries
from rest_framework import serializers

from billingengine.api.fastpath import CachedFieldsMixin, RowRepresentationMixin
from billingengine.api.serializers import StrictCharField, StrictFieldsMixin, StrictUUIDField
from customers.models import Customer
from customers.services import CUSTOMER_FIELDS


class CountryCodeField(StrictCharField):
    """An ISO 3166-1 alpha-2 code, accepted in any case, returned upper-case."""

    context_free_representation = True  # read on the fast path (billingengine/api/fastpath.py)
    default_error_messages = {"invalid_country": "'{value}' is not an ISO 3166-1 alpha-2 country code."}
    schema_pattern = r"^[A-Za-z]{2}$"

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


class CustomerSerializer(RowRepresentationMixin, CachedFieldsMixin, StrictFieldsMixin, serializers.ModelSerializer):
    """A customer as the API reads and writes it (fields built once per class, read on the fast path; the list
    represents `values_list` rows)."""

    #: On the list's row path `group_ids` is read from the `group_id_array` annotation
    #: (`Customer.objects.with_group_id_array()`): the current group ids in `Customer.group_ids` order, which is
    #: what the property gives once `attach_group_id_array` has turned the array into memberships.
    row_columns = {"group_ids": "group_id_array"}

    group_ids = serializers.ListField(
        child=StrictUUIDField(),
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
