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
  context-free fields, and the instance's bound fields (built on first need) for anything else;
  and, for a list (`row_plan`/`represent_rows`), represents rows read with `values_list` instead of
  model instances, when every field reads a column (or a declared annotation) whose stored value is
  what the instance attribute gives (or a known conversion of it, the country code).

`tests/perf/test_serializer_fast_path.py` pins that the output equals DRF's for every serializer
using them, `tests/perf/test_row_list.py` that the customer list read through rows answers byte for
byte what the plain list answers. Neither mixin may be used by a serializer whose fields depend on
its context.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.core.signals import setting_changed
from django.db.models.query_utils import DeferredAttribute
from django.dispatch import receiver
from django.utils import timezone
from django_countries.fields import CountryDescriptor
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


class RowPlan(NamedTuple):
    """How a serializer represents rows read with `queryset.values_list(*columns)`."""

    #: The columns (model attnames or annotation names) a row must hold, in this order, first.
    columns: tuple[str, ...]
    #: For each readable field, in the serializer's order: its name, its column's index in the row, and
    #: `represent(stored value, tz)` for a non-None value.
    fields: tuple[tuple[str, int, Callable], ...]


#: Country codes as `CountryDescriptor` gives them (`Country(code).code`: alpha-3 and numeric codes turned into
#: alpha-2), per stored value; cleared when the countries settings change. Bounded: stored values are codes.
_country_codes: dict = {}
_COUNTRY_CODES_KEPT = 2048


@receiver(setting_changed)
def _forget_country_codes(*, setting, **kwargs) -> None:
    if setting.startswith("COUNTRIES"):
        _country_codes.clear()


def _country_code_reader(descriptor: CountryDescriptor):
    def code(value):
        try:
            return _country_codes[value]
        except KeyError:
            result = descriptor.country(value).code
            if len(_country_codes) < _COUNTRY_CODES_KEPT:
                _country_codes[value] = result
            return result

    return code


def _stored_value_reader(model, attr: str):
    """Return `convert(value)` turning a non-None value of the column *attr* as `values_list` reads it into
    what reading the attribute on an instance gives (None: the same value), or raise LookupError when that is
    not known (such a field keeps the instance path)."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    if attr not in fields:
        raise LookupError(attr)
    descriptor = model.__dict__.get(attr)
    if isinstance(descriptor, DeferredAttribute) and type(descriptor).__get__ is DeferredAttribute.__get__:
        return None  # Django's plain attribute: the stored value itself
    if type(descriptor) is CountryDescriptor and not descriptor.field.multiple and descriptor.field.null:
        return _country_code_reader(descriptor)  # NULL stays None, as the descriptor gives it
    raise LookupError(attr)


def _row_field(field: serializers.Field, model, columns: Mapping[str, str]):
    """Return `(column, represent(value, tz))` reading *field* from a row, or None."""
    if not _is_context_free(field):
        return None
    represent = _value_reader(field)
    if field.field_name in columns:
        return columns[field.field_name], represent
    attrs = field.source_attrs
    if len(attrs) != 1:
        return None
    try:
        convert = _stored_value_reader(model, attrs[0])
    except LookupError:
        return None
    if convert is None:
        return attrs[0], represent
    return attrs[0], lambda value, tz: represent(convert(value), tz)


class RowRepresentationMixin(FastRepresentationMixin):
    """`FastRepresentationMixin` plus the representation of `values_list` rows for lists (`row_plan`).

    `row_columns` names fields read from another column than their source: {field name: column}, where the
    column (an annotation, typically) holds exactly what the field reads from an instance (the serializer says
    why).
    """

    row_columns: Mapping[str, str] = {}

    @classmethod
    def row_plan(cls) -> RowPlan | None:
        """The plan, worked out once per class; None when some field cannot be read from a row."""
        if "_row_plan" not in cls.__dict__:
            prototype = cls()
            model = getattr(getattr(cls, "Meta", None), "model", None)
            plan = None
            if model is not None:
                read = [
                    (field.field_name, _row_field(field, model, cls.row_columns))
                    for field in prototype._readable_fields
                ]
                if all(reader is not None for _, reader in read):
                    columns = tuple(dict.fromkeys(column for _, (column, _) in read))
                    plan = RowPlan(
                        columns=columns,
                        fields=tuple((name, columns.index(column), represent) for name, (column, represent) in read),
                    )
            cls._row_plan = plan
        return cls._row_plan

    @staticmethod
    def represent_rows(rows: Sequence[Sequence], plan: RowPlan) -> list[dict]:
        """Represent *rows* (each starting with `plan.columns`) as `to_representation` represents the instances."""
        tz = timezone.get_current_timezone() if settings.USE_TZ else None
        fields = plan.fields
        result = []
        for row in rows:
            data = {}
            for name, index, represent in fields:
                value = row[index]
                data[name] = None if value is None else represent(value, tz)
            result.append(data)
        return result
