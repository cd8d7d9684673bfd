"""Filter pieces shared by every resource."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils import translation
from django_filters.filters import QuerySetRequestMixin

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


#: Form classes of `FormCachedFilterSet`s, per (filter set class, model, language).
_form_classes: dict = {}


class FormCachedFilterSet(django_filters.FilterSet):
    """A filter set whose form class is built once per class, model and language instead of on every request.

    django-filter builds the form class, with a form field per filter and its translated label, for each
    request: about a tenth of the CPU of a customer list page (`bench/profile_request.py --cpu-profile`). The
    class depends only on the filters (the same for every request), the model and the active language (the
    labels); each request's form is still its own instance with its own copies of the fields (Django's
    forms copy their class's fields per instance) and its own data. Filter sets with filters whose field reads
    the request (querysets given as callables) are not cached.
    """

    def get_form_class(self):
        key = (type(self), self.queryset.model, translation.get_language())
        form_class = _form_classes.get(key)
        if form_class is None:
            form_class = super().get_form_class()
            if not any(isinstance(filter_, QuerySetRequestMixin) for filter_ in self.filters.values()):
                _form_classes[key] = form_class
        return form_class
