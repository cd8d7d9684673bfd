"""Base viewset and small shared API views."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.urls import reverse
from rest_framework import mixins, viewsets
from rest_framework.response import Response

from billingengine.api.serializers import CreatedSerializer


class ResourceViewSet(
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

    def filter_queryset(self, queryset):
        # The list's query filters do not apply to one object fetched by id (building the FilterSet for
        # it cost more than the object's own query).
        if self.detail:
            return queryset
        return super().filter_queryset(queryset)

    def created(self, obj) -> Response:
        """Answer `201 Created` with `{"id"}` and the new object's `Location`."""
        location = self.request.build_absolute_uri(reverse(f"api:{self.basename}-detail", args=[obj.pk]))
        return Response(CreatedSerializer(obj).data, status=201, headers={"Location": location})


def healthz(request):
    """Report the app and database state (no authentication; for load balancers and monitors)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        database = "ok"
    except Exception as error:  # any failure means "not healthy", and the reason is reported
        database = f"unavailable: {type(error).__name__}"
    healthy = database == "ok"
    body = {"status": "ok" if healthy else "degraded", "app": "ok", "database": database}
    return JsonResponse(body, status=200 if healthy else 503)
