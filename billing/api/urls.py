"""Routes of the billing endpoints under /api/v1 (each with or without a trailing slash)."""

from __future__ import annotations

from django.urls import re_path

from billing.api.views import CustomerBillingViewSet

urlpatterns = [
    re_path(
        r"^customers/(?P<pk>[^/.]+)/billing-summary/?$",
        CustomerBillingViewSet.as_view({"get": "billing_summary"}, basename="bill"),
        name="customer-billing-summary",
    ),
    re_path(
        r"^customers/(?P<pk>[^/.]+)/bills/?$",
        CustomerBillingViewSet.as_view({"post": "issue"}, basename="bill"),
        name="customer-bills",
    ),
]
