"""Routes of /api/v1: each path works with and without a trailing slash (no redirect)."""

from __future__ import annotations

from django.urls import re_path
from rest_framework.routers import DefaultRouter

from customers.api.views import CustomerViewSet
from groups.api.views import GroupViewSet
from pricing.api.views import CustomerRatesView, PriceListViewSet, RateViewSet
from records.api.views import CustomerUsageView, DataRecordViewSet


class OptionalSlashRouter(DefaultRouter):
    """A router whose routes accept an optional trailing slash."""

    include_format_suffixes = False

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("groups", GroupViewSet, basename="group")
router.register("records", DataRecordViewSet, basename="record")
router.register("price-lists", PriceListViewSet, basename="price-list")
router.register(r"price-lists/(?P<price_list_id>[^/.]+)/rates", RateViewSet, basename="rate")

app_name = "api"
urlpatterns = [
    *router.urls,
    # A customer's usage is records' business: served by the records app, so customers need not know records.
    re_path(r"^customers/(?P<pk>[^/.]+)/usage/?$", CustomerUsageView.as_view(), name="customer-usage"),
    re_path(r"^customers/(?P<customer_id>[^/.]+)/rates/?$", CustomerRatesView.as_view(), name="customer-rates"),
]
