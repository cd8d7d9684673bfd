"""Base viewset and small shared API views."""

from __future__ import annotations

import hashlib
import json
import logging

from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models.query import ModelIterable
from django.http import JsonResponse
from django.urls import reverse
from django.utils.http import parse_etags
from django_filters.filterset import BaseFilterSet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, viewsets
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.utils.serializer_helpers import ReturnList

from billingengine import idempotency
from billingengine.api.serializers import CreatedSerializer
from billingengine.errors import PreconditionFailed

logger = logging.getLogger("billingengine.api")


class IdempotentPostMixin:
    """Honour `Idempotency-Key` on every POST: a retry replays the first response instead of acting twice.

    Runs after authentication (keys are scoped to the API key, or to the user for session requests),
    permissions and throttling; a POST without the header costs nothing extra.
    """

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST" and idempotency.HEADER in request.headers:
            # Wrap this request's handler (the view instance lives for one request only).
            self.post = self._idempotent(self.post)

    @staticmethod
    def idempotency_scope(request) -> str:
        """Return whose keys these are: the API key's, or the signed-in user's."""
        prefix = getattr(request.auth, "prefix", None)
        return f"key:{prefix}" if prefix else f"user:{request.user.pk}"

    def _idempotent(self, handler):
        def run(request, *args, **kwargs):
            key = idempotency.validate_key(request.headers[idempotency.HEADER])
            fingerprint = idempotency.fingerprint(method="POST", path=request.path.rstrip("/"), data=request.data)
            record, fresh = idempotency.idempotency_claim(
                scope=self.idempotency_scope(request), key=key, fingerprint=fingerprint
            )
            if not fresh:
                return self._replay(record)
            try:
                # The effect and its stored response commit together, or neither does.
                with transaction.atomic():
                    response = handler(request, *args, **kwargs)
                    if response.status_code < 500:
                        self._store(record, response)
                        return response
            except Exception as exc:
                try:
                    response = self.handle_exception(exc)  # raises again what it cannot map
                except Exception:
                    self._release(record)
                    raise
                if response.status_code < 500:
                    self._store(record, response)
                    return response
            self._release(record)  # a 5xx: nothing was done, a retry may run it again
            return response

        return run

    @staticmethod
    def _store(record, response) -> None:
        idempotency.idempotency_complete(
            record=record,
            status_code=response.status_code,
            body=response.data,
            content_type=response.content_type or "",
            location=response.headers.get("Location", ""),
        )

    @staticmethod
    def _release(record) -> None:
        try:
            idempotency.idempotency_release(record=record)
        except DatabaseError as error:  # the database is down; the claim goes stale and can be taken over
            logger.warning("Could not release idempotency claim %s: %s", record.pk, error)

    @staticmethod
    def _replay(record) -> Response:
        headers = {"Idempotent-Replayed": "true"}
        if record.location:
            headers["Location"] = record.location
        response = Response(record.body, status=record.status_code, headers=headers)
        if record.content_type:
            response.content_type = record.content_type
        return response


