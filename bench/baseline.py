"""The baseline: plain Django function views doing the API's ORM work, without DRF.

They authenticate exactly as the API does (the same API key lookup and the same model permission
check), so the comparison measures what DRF, the serializer, the filters and the pagination add.
"""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from billingengine.api.authentication import ApiKeyAuthentication
from customers.models import Customer
from customers.querysets import attach_group_ids
from customers.services import CUSTOMER_FIELDS, customer_create
from groups.services import customer_set_groups, resolve_group_ids

_auth = ApiKeyAuthentication()


def _authorized(request: HttpRequest, perm: str) -> HttpResponse | None:
    """Return an error response unless the request's API key belongs to a user holding *perm*."""
    try:
        result = _auth.authenticate(request)
    except AuthenticationFailed:
        result = None
    if result is None:
        return JsonResponse({"detail": "unauthorized"}, status=401)
    if not result[0].has_perms([perm]):
        return JsonResponse({"detail": "forbidden"}, status=403)
    return None


def _timestamp(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _customer(c: Customer) -> dict:
    return {
        "id": str(c.id),
        "name": c.name,
        "external_id": c.external_id,
        "tax_id": c.tax_id,
        "vat_id": c.vat_id,
        "address_street": c.address_street,
        "address_city": c.address_city,
        "address_zip": c.address_zip,
        "address_country": c.address_country.code or None,
        "group_ids": [str(g) for g in c.group_ids],
        "created_at": _timestamp(c.created_at),
        "updated_at": _timestamp(c.updated_at),
    }


def customer_detail(request: HttpRequest, pk) -> HttpResponse:
    """Retrieve one customer with its group ids."""
    denied = _authorized(request, "customers.view_customer")
    if denied:
        return denied
    try:
        customer = attach_group_ids([Customer.objects.get(pk=pk)])[0]
    except Customer.DoesNotExist:
        return JsonResponse({"detail": "not found"}, status=404)
    return JsonResponse(_customer(customer))


@transaction.atomic
def _create(fields: dict, group_ids) -> Customer:
    """Create the customer and its memberships as the API does (unknown groups fail before any write)."""
    if group_ids:
        group_ids = resolve_group_ids(group_ids)
    customer = customer_create(**fields)
    if group_ids:
        customer_set_groups(customer=customer, group_ids=group_ids, new=True)
    return customer


@csrf_exempt
def customers(request: HttpRequest) -> HttpResponse:
    """GET: the first page (ordered by created_at, id; `page_size`, default 50); POST: create a customer."""
    if request.method == "POST":
        denied = _authorized(request, "customers.add_customer")
        if denied:
            return denied
        data = json.loads(request.body)
        fields = {f: data[f] for f in CUSTOMER_FIELDS if f in data}
        customer = _create(fields, data.get("group_ids"))
        response = JsonResponse({"id": str(customer.id)}, status=201)
        response["Location"] = request.build_absolute_uri(f"/bench/baseline/customers/{customer.id}")
        return response
    denied = _authorized(request, "customers.view_customer")
    if denied:
        return denied
    size = int(request.GET.get("page_size", 50))
    rows = attach_group_ids(list(Customer.objects.order_by("created_at", "id")[: size + 1]))
    return JsonResponse({"next": None, "previous": None, "results": [_customer(c) for c in rows[:size]]})
