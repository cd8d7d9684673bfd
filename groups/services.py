"""Writes on customer groups and memberships; the API, the admin and the commands all call these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from billingengine.errors import Conflict, GroupNameTaken, InvalidInput, NotFound
from billingengine.validators import normalize_text
from customers.models import Customer
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
def group_delete(*, group: Group, force: bool = False) -> int:
    """Delete *group*; with current members only when *force*, ending those memberships first.

    Return the number of memberships that were ended.
    """
    current = list(Membership.objects.current().filter(group=group).select_for_update())
    if current and not force:
        raise Conflict(
            f"Group '{group.name}' still has {len(current)} current member(s); remove them first "
            "or delete with force (API: ?force=true).",
            code="group_not_empty",
            customer_count=len(current),
        )
    _end_memberships(current, timezone.now())
    group.delete()
    return len(current)


def _end_memberships(memberships: Iterable[Membership], now: datetime) -> int:
    """End each membership now; the row stays, so the history keeps it."""
    ended = 0
    for membership in memberships:
        membership.left_at = now
        membership.save(update_fields=["left_at"])
        ended += 1
    return ended


@transaction.atomic
def membership_add(*, group: Group, customer: Customer) -> tuple[Membership, bool]:
    """Make *customer* a current member of *group*; return the membership and whether it started now."""
    existing = Membership.objects.current().filter(group=group, customer=customer).first()
    if existing is not None:
        return existing, False
    membership = Membership(group=group, customer=customer, joined_at=timezone.now())
    try:
        with transaction.atomic():
            membership.save(force_insert=True)
    except IntegrityError:
        # A concurrent request added the same membership first: that one stands.
        existing = Membership.objects.current().filter(group=group, customer=customer).first()
        if existing is None:
            raise
        return existing, False
    return membership, True


@transaction.atomic
def membership_remove(*, group: Group, customer: Customer | UUID | str) -> Membership:
    """End *customer*'s current membership of *group*; raise NotFound when it is not a current member."""
    membership = Membership.objects.current().filter(group=group, customer=customer).select_for_update().first()
    if membership is None:
        raise NotFound("The customer is not a current member of this group.", code="not_a_member")
    _end_memberships([membership], timezone.now())
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
    """Make *group_ids* the customer's current groups: staying memberships keep `joined_at`,
    removed ones end now and new ones start now. Return (started, ended)."""
    wanted = resolve_group_ids(group_ids)
    current = {m.group_id: m for m in Membership.objects.current().filter(customer=customer).select_for_update()}
    now = timezone.now()
    ended = _end_memberships((m for g, m in current.items() if g not in wanted), now)
    started = 0
    for group_id in wanted:
        if group_id not in current:
            Membership(group_id=group_id, customer=customer, joined_at=now).save(force_insert=True)
            started += 1
    if hasattr(customer, "current_memberships"):
        del customer.current_memberships
    return started, ended
