"""Issued bills: the billing summary of a period frozen with a customer snapshot, and the yearly number counter."""

from __future__ import annotations

import uuid

from django.db import models


class BillNumber(models.Model):
    """The last bill number issued in one calendar year (row-locked while a bill is issued: numbers stay gap-free)."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0, help_text="The last number issued this year (0: none yet).")

    class Meta:
        verbose_name = "bill number counter"

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Bill(models.Model):
    """A customer's bill for a period: immutable once issued."""

    class Status(models.TextChoices):
        ISSUED = "issued", "issued"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # SET_NULL: bills are accounting documents and outlive the customer; the snapshot keeps who it was.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="bills"
    )
    customer_external_id = models.CharField(
        max_length=255, null=True, blank=True, verbose_name="customer external ID", help_text="As at issue."
    )
    customer_name = models.CharField(max_length=255, help_text="As at issue.")
    customer_snapshot = models.JSONField(help_text="The customer's billing details as at issue.")
    period_from = models.DateTimeField(help_text="Start of the billed period (inclusive).")
    period_to = models.DateTimeField(help_text="End of the billed period (exclusive).")
    number = models.CharField(max_length=16, help_text="YYYY-NNNNNN: sequential and gap-free per calendar year.")
    issued_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ISSUED)
    epoch = models.PositiveIntegerField(
        help_text="How many bills the customer had before this one; its late lines are the records of this epoch."
    )
    totals = models.JSONField(default=list, help_text='[{"currency", "amount"}], amounts as strings.')
    unpriced = models.JSONField(default=list, help_text='[{"code", "quantity", "records"}]: usage no rate priced.')

    class Meta:
        ordering = ["issued_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="%(app_label)s_%(class)s_number_unique"),
            models.CheckConstraint(
                condition=models.Q(period_from__lt=models.F("period_to")),
                name="%(app_label)s_%(class)s_period_not_empty",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "period_to"], name="billing_customer_period_idx"),
            models.Index(fields=["customer_external_id", "issued_at"], name="billing_external_issued_idx"),
            models.Index(fields=["issued_at", "id"], name="billing_issued_id_idx"),
            models.Index(fields=["period_from", "id"], name="billing_period_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.customer_name}"


class BillLine(models.Model):
    """One priced stretch of one code on a bill (or its late usage from an earlier billed period)."""

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (bill, position) constraint's index serves every lookup by bill (one
    # index less to update per line; a bill run inserts millions of lines).
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines", db_index=False)
    position = models.PositiveIntegerField(help_text="Order of the line on the bill.")
    code = models.CharField(max_length=64)
    period_from = models.DateTimeField(help_text="Start of the stretch (inclusive).")
    period_to = models.DateTimeField(help_text="End of the stretch (exclusive).")
    quantity = models.DecimalField(max_digits=38, decimal_places=6)
    records = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=40, decimal_places=4, help_text="Rounded once to the currency.")
    # PROTECT: a rate (and so its price list) that priced an issued bill cannot be deleted.
    rate = models.ForeignKey("pricing.Rate", on_delete=models.PROTECT, related_name="bill_lines")
    rate_snapshot = models.JSONField(help_text="The rate as the summary describes it.")
    tiers = models.JSONField(default=list)
    late = models.BooleanField(default=False, help_text="Usage of an earlier billed period, submitted after it.")

    class Meta:
        ordering = ["bill", "position"]
        constraints = [
            models.UniqueConstraint(fields=["bill", "position"], name="%(app_label)s_%(class)s_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.quantity} {self.currency} {self.amount}"
