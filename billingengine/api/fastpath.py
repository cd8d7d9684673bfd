"""Serializer mixins that do per class what DRF does per request, with the same output.

DRF builds a serializer's fields for every instance (`ModelSerializer.get_fields` introspects the
model and constructs every field each time) and reads each field through the generic
`get_attribute`/`to_representation` pair. Neither result depends on the request, so:

* `CachedFieldsMixin` builds the field set once per serializer class and gives each instance fresh
  copies of it (as DRF itself does for declared fields), so validation keeps its per-instance state;
* `FastRepresentationMixin` works out once per class how to read each field and then represents an
  object without building the instance's fields at all: plain attribute reads for model fields of
  the simple kinds (text, UUID, timestamps, integers, lists of UUIDs, and fields declaring
  `context_free_representation = True`), the field's own methods on a shared prototype for other
  context-free fields, and the instance's bound fields (built on first need) for anything else.

`tests/perf/test_serializer_fast_path.py` pins that the output equals DRF's for every serializer
using them. Neither mixin may be used by a serializer whose fields depend on its context.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

_UNREAD = object()


class CachedFieldsMixin:
    """Build the serializer's fields once per class; each instance gets its own copies."""

    def get_fields(self):
        cls = type(self)
        prototypes = cls.__dict__.get("_field_prototypes")
        if prototypes is None:
            prototypes = super().get_fields()
            cls._field_prototypes = prototypes
        return copy.deepcopy(prototypes)


def _is_context_free(field: serializers.Field) -> bool:
    """Whether the field's representation depends only on the value (never on the request or the parent)."""
    if getattr(field, "context_free_representation", False):
        return True
    if isinstance(field, serializers.ListField):
        return type(field).to_representation is serializers.ListField.to_representation and _is_context_free(
            field.child
        )
    return any(
        isinstance(field, kind) and type(field).to_representation is kind.to_representation
        for kind in (
            serializers.CharField,
            serializers.UUIDField,
            serializers.DateTimeField,
            serializers.IntegerField,
            serializers.BooleanField,
        )
    )


def _model_attribute(model, attr: str) -> bool:
    """Whether reading *attr* on an instance of *model* is a plain attribute read (a field or a property)."""
    if model is None:
        return False
    names = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
    return attr in names or isinstance(getattr(model, attr, None), property)


def _datetime_reader(field: serializers.DateTimeField):
    def represent(value, tz):
        fmt = getattr(field, "format", api_settings.DATETIME_FORMAT)
        if (
            tz is None
            or hasattr(field, "timezone")
            or not isinstance(value, datetime)
            or value.tzinfo is None
            or fmt is None
        ):
            return field.to_representation(value)
        try:
            value = value.astimezone(tz)
        except OverflowError:
            return field.to_representation(value)  # DRF's own error
        if fmt.lower() == "iso-8601":
            text = value.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return value.strftime(fmt)

    return represent


def _value_reader(field: serializers.Field):
    """Return `represent(value, tz)` for a non-None value of a context-free *field*."""
    kind = type(field)
    if isinstance(field, serializers.CharField) and kind.to_representation is serializers.CharField.to_representation:
        return lambda value, tz: str(value)
    if (
        isinstance(field, serializers.UUIDField)
        and field.uuid_format == "hex_verbose"
        and kind.to_representation is serializers.UUIDField.to_representation
    ):
        return lambda value, tz: str(value)
    if (
        isinstance(field, serializers.DateTimeField)
        and kind.to_representation is serializers.DateTimeField.to_representation
    ):
        return _datetime_reader(field)
    if isinstance(field, serializers.ListField) and kind.to_representation is serializers.ListField.to_representation:
        child = _value_reader(field.child)
        return lambda value, tz: [None if item is None else child(item, tz) for item in value]
    return lambda value, tz: field.to_representation(value)


def _reader(field: serializers.Field, model):
    """Return `read(instance, tz)` giving the field's representation (or `_UNREAD` to skip it), or None
    when the field needs the instance's own bound field."""
    if not _is_context_free(field):
        return None
    represent = _value_reader(field)

    def generic(obj, tz):
        try:
            value = field.get_attribute(obj)  # DRF's own handling of missing attributes and defaults
        except SkipField:
            return _UNREAD
        return None if value is None else represent(value, tz)

    attrs = field.source_attrs
    if len(attrs) == 1 and _model_attribute(model, attrs[0]):
        attr = attrs[0]

        def attribute(obj, tz):
            try:
                value = getattr(obj, attr)
            except AttributeError:
                return generic(obj, tz)
            return None if value is None else represent(value, tz)

        return attribute
    return generic


class FastRepresentationMixin:
    """Represent objects through a per-class reading plan instead of DRF's per-field generic path."""

    @classmethod
    def _reading_plan(cls) -> list:
        plan = cls.__dict__.get("_plan")
        if plan is None:
            prototype = cls()
            model = getattr(getattr(cls, "Meta", None), "model", None)
            plan = [(field.field_name, _reader(field, model)) for field in prototype._readable_fields]
            cls._plan = plan
        return plan

    def to_representation(self, instance):
        if isinstance(instance, Mapping):  # DRF reads mappings by key; keep its path for them
            return super().to_representation(instance)
        tz = timezone.get_current_timezone() if settings.USE_TZ else None
        data = {}
        for name, read in self._reading_plan():
            if read is None:
                field = self.fields[name]
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
                check_for_none = value.pk if isinstance(value, PKOnlyObject) else value
                data[name] = None if check_for_none is None else field.to_representation(value)
                continue
            value = read(instance, tz)
            if value is not _UNREAD:
                data[name] = value
        return data
