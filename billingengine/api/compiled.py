"""`queryset.get(pk=...)` with the ORM's SQL compiled once per process instead of on every request.

The ORM builds and compiles a query's SQL every time it runs: for the customer retrieve (its current
group ids in an array subquery) that was about a quarter of the request's CPU time
(`bench/profile_request.py --cpu-profile`). `CompiledGet` lets the ORM build the exact query that
`queryset.get(pk=marker)` runs, compiles it once per database alias, and then runs the same SQL with each
call's primary key as its parameter, turning the row into a model instance the way the ORM's
`ModelIterable` does (the compiler's converters, `Model.from_db`, the annotations set as attributes).

The SQL is the ORM's own: no hand-written SQL, and nothing read from the database is kept: every call
executes the statement, so a changed or deleted row is seen by the very next call. Only what does not
change per call is kept (the SQL text, the marker's position among the parameters, the column layout).
Queries with related-object population (`select_related`), `prefetch_related`, or a date or time passed
as a parameter (a "now" read in Python would be frozen) would not give the same result and are refused.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import date, time

from django.db import connections, models
from django.db.models.lookups import Lookup
from django.db.models.query import MAX_GET_RESULTS, ModelIterable


class CompiledGet:
    """`queryset.get(pk=value)`, its SQL compiled once per database alias; returns the instance or None.

    *queryset_factory* returns the queryset (called once per alias). Values the primary key field cannot
    take raise what the ORM raises for them (`ValidationError`, `ValueError`, `TypeError`), so callers
    handle both paths alike.
    """

    def __init__(self, queryset_factory: Callable[[], models.QuerySet]) -> None:
        self._queryset_factory = queryset_factory
        self._plans: dict[str, _Plan] = {}
        self._default_alias: str | None = None
        self._lock = threading.Lock()

    def __call__(self, pk, using: str | None = None):
        plan = self.plan(using)
        db = connections[plan.alias]
        params = list(plan.params)
        params[plan.pk_index] = plan.pk_field.get_db_prep_value(pk, db, prepared=False)
        with db.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchmany(MAX_GET_RESULTS)
        if not rows:
            return None
        if len(rows) > 1:  # as `get()`: a primary key matching several rows is a broken query
            raise plan.model.MultipleObjectsReturned(f"get() returned more than one {plan.model._meta.object_name}")
        row = list(rows[0])
        for position, (converters, expression) in plan.converters:
            value = row[position]
            for converter in converters:
                value = converter(value, expression, db)
            row[position] = value
        obj = plan.model.from_db(plan.alias, plan.init_list, row[plan.model_start : plan.model_end])
        for name, position in plan.annotations:
            setattr(obj, name, row[position])
        return obj

    def plan(self, using: str | None = None) -> _Plan:
        """Return the compiled plan for the alias (built on first use; no alias: the queryset's own)."""
        alias = using or self._default_alias
        plan = self._plans.get(alias) if alias else None
        if plan is None:
            with self._lock:
                queryset = self._queryset_factory()
                alias = alias or queryset.db
                plan = self._plans.get(alias)
                if plan is None:
                    plan = _Plan.build(queryset, alias)
                    self._plans[alias] = plan
                if using is None:
                    self._default_alias = alias
        return plan


class _Plan:
    """What `CompiledGet` keeps per alias: the SQL, its parameters, where the pk goes, the row layout."""

    def __init__(self, **values) -> None:
        self.__dict__.update(values)

    @classmethod
    def build(cls, queryset: models.QuerySet, alias: str) -> _Plan:
        if queryset._prefetch_related_lookups or queryset._iterable_class is not ModelIterable:
            raise ValueError("CompiledGet takes a plain model queryset (no prefetch, values or iterator classes).")
        model = queryset.model
        pk_field = model._meta.pk
        db = connections[alias]
        marker = uuid.uuid4() if isinstance(pk_field, models.UUIDField) else -987_654_321_012
        # Exactly the query `queryset.get(pk=marker)` runs (see QuerySet.get).
        clone = queryset.using(alias).filter(pk=marker).order_by()
        clone.query.set_limits(high=MAX_GET_RESULTS)
        compiler = clone.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        prepared_marker = pk_field.get_db_prep_value(marker, db, prepared=False)
        positions = [index for index, param in enumerate(params) if param == prepared_marker]
        if len(positions) != 1:
            raise ValueError(f"The primary key is not one parameter of the compiled query: {sql}")
        if any(isinstance(param, date | time) for param in params) or _has_time_value(clone.query.where):
            # e.g. a "now" read in Python when the queryset was built: it would be frozen in the plan.
            raise ValueError("CompiledGet refuses queries with date or time parameters (they would be kept).")
        klass_info = compiler.klass_info
        if klass_info.get("related_klass_infos"):
            raise ValueError("CompiledGet does not populate related objects (select_related).")
        select_fields = klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        return cls(
            alias=alias,
            model=model,
            pk_field=pk_field,
            sql=sql,
            params=tuple(params),
            pk_index=positions[0],
            model_start=start,
            model_end=end,
            init_list=[column[0].target.attname for column in compiler.select[start:end]],
            annotations=tuple(compiler.annotation_col_map.items()),
            converters=tuple(compiler.get_converters(fields).items()),
        )


def _has_time_value(node) -> bool:
    """Whether a filter of the where tree compares with a date or time given as a value (databases that
    pass them to the driver as text hide them among the compiled parameters)."""
    for child in getattr(node, "children", ()):
        if isinstance(child, Lookup) and isinstance(child.rhs, date | time):
            return True
        if _has_time_value(child):
            return True
    return False