class ConditionalWritesMixin:
    """`ETag` on detail reads and writes; `If-Match` on PUT/PATCH/DELETE answers 412 when stale.

    The ETag is a digest of the representation, so any change a client could see changes it. With
    `If-Match`, the object's row is locked (SELECT ... FOR UPDATE on PostgreSQL) before the comparison,
    and the write runs in the same transaction: two writers holding the same ETag cannot both succeed.
    Without `If-Match`, writes work unconditionally, as before.
    """

    etag_read_actions = frozenset({"retrieve", "update", "partial_update"})
    etag_write_actions = frozenset({"update", "partial_update", "destroy"})

    @staticmethod
    def etag_for(data) -> str:
        """Return the strong ETag of a representation."""
        body = json.dumps(data, cls=JSONEncoder, sort_keys=True, separators=(",", ":"))
        return '"' + hashlib.sha256(body.encode()).hexdigest()[:40] + '"'

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if "If-Match" in request.headers and getattr(self, "action", None) in self.etag_write_actions:
            method = request.method.lower()
            setattr(self, method, self._conditional(getattr(self, method)))

    def _conditional(self, handler):
        def run(request, *args, **kwargs):
            with transaction.atomic():
                obj = self.get_object()
                manager = type(obj)._default_manager
                list(manager.select_for_update().filter(pk=obj.pk).values_list("pk", flat=True))
                current = self.etag_for(self.get_serializer(self.get_object()).data)
                wanted = parse_etags(request.headers["If-Match"])
                if "*" not in wanted and current not in wanted:
                    raise PreconditionFailed(current)
                return handler(request, *args, **kwargs)

        return run

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            getattr(self, "action", None) in self.etag_read_actions
            and response.status_code == 200
            and isinstance(getattr(response, "data", None), dict)
        ):
            etag = self.etag_for(response.data)
            response["ETag"] = etag
            if request.method in ("GET", "HEAD") and "If-None-Match" in request.headers:
                wanted = parse_etags(request.headers["If-None-Match"])
                if "*" in wanted or etag in wanted:
                    response.status_code = 304
                    response.data = None
        return response


