"""Customer groups and memberships with their history."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from billingengine.validators import no_control_characters
from groups.constraints import PostgresOnlyExclusionConstraint, RangeOperators, membership_period
from groups.querysets import GroupManager, GroupQuerySet, MembershipQuerySet


class Group(models.Model):
    """A customer group (segment); the groups a customer is in decide which price lists apply."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(
        max_length=255, validators=[no_control_characters], help_text="Unique, ignoring case, e.g. “VIP”."
    )
    description = models.TextField(blank=True, default="", help_text="What the group is for.")
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)
    deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the group was deleted: it is hidden, its name is free, its memberships stay for the history.",
    )

    history = HistoricalRecords(excluded_fields=["updated_at"])

    #: The groups that exist (deleted ones hidden): what the API, the admin and the filters see.
    objects = GroupManager()
    #: Every group, deleted ones included: for the membership history.
    all_objects = GroupQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "customer group"
        verbose_name_plural = "customer groups"
        constraints = [
            # A deleted group frees its name for a new one.
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(deleted_at__isnull=True),
                name="%(app_label)s_%(class)s_name_ci_unique",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="%(app_label)s_%(class)s_name_not_blank"),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="groups_created_id_idx")]

    def __str__(self) -> str:
        return self.name

    def protected_references(self) -> list[str]:
        """Return the names of the things that keep the group from being deleted (e.g. "price lists").

        Groups know nothing of the apps built on them: any model that points at a group with `on_delete=PROTECT`
        (or RESTRICT), e.g. a price list, blocks its deletion while it has rows.
        """
        names = []
        for relation in self._meta.get_fields(include_hidden=True):
            if not (relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)):
                continue
            if relation.on_delete not in (models.PROTECT, models.RESTRICT):
                continue
            if relation.related_model._base_manager.filter(**{relation.field.name: self}).exists():
                names.append(str(relation.related_model._meta.verbose_name_plural))
        return names

    @property
    def is_deleted(self) -> bool:
        """Return whether the group was deleted (it is kept, hidden, for its memberships' history)."""
        return self.deleted_at is not None


class Membership(models.Model):
    """A customer's membership of a group from `joined_at` until `left_at` (none: no end planned)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField(
        help_text="When the membership starts; later than now: scheduled, not current yet."
    )
    left_at = models.DateTimeField(
        null=True, blank=True, help_text="When it ends (past: ended, future: planned); empty: no end planned."
    )

    history = HistoricalRecords()

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            # Two memberships of a customer in a group never share an instant. On PostgreSQL the database holds
            # this for concurrent writers too (btree_gist); elsewhere the service checks under the writer lock.
            PostgresOnlyExclusionConstraint(
                name="%(app_label)s_%(class)s_no_overlap",
                expressions=[
                    ("customer", RangeOperators.EQUAL),
                    ("group", RangeOperators.EQUAL),
                    (membership_period(), RangeOperators.OVERLAPS),
                ],
                violation_error_code="membership_overlap",
                violation_error_message="The customer already has a membership of this group in that period.",
            ),
            models.UniqueConstraint(
                fields=["customer", "group"],
                condition=models.Q(left_at__isnull=True),
                name="%(app_label)s_%(class)s_one_current_per_customer_group",
            ),
            models.CheckConstraint(
                condition=models.Q(left_at__isnull=True) | models.Q(left_at__gt=models.F("joined_at")),
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
    """A group's stored member count (kept by database triggers; see `groups/migrations/0004_group_member_counts.py`):
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
