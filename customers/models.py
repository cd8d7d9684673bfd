"""The customer: the company every data record is attached to."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from billingengine.validators import no_control_characters, no_control_characters_except_line_breaks, normalize_text
from customers.querysets import CustomerQuerySet

#: Fields a customer is created and replaced with (its groups aside).
CUSTOMER_FIELDS = (
    "name",
    "external_id",
    "tax_id",
    "vat_id",
    "address_street",
    "address_city",
    "address_zip",
    "address_country",
)


def normalize_customer_value(field: str, value: Any) -> Any:
    """Return *value* as stored: trimmed, "" as None, the country upper-case."""
    value = normalize_text(value)
    if field == "address_country" and value is not None:
        value = value.upper()
    if field == "name" and value is None:
        value = ""
    return value


class Customer(models.Model):
    """A company that consumes our user's services and is billed for them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255, validators=[no_control_characters], help_text="Business name.")
    external_id = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        validators=[no_control_characters],
        verbose_name="external ID",
        help_text="Your own identifier from a CRM or ERP; unique; cannot be changed once set (operators re-key).",
    )
    tax_id = models.CharField(
        max_length=64, null=True, blank=True, validators=[no_control_characters], verbose_name="tax ID"
    )
    vat_id = models.CharField(
        max_length=64, null=True, blank=True, validators=[no_control_characters], verbose_name="VAT ID"
    )
    address_street = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        validators=[no_control_characters_except_line_breaks],
        verbose_name="street",
        help_text="Street and number; may span several lines.",
    )
    address_city = models.CharField(
        max_length=255, null=True, blank=True, validators=[no_control_characters], verbose_name="city"
    )
    address_zip = models.CharField(
        max_length=32, null=True, blank=True, validators=[no_control_characters], verbose_name="postal code"
    )
    address_country = CountryField(null=True, blank=True, verbose_name="country", help_text="ISO 3166-1 alpha-2.")
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # NULLs are distinct in both SQLite and PostgreSQL, so any number of customers may lack one.
            models.UniqueConstraint(fields=["external_id"], name="%(app_label)s_%(class)s_external_id_unique"),
            models.CheckConstraint(condition=~models.Q(name=""), name="%(app_label)s_%(class)s_name_not_blank"),
            models.CheckConstraint(
                condition=~models.Q(external_id=""), name="%(app_label)s_%(class)s_external_id_not_blank"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="customers_created_id_idx"),
            models.Index(fields=["updated_at", "id"], name="customers_updated_id_idx"),
            models.Index(fields=["name", "id"], name="customers_name_id_idx"),
            models.Index(fields=["address_country", "created_at", "id"], name="customers_country_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})" if self.external_id else self.name

    @property
    def group_ids(self) -> list:
        """Return the ids of the customer's current groups (prefetched by `with_group_ids()` when listed)."""
        memberships = getattr(self, "current_memberships", None)
        if memberships is None:
            return list(self.memberships.current().order_by("joined_at", "group_id").values_list("group_id", flat=True))
        return [m.group_id for m in sorted(memberships, key=lambda m: (m.joined_at, str(m.group_id)))]
