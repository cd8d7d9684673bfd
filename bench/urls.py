"""The production URLs unchanged, plus the plain-Django baseline views under /bench/baseline/."""

from __future__ import annotations

from django.urls import path

from bench import baseline
from billingengine.urls import handler400, handler404, handler500
from billingengine.urls import urlpatterns as production_urlpatterns

urlpatterns = [
    path("bench/baseline/customers", baseline.customers, name="baseline-customers"),
    path("bench/baseline/customers/<uuid:pk>", baseline.customer_detail, name="baseline-customer-detail"),
    *production_urlpatterns,
]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
