"""Keyset (cursor) pagination: a page costs one index range scan, at any depth and table size."""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections, models
from django.db.models.expressions import RawSQL
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


class KeysetPagination(BasePagination):
    """Cursor pagination over (ordering field, primary key).

    The view names its sortable fields in `ordering_fields` and its default in `ordering`
    (e.g. "created_at" or "-name"); `?ordering=` picks one. The cursor carries the last row's
    ordering value and id, so the next page is `WHERE (field, id) > (value, id) LIMIT n`,
    served by an index on (field, id).
    """

    page_size = 50
    max_page_size = 1000
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    ordering_query_param = "ordering"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self._page_size(request)
        self.ordering = self._ordering(request, view)
        field_name = self.ordering.lstrip("-")
        descending = self.ordering.startswith("-")
        self.field = queryset.model._meta.get_field(field_name)
        pk = queryset.model._meta.pk
        reverse, position = self._decode_cursor(request)

        # Walking backwards flips both the comparison and the order; the page is flipped back below.
        walk_descending = descending != reverse
        if position is not None:
            queryset = queryset.filter(self._after(queryset.model, self.field, pk, position, walk_descending))
        prefix = "-" if walk_descending else ""
        queryset = queryset.order_by(f"{prefix}{field_name}", f"{prefix}{pk.name}")
        rows = list(queryset[: self.page_size + 1])
        has_more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
            self.has_next, self.has_previous = position is not None, has_more
        else:
            self.has_next, self.has_previous = has_more, position is not None
        self.rows = rows
        return rows

    # -- request parsing -------------------------------------------------------------------------

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except (TypeError, ValueError):
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return size

    def _ordering(self, request, view) -> str:
        allowed = list(getattr(view, "ordering_fields", ("created_at",)))
        default = getattr(view, "ordering", None) or allowed[0]
        ordering = request.query_params.get(self.ordering_query_param) or default
        if ordering.lstrip("-") not in allowed or ordering.count("-") > 1:
            choices = ", ".join(f"{f}, -{f}" for f in allowed)
            raise ValidationError(
                {self.ordering_query_param: [f"Unknown ordering '{ordering}'; use one of: {choices}."]}
            )
        return ordering

    def _decode_cursor(self, request) -> tuple[bool, tuple[Any, Any] | None]:
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return False, None
        try:
            data = json.loads(base64.urlsafe_b64decode(raw.encode("ascii") + b"==").decode("utf-8"))
            if data["o"] != self.ordering:
                raise ValueError("cursor made for another ordering")
            value, pk_value = data["v"]
            position = (self.field.to_python(value), self.field.model._meta.pk.to_python(pk_value))
            if position[0] is None or position[1] is None:
                raise ValueError("empty position")
            return bool(data.get("r")), position
        except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error, DjangoValidationError) as error:
            raise ValidationError(
                {self.cursor_query_param: ["Invalid cursor; use the next/previous links exactly as returned."]}
            ) from error

    @staticmethod
    def _after(model, field: models.Field, pk: models.Field, position, descending: bool) -> RawSQL:
        """Return the row-value condition `(field, pk) > (value, id)` (`<` when descending)."""
        connection = connections[model.objects.db]
        qn = connection.ops.quote_name
        table = qn(model._meta.db_table)
        value = field.get_db_prep_value(position[0], connection, prepared=False)
        pk_value = pk.get_db_prep_value(position[1], connection, prepared=False)
        op = "<" if descending else ">"
        sql = f"({table}.{qn(field.column)}, {table}.{qn(pk.column)}) {op} (%s, %s)"
        return RawSQL(sql, (value, pk_value), output_field=models.BooleanField())

    # -- response --------------------------------------------------------------------------------

    def _encode_cursor(self, row, reverse: bool) -> str:
        value = getattr(row, self.field.attname)
        value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        pk = getattr(row, self.field.model._meta.pk.attname)  # an instance's pk, or a `values_list` row's
        data = {"o": self.ordering, "v": [value, str(pk)], "r": int(reverse)}
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")

    def _link(self, row, reverse: bool) -> str:
        return replace_query_param(self.base_url, self.cursor_query_param, self._encode_cursor(row, reverse))

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        if not self.rows:  # walked back past the start: the next page starts at the beginning
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self._link(self.rows[-1], reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.rows:
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self._link(self.rows[0], reverse=True)

    def get_paginated_response(self, data) -> Response:
        return Response(
            OrderedDict([("next", self.get_next_link()), ("previous", self.get_previous_link()), ("results", data)])
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": "string", "format": "uri", "nullable": True, "description": "Next page, or null."},
                "previous": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "Previous page, or null.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        allowed = list(getattr(view, "ordering_fields", ("created_at",)))
        default = getattr(view, "ordering", None) or allowed[0]
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page, 1 to {self.max_page_size} (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
            },
            {
                "name": self.ordering_query_param,
                "required": False,
                "in": "query",
                "description": f"Sort order (default `{default}`); `-` for descending.",
                "schema": {"type": "string", "enum": [p for f in allowed for p in (f, f"-{f}")], "default": default},
            },
        ]
