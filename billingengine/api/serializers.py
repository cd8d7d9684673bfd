"""Serializer pieces shared by every resource."""

from __future__ import annotations

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from billingengine.validators import NoControlCharactersValidator

#: JSON type names for error messages.
_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}


def _wrong_type(expected: str, value) -> serializers.ValidationError:
    """Return the error for *value*, which is not of the expected JSON type.

    Code `invalid`, as DRF already gave for lists and booleans in string fields and the records API gives for
    every wrong type.
    """
    return serializers.ValidationError(
        f"Must be {expected}, not {_JSON_TYPES.get(type(value), type(value).__name__)}.", code="invalid"
    )


class StrictCharField(serializers.CharField):
    """A string field that refuses other JSON types (DRF would store the number 42 as "42")."""

    #: OpenAPI `pattern` of accepted input, where a validator the schema cannot see enforces one.
    schema_pattern: str | None = None

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise _wrong_type("a string", data)
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID field that takes only strings (DRF would read the number 5 as a UUID)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise _wrong_type("a UUID string", data)
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """One of the choices, given as a string (DRF would match the number 1 against the choice "1")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=str(data)[:32])
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (DRF would also take "5", 5.0 or true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise _wrong_type("an integer", data)
        return super().to_internal_value(data)


class StrictFieldsMixin:
    """Refuse fields the resource does not have (a typo must not silently drop data), and values of the wrong
    JSON type (model text fields become `StrictCharField`s).

    Read-only fields are accepted and ignored, so a representation can be sent back as it was read.
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.UUIDField: StrictUUIDField,
    }

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, dict):
            unknown = {
                str(key): [serializers.ErrorDetail("Unknown field.", code="unknown_field")]
                for key in data
                if key not in self.fields
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if unknown and isinstance(error.detail, dict):
                raise serializers.ValidationError({**error.detail, **unknown}) from error
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class CreatedSerializer(serializers.Serializer):
    """The body of a `201 Created` answer: the new object's id alone."""

    id = serializers.UUIDField(read_only=True, help_text="Id of the new object.")


# Control characters the validators refuse, as OpenAPI (ECMA-262) character classes. Non-empty: where a field
# allows blank, drf-spectacular adds `""` as a separate `oneOf` branch, which must not match both.
_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]+$"
_NO_CONTROL_EXCEPT_LINE_BREAKS = r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]+$"


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """Document in request bodies the `pattern` a strict string field enforces (no control characters, ...)."""

    target_class = StrictCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        pattern = self.target.schema_pattern
        for validator in self.target.validators:
            if isinstance(validator, NoControlCharactersValidator):
                pattern = _NO_CONTROL_EXCEPT_LINE_BREAKS if validator.allow_line_breaks else _NO_CONTROL
        if pattern:
            schema["pattern"] = pattern
        return schema


class BoundedListSchema(OpenApiSerializerFieldExtension):
    """Document a nested list's size limits (`min_length`, `max_length`) as `minItems`/`maxItems`."""

    target_class = serializers.ListSerializer
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if schema.get("type") == "array":
            if self.target.min_length is not None:
                schema["minItems"] = self.target.min_length
            if self.target.max_length is not None:
                schema["maxItems"] = self.target.max_length
        return schema
