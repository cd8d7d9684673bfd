"""Customer groups and memberships with their history."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from billingengine.validators import no_control_characters
from groups.querysets import GroupQuerySet, MembershipQuerySet


class Group(models.Model):
    """A customer group (segment); the groups a customer is in decide which price lists apply."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(
        max_length=255, validators=[no_control_characters], help_text="Unique, ignoring case, e.g. “VIP”."
    )
    description = models.TextField(blank=True, default="", help_text="What the group is for.")
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    objects = GroupQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "customer group"
        verbose_name_plural = "customer groups"
        constraints = [
            models.UniqueConstraint(Lower("name"), name="%(app_label)s_%(class)s_name_ci_unique"),
            models.CheckConstraint(condition=~models.Q(name=""), name="%(app_label)s_%(class)s_name_not_blank"),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="groups_created_id_idx")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A customer's membership of a group from `joined_at` until `left_at` (open while current)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField(help_text="When the membership started.")
    left_at = models.DateTimeField(null=True, blank=True, help_text="When it ended; empty while current.")

    history = HistoricalRecords()

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "group"],
                condition=models.Q(left_at__isnull=True),
                name="%(app_label)s_%(class)s_one_current_per_customer_group",
            ),
            models.CheckConstraint(
                condition=models.Q(left_at__isnull=True) | models.Q(left_at__gte=models.F("joined_at")),
                name="%(app_label)s_%(class)s_left_after_joined",
            ),
        ]
        indexes = [
            # Open memberships by group; joined_at is in the index so counting current members (which must
            # have started) stays an index-only scan.
            models.Index(
                fields=["group", "customer", "joined_at"],
                condition=models.Q(left_at__isnull=True),
                name="groups_open_members_idx",
            ),
            models.Index(fields=["customer", "joined_at"], name="groups_customer_history_idx"),
            # Memberships that end (or ended) at a known time: the second branch of `active_at`.
            models.Index(
                fields=["group", "left_at", "customer", "joined_at"],
                condition=models.Q(left_at__isnull=False),
                name="groups_ended_members_idx",
            ),
        ]

    def __str__(self) -> str:
        """E.g. "Acme Ltd (EXT-1) in VIP, from 2026-01-05 09:30 UTC to now" (names, not ids)."""
        until = f"{self.left_at:%Y-%m-%d %H:%M %Z}" if self.left_at else "now"
        return f"{self.customer} in {self.group}, from {self.joined_at:%Y-%m-%d %H:%M %Z} to {until}"


class GroupMemberCount(models.Model):
    """A group's stored member count (kept by database triggers; see `groups/migrations/0003_group_member_counts.py`):
    current members = `members` + the group's `PendingMemberChange` deltas due by now."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, primary_key=True, related_name="member_count")
    members = models.IntegerField(default=0, help_text="Members as of the last fold of the group's due changes.")

    class Meta:
        verbose_name = "group member count"

    def __str__(self) -> str:
        return f"stored member count ({self.members})"


class PendingMemberChange(models.Model):
    """A change to a group's member count not yet in `GroupMemberCount.members`: memberships starting (+1) and
    ending (-1) at `at`, either later (scheduled) or due but not folded yet. Kept by database triggers."""

    # No database constraint: a deleted membership writes its change while a group's deletion cascades; a
    # trigger on the group table removes the group's rows when the group goes.
    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, db_constraint=False, related_name="pending_member_changes"
    )
    at = models.DateTimeField(help_text="When the change takes effect.")
    delta = models.IntegerField(help_text="Members joining minus members leaving at `at`.")

    class Meta:
        verbose_name = "pending member change"
        indexes = [models.Index(fields=["group", "at"], name="groups_pending_change_idx")]

    def __str__(self) -> str:
        return f"pending member change ({self.delta:+d} at {self.at:%Y-%m-%d %H:%M:%S %Z})"
