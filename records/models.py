"""Data records (usage facts), and the hourly and per-minute usage rollups that answer summaries fast."""

from __future__ import annotations

import os
import time
import uuid

from django.core.validators import RegexValidator
from django.db import models

from billingengine.validators import no_control_characters
from records.querysets import DataRecordQuerySet, UsageRollupQuerySet

CODE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}\Z"  # \Z, not $: "$" would also accept a trailing newline
code_validator = RegexValidator(
    CODE_PATTERN, "1 to 64 characters of letters, digits and _ . : - are allowed.", code="invalid_code"
)


def uuid7s(count: int) -> list[uuid.UUID]:
    """Return *count* time-ordered UUIDs (RFC 9562 version 7).

    Ids that grow with time land at the right edge of the primary key index, so inserting millions of
    records touches few index pages (random UUIDv4 ids would scatter every insert over the whole index).
    Made in one go for a batch: one `os.urandom` call instead of one per id.
    """
    prefix = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76
    random = os.urandom(10 * count)
    out = []
    for i in range(count):
        r = int.from_bytes(random[10 * i : 10 * i + 10])
        # 12 random bits after the version, the variant 0b10, then 62 random bits.
        out.append(uuid.UUID(int=prefix | (r >> 68) << 64 | 0x2 << 62 | (r & 0x3FFF_FFFF_FFFF_FFFF)))
    return out


def uuid7() -> uuid.UUID:
    """Return one time-ordered UUID (version 7)."""
    return uuid7s(1)[0]


class DataRecord(models.Model):
    """One usage fact: a customer consumed *quantity* of *code* in a time window. Immutable audit data."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No foreign key on purpose: records outlive their customer, and deleting a customer must not rewrite
    # (SET NULL) millions of immutable rows. These three columns are the customer as at submission.
    customer_id = models.UUIDField(
        verbose_name="customer ID", help_text="Id of the customer at submission; kept after the customer is deleted."
    )
    customer_external_id = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        verbose_name="customer external ID",
        help_text="The customer's external_id at submission (null when it had none).",
    )
    customer_name = models.CharField(max_length=255, help_text="The customer's name at submission.")
    code = models.CharField(max_length=64, validators=[code_validator], help_text="What was consumed, e.g. SMS.")
    quantity = models.DecimalField(max_digits=24, decimal_places=6, help_text="How much was consumed.")
    time_from = models.DateTimeField(help_text="Start of the usage (the moment usage summaries count it at).")
    time_to = models.DateTimeField(null=True, blank=True, help_text="End of the usage, if it spans a period.")
    transaction_id = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        validators=[no_control_characters],
        verbose_name="transaction ID",
        help_text="The integrator's own id of the record; a retry with the same id is not a second record.",
    )
    created_at = models.DateTimeField(auto_now_add=True, editable=False, help_text="When the record was submitted.")
    billing_epoch = models.PositiveIntegerField(
        default=0,
        db_default=0,
        editable=False,
        help_text="How many bills the customer had at submission: a record of a billed period goes on bill N+1.",
    )

    objects = DataRecordQuerySet.as_manager()

    class Meta:
        verbose_name = "data record"
        verbose_name_plural = "data records"
        ordering = ["time_from", "id"]
        constraints = [
            # Global, not per customer: a transaction_id names one usage fact of the integrator, so a retry
            # that names another customer is a conflict (409), never a second, billed record.
            models.UniqueConstraint(fields=["transaction_id"], name="%(app_label)s_%(class)s_transaction_id_unique"),
            models.CheckConstraint(
                condition=models.Q(time_to__isnull=True) | models.Q(time_to__gte=models.F("time_from")),
                name="%(app_label)s_%(class)s_time_to_after_time_from",
            ),
            models.CheckConstraint(condition=~models.Q(code=""), name="%(app_label)s_%(class)s_code_not_blank"),
        ]
        indexes = [
            # Covering on PostgreSQL (INCLUDE code, quantity): the billing summary reads the pieces of the hours a
            # rate boundary cuts with index-only scans. SQLite ignores INCLUDE (a plain (customer, time) index).
            models.Index(
                fields=["customer_id", "time_from"], include=["code", "quantity"], name="records_billing_cover_idx"
            ),
            models.Index(fields=["customer_external_id", "time_from"], name="records_external_time_idx"),
            models.Index(fields=["code", "time_from"], name="records_code_time_idx"),
            models.Index(fields=["time_from", "id"], name="records_time_id_idx"),
            # Late usage of a bill: the customer's records of its current billing epoch in billed periods.
            models.Index(fields=["customer_id", "billing_epoch", "time_from"], name="records_customer_epoch_idx"),
        ]

    def __str__(self) -> str:
        who = self.customer_external_id or self.customer_id
        return f"{self.code} {self.quantity} for {who} at {self.time_from:%Y-%m-%d %H:%M:%S}"


class _UsageRollupBase(models.Model):
    """Usage of one customer and code in one UTC period (an hour, a minute), kept in step with every record
    insert (`records.rollup`). The key (customer, start of the period, code) is also the summaries' index
    (customer = X and time in a range: one range scan) and the upserts' conflict target; no surrogate id, so
    a new row costs one index entry, not two."""

    customer_id = models.UUIDField(verbose_name="customer ID")
    code = models.CharField(max_length=64)
    quantity = models.DecimalField(max_digits=38, decimal_places=6, help_text="Sum of the records' quantities.")
    records = models.BigIntegerField(help_text="Number of records.")

    objects = UsageRollupQuerySet.as_manager()

    class Meta:
        abstract = True


class UsageRollup(_UsageRollupBase):
    """Usage of one customer and code in one UTC hour: usage summaries and the billing summary's whole hours."""

    pk = models.CompositePrimaryKey("customer_id", "hour", "code")
    hour = models.DateTimeField(help_text="Start of the UTC hour.")

    class Meta:
        verbose_name = "usage rollup"

    def __str__(self) -> str:
        return f"{self.customer_id} {self.code} {self.hour:%Y-%m-%d %H}:00 {self.quantity}"


class UsageMinuteRollup(_UsageRollupBase):
    """Usage of one customer and code in one UTC minute: the whole minutes of the partial hours a summary
    reads (at a period's edges, and where a rate or membership boundary cuts an hour), so that only the
    seconds around a boundary are read from the records."""

    pk = models.CompositePrimaryKey("customer_id", "minute", "code")
    minute = models.DateTimeField(help_text="Start of the UTC minute.")

    class Meta:
        verbose_name = "usage rollup by minute"
        verbose_name_plural = "usage rollups by minute"

    def __str__(self) -> str:
        return f"{self.customer_id} {self.code} {self.minute:%Y-%m-%d %H:%M} {self.quantity}"


#: Every column of a data record, in the API's order (the representation, the insert and the admin use it).
RECORD_COLUMNS = (
    "id",
    "customer_id",
    "customer_external_id",
    "customer_name",
    "code",
    "quantity",
    "time_from",
    "time_to",
    "transaction_id",
    "created_at",
)
