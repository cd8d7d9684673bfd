"""Writes on customer groups and memberships; the API, the admin and the commands all call these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from billingengine.errors import Conflict, GroupNameTaken, InvalidInput, NotFound
from billingengine.validators import normalize_text
from customers.models import Customer
from groups.guards import check_membership_change
from groups.models import Group, Membership

GROUP_FIELDS = ("name", "description")


def _save_group(group: Group) -> Group:
    group.name = normalize_text(group.name) or ""
    group.description = (group.description or "").strip()
    group.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError as error:
        existing = Group.objects.filter(name__iexact=group.name).exclude(pk=group.pk).values_list("id", flat=True)
        existing_id = next(iter(existing), None)
        if existing_id is not None:
            raise GroupNameTaken(group.name, existing_id) from error
        raise Conflict("The group conflicts with existing data.") from error
    return group


@transaction.atomic
def group_create(*, name: str, description: str | None = "") -> Group:
    """Create a group; its name must be unique ignoring case."""
    return _save_group(Group(name=name, description=description or ""))


@transaction.atomic
def group_update(*, group: Group, changes: Mapping[str, Any], replace: bool = False) -> Group:
    """Change *group*: the fields in *changes*, or with *replace* every field (omitted ones cleared)."""
    for field in GROUP_FIELDS:
        if field in changes:
            setattr(group, field, changes[field] if changes[field] is not None else "")
        elif replace and field != "name":
            setattr(group, field, "")
    return _save_group(group)


@transaction.atomic
def group_delete(*, group: Group, force: bool = False, user: AbstractBaseUser | None = None) -> int:
    """Delete *group*: hide it and free its name, keeping it and its memberships for the history.

    Its current memberships end now and the ones scheduled to start later are cancelled (removed; their
    change-history rows stay); with current or scheduled members only when *force*. A group something still
    refers to (e.g. a price list) cannot be deleted. Return the number of memberships ended or cancelled.
    """
    group = Group.objects.select_for_update().get(pk=group.pk)
    references = group.protected_references()
    if references:
        raise Conflict(
            f"Group '{group.name}' is in use by {', '.join(references)}; detach them first.",
            code="group_in_use",
            used_by=references,
        )
    now = timezone.now()
    current = list(Membership.objects.active_at(now).filter(group=group).select_for_update())
    scheduled = list(Membership.objects.filter(group=group, joined_at__gt=now).select_for_update())
    if (current or scheduled) and not force:
        planned = f" and {len(scheduled)} scheduled" if scheduled else ""
        raise Conflict(
            f"Group '{group.name}' still has {len(current)} current{planned} member(s); remove them first "
            "or delete with force (API: ?force=true).",
            code="group_not_empty",
            customer_count=len(current),
            scheduled_count=len(scheduled),
        )
    check_membership_change(customer_ids={m.customer_id for m in current + scheduled}, at=now)
    _end_memberships(current, now)
    for membership in scheduled:
        membership.delete()
    group.deleted_at = now
    group.save(update_fields=["deleted_at", "updated_at"])
    return len(current) + len(scheduled)


def _end_memberships(memberships: Iterable[Membership], now: datetime) -> int:
    """End each membership at *now*; the row stays, so the history keeps it."""
    ended = 0
    for membership in memberships:
        membership.left_at = now
        membership.save(update_fields=["left_at"])
        ended += 1
    return ended


def _overlap_conflict(existing: Membership) -> Conflict:
    until = existing.left_at.isoformat() if existing.left_at else "open-ended"
    return Conflict(
        f"The customer already has a membership of this group from {existing.joined_at.isoformat()} "
        f"({until}) that overlaps this one.",
        code="membership_overlap",
        field="joined_at",
        existing_id=str(existing.pk),
        existing_joined_at=existing.joined_at.isoformat(),
        existing_left_at=existing.left_at.isoformat() if existing.left_at else None,
    )


def _refuse_overlap(*, group_id: UUID, customer_id: UUID, start: datetime, end: datetime | None) -> None:
    """Raise `membership_overlap` naming the customer's membership of the group that shares an instant with
    `[start, end)`. The exclusion constraint holds the rule on PostgreSQL also for concurrent writers; this
    check (under the customer's row lock) gives the clear error, and is the rule itself on SQLite."""
    existing = Membership.objects.filter(group_id=group_id, customer_id=customer_id).overlapping(start, end).first()
    if existing is not None:
        raise _overlap_conflict(existing)


def _lock_customer(customer_id: UUID) -> None:
    """Lock the customer's row: its membership writes run one after the other."""
    if not Customer.objects.select_for_update().filter(pk=customer_id).exists():
        raise NotFound("No such customer.", code="unknown_customer")


@transaction.atomic
def membership_add(
    *,
    group: Group,
    customer: Customer,
    joined_at: datetime | None = None,
    user: AbstractBaseUser | None = None,
) -> tuple[Membership, bool]:
    """Make *customer* a member of *group* from *joined_at* (default now; past or future); return the membership
    and whether it was started.

    Without *joined_at*, a customer who is a current member keeps that membership (idempotent). Any overlap
    with another membership of the customer in the group is `membership_overlap`; a change before the end of a
    billed period is refused by the registered guards (`groups.guards`).
    """
    _lock_customer(customer.pk)
    now = timezone.now()
    if joined_at is None:
        existing = Membership.objects.current().filter(group=group, customer=customer).first()
        if existing is not None:
            return existing, False
    at = joined_at or now
    _refuse_overlap(group_id=group.pk, customer_id=customer.pk, start=at, end=None)
    check_membership_change(customer_ids={customer.pk}, at=at)
    membership = Membership(group=group, customer=customer, joined_at=at)
    try:
        with transaction.atomic():
            membership.save(force_insert=True)
    except IntegrityError as error:
        # A concurrent writer got there first (the lock makes this rare; the constraint makes it safe).
        existing = Membership.objects.filter(group=group, customer=customer).overlapping(at, None).first()
        if existing is None:
            raise
        if joined_at is None and existing.joined_at <= now:
            return existing, False
        raise _overlap_conflict(existing) from error
    return membership, True


@transaction.atomic
def membership_remove(
    *,
    group: Group,
    customer: Customer | UUID | str,
    left_at: datetime | None = None,
    user: AbstractBaseUser | None = None,
) -> Membership:
    """End *customer*'s membership of *group* that is current at *left_at* (default now; past or future) at
    that instant; raise NotFound when there is none."""
    at = left_at or timezone.now()
    membership = Membership.objects.active_at(at).filter(group=group, customer=customer).select_for_update().first()
    if membership is None:
        when = "now" if left_at is None else f"at {at.isoformat()}"
        raise NotFound(f"The customer is not a member of this group {when}.", code="not_a_member")
    if membership.joined_at >= at:
        raise InvalidInput(
            f"left_at ({at.isoformat()}) must be later than the membership's joined_at "
            f"({membership.joined_at.isoformat()}).",
            code="ends_before_start",
            field="left_at",
        )
    check_membership_change(customer_ids={membership.customer_id}, at=at)
    _end_memberships([membership], at)
    return membership


def resolve_group_ids(group_ids: Iterable[UUID | str], *, field: str = "group_ids") -> list[UUID]:
    """Return *group_ids* as UUIDs without duplicates, in order; raise InvalidInput naming unknown ones."""
    wanted: list[UUID] = []
    for raw in group_ids:
        try:
            value = raw if isinstance(raw, UUID) else UUID(str(raw))
        except (TypeError, ValueError, AttributeError) as error:
            raise InvalidInput(f"'{raw}' is not a valid UUID.", code="invalid_uuid", field=field) from error
        if value not in wanted:
            wanted.append(value)
    known = set(Group.objects.filter(id__in=wanted).values_list("id", flat=True))
    unknown = [str(g) for g in wanted if g not in known]
    if unknown:
        raise InvalidInput(
            f"Unknown group id(s): {', '.join(unknown)}.", code="unknown_group", field=field, unknown_ids=unknown
        )
    return wanted


@transaction.atomic
def customer_set_groups(*, customer: Customer, group_ids: Iterable[UUID | str]) -> tuple[int, int]:
    """Make *group_ids* the customer's current groups from now: staying memberships keep `joined_at`, removed
    ones end now and new ones start now (a membership of a wanted group scheduled for later starts now instead).
    Memberships scheduled in other groups stay as planned. Return (started, ended)."""
    wanted = resolve_group_ids(group_ids)
    _lock_customer(customer.pk)
    now = timezone.now()
    current = {m.group_id: m for m in Membership.objects.active_at(now).filter(customer=customer)}
    missing = [g for g in wanted if g not in current]
    scheduled = {}
    for membership in Membership.objects.filter(customer=customer, group_id__in=missing, joined_at__gt=now):
        scheduled.setdefault(membership.group_id, membership)  # the earliest one (default ordering)
    to_end = [m for g, m in current.items() if g not in wanted]
    if to_end or missing:
        check_membership_change(customer_ids={customer.pk}, at=now)
    ended = _end_memberships(to_end, now)
    for group_id in missing:
        if group_id in scheduled:
            scheduled[group_id].joined_at = now
            scheduled[group_id].save(update_fields=["joined_at"])
        else:
            _refuse_overlap(group_id=group_id, customer_id=customer.pk, start=now, end=None)
            Membership(group_id=group_id, customer=customer, joined_at=now).save(force_insert=True)
    if hasattr(customer, "current_memberships"):
        del customer.current_memberships
    return len(missing), ended
