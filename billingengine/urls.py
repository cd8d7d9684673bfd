"""URL configuration: the API under /api/v1, its schema and docs, the admin, and /healthz."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from billingengine.api.exceptions import api_not_found
from billingengine.api.views import healthz

admin.site.site_header = "BillingEngine administration"
admin.site.site_title = "BillingEngine"
admin.site.index_title = "Customers, prices, bills and API access"

urlpatterns = [
    path("api/v1/", include("billingengine.api.urls")),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", login_required(SpectacularSwaggerView.as_view(url_name="schema")), name="swagger-ui"),
    re_path(r"^api/redoc/?$", login_required(SpectacularRedocView.as_view(url_name="schema")), name="redoc"),
    re_path(r"^healthz/?$", healthz, name="healthz"),
    path(settings.ADMIN_URL, admin.site.urls),
    # Unknown API paths answer problem+json 404 (also with DEBUG on).
    re_path(r"^api/", api_not_found),
]

handler400 = "billingengine.api.exceptions.api_bad_request"
handler404 = "billingengine.api.exceptions.api_not_found"
handler500 = "billingengine.api.exceptions.api_server_error"
