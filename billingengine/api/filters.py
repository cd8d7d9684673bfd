"""Filter pieces shared by every resource."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from billingengine.validators import no_control_characters


class UTCDateTimeField(forms.DateTimeField):
    """An RFC 3339 timestamp, refused (not crashed on) when it cannot be expressed in UTC."""

    def clean(self, value):
        cleaned = super().clean(value)
        if cleaned is not None:
            try:
                cleaned = cleaned.astimezone(UTC)
            except OverflowError as error:
                raise ValidationError("Timestamp out of range.", code="out_of_range") from error
        return cleaned


class TimestampFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 / RFC 3339 timestamp filter that turns out-of-range values into a 400."""

    class field_class(UTCDateTimeField, django_filters.fields.IsoDateTimeField):
        pass


class SearchFilter(django_filters.CharFilter):
    """`q`: a case-insensitive search through the queryset's one `search()` method (control characters refused)."""

    def __init__(self, **kwargs):
        super().__init__(method=self.search, validators=[no_control_characters], **kwargs)

    @staticmethod
    def search(queryset, name, value):
        return queryset.search(value)


class NameContainsFilter(django_filters.CharFilter):
    """`name`: the name contains the value, ignoring case (control characters refused)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Name contains (ignoring case).")
        super().__init__(lookup_expr="icontains", validators=[no_control_characters], **kwargs)