class ResourceViewSet(
    IdempotentPostMixin,
    ConditionalWritesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """List and retrieve, plus helpers for the contract's writes (services do the work)."""

    #: URL name prefix of the detail route, e.g. "customer" for "customer-detail".
    basename: str
    #: Model whose permissions govern the view (sub-resources use Membership); default the queryset's.
    permission_model = None
    #: Sortable fields for `?ordering=` and the default ordering (see KeysetPagination).
    ordering_fields: tuple[str, ...] = ("created_at",)
    ordering: str | None = None

    #: The list reads `values_list` rows and represents them through the serializer's row plan
    #: (`fastpath.RowRepresentationMixin`) when the serializer has one and the filtered queryset holds its
    #: columns, instead of building a model instance per row; False: DRF's plain list (tests compare both).
    row_list = False

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        rows = self._list_rows(queryset)
        if rows is not None:
            queryset, plan = rows
            page = self.paginator.paginate_queryset(queryset, request, view=self)
            serializer = self.get_serializer(many=True)
            data = ReturnList(serializer.child.represent_rows(page, plan), serializer=serializer)
            return self.get_paginated_response(data)
        # DRF's ListModelMixin.list from here
        page = self.paginate_queryset(queryset)
        if page is not None:
            serializer = self.get_serializer(page, many=True)
            return self.get_paginated_response(serializer.data)
        serializer = self.get_serializer(queryset, many=True)
        return Response(serializer.data)

    def _list_rows(self, queryset):
        """Return (the queryset as named `values_list` rows, the serializer's row plan) for the row path, or
        None for the plain one."""
        if not self.row_list or self.paginator is None:
            return None
        plan_for = getattr(self.get_serializer_class(), "row_plan", None)
        plan = plan_for() if plan_for is not None else None
        if plan is None or queryset._iterable_class is not ModelIterable:
            return None
        if queryset.query.select_related or queryset._prefetch_related_lookups:
            return None
        meta = queryset.model._meta
        available = {field.attname for field in meta.concrete_fields} | set(queryset.query.annotations)
        if not available.issuperset(plan.columns):
            return None  # e.g. `group_id_array` on SQLite, where the list reads group ids in a second query
        # The paginator reads the ordering field and the primary key of the rows (its cursors).
        extra = [meta.get_field(name.lstrip("-")).attname for name in self.ordering_fields] + [meta.pk.attname]
        columns = (*plan.columns, *(name for name in dict.fromkeys(extra) if name not in plan.columns))
        return queryset.values_list(*columns, named=True), plan

    def filter_queryset(self, queryset):
        # The list's query filters do not apply to one object fetched by id (building the FilterSet for
        # it cost more than the object's own query).
        if self.detail:
            return queryset
        if self._no_filter_given():
            return queryset
        return super().filter_queryset(queryset)

    def _no_filter_given(self) -> bool:
        """Whether the request names no filter, so that the filter set would validate and filter nothing.

        True only when the query string holds nothing but the paginator's parameters, the only backend is
        django-filter's with a filter set using django-filter's own validation and filtering, and none of its
        filters is required: every filter then gets an empty value, which django-filter's filters (method
        filters included) skip. Building and validating the filter set for nothing cost about a sixth of a
        customer list page's CPU (`bench/profile_request.py --cpu-profile`).
        """
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is None or self.paginator is None:
            return False
        if not self.filter_backends or any(backend is not DjangoFilterBackend for backend in self.filter_backends):
            return False
        paging = {
            getattr(self.paginator, name, None)
            for name in ("cursor_query_param", "page_size_query_param", "ordering_query_param")
        }
        if not paging.issuperset(self.request.query_params.keys()):
            return False
        if any(
            getattr(filterset_class, name) is not getattr(BaseFilterSet, name)
            for name in ("__init__", "is_valid", "qs", "filter_queryset", "errors")
        ):
            return False
        filters = filterset_class.base_filters
        return not paging.intersection(filters) and not any(f.extra.get("required") for f in filters.values())

    def created(self, obj) -> Response:
        """Answer `201 Created` with `{"id"}` and the new object's `Location`."""
        location = self.request.build_absolute_uri(reverse(f"api:{self.basename}-detail", args=[obj.pk]))
        return Response(CreatedSerializer(obj).data, status=201, headers={"Location": location})


class WritableResourceViewSet(ResourceViewSet):
    """A resource created, replaced (PUT), changed (PATCH) and deleted through its services.

    Subclasses name the services: `perform_service_create(data)` returns the new object,
    `perform_service_update(obj, changes, replace)` changes it (replace: PUT semantics) and
    `perform_service_destroy(obj)` deletes it.
    """

    def perform_service_create(self, data: dict):
        raise NotImplementedError

    def perform_service_update(self, obj, changes: dict, replace: bool) -> None:
        raise NotImplementedError

    def perform_service_destroy(self, obj) -> None:
        raise NotImplementedError

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.created(self.perform_service_create(serializer.validated_data))

    def update(self, request, *args, partial: bool = False, **kwargs):
        obj = self.get_object()
        serializer = self.get_serializer(obj, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        self.perform_service_update(obj, serializer.validated_data, replace=not partial)
        return Response(self.get_serializer(self.get_queryset().get(pk=obj.pk)).data)

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request, *args, **kwargs):
        self.perform_service_destroy(self.get_object())
        return Response(status=204)


def healthz(request):
    """Report the app, database and migration state (no authentication; for load balancers and monitors).

    200 when the database answers a query and every migration is applied; 503 otherwise, the body naming the
    check that failed, e.g. `{"status": "unhealthy", "database": "ok", "migrations": "pending: records.0002_x"}`.
    """
    checks = {"app": "ok", "database": _check_database(), "migrations": "not checked"}
    if checks["database"] == "ok":
        checks["migrations"] = _check_migrations()
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", **checks}, status=200 if healthy else 503)


def _check_database() -> str:
    """Return "ok" when the database answers a query, else what went wrong."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            if cursor.fetchone() != (1,):
                return "unavailable: unexpected answer to SELECT 1"
    except Exception as error:  # any failure means "not healthy", and the reason is reported
        return f"unavailable: {type(error).__name__}"
    return "ok"


def _check_migrations() -> str:
    """Return "ok" when every migration of the code is applied to the database, else the pending ones."""
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:  # e.g. an inconsistent history: not healthy either
        return f"unknown: {type(error).__name__}"
    if not plan:
        return "ok"
    names = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
    more = f" (and {len(names) - 3} more)" if len(names) > 3 else ""
    return "pending: " + ", ".join(names[:3]) + more
