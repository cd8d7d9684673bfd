"""Serializer pieces shared by every resource."""

from __future__ import annotations

from rest_framework import serializers


class StrictFieldsMixin:
    """Refuse fields the resource does not have (a typo must not silently drop data).

    Read-only fields are accepted and ignored, so a representation can be sent back as it was read.
    """

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
