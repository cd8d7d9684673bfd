"""Writes on customer groups and memberships; the API, the admin, the importer and the commands all call these.

Memberships are written here and nowhere else (tests/groups/test_write_path.py reads the code to hold that):
`memberships_start`, `memberships_end` and `memberships_replace` take many customers at once, the moment of the
change (`at`, default now; it may lie in the past or the future), the acting user and a change reason, and
write the membership rows and their change-history rows, nothing else. Large replacements on PostgreSQL run
set-based SQL from `groups._membership_sql`, a private implementation of the same function.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from billingengine.errors import Conflict, GroupNameTaken, InvalidInput, NotFound
from billingengine.validators import normalize_text
from customers.models import Customer
from groups import _membership_sql
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
    change-history rows record it); with current or scheduled members only when *force*. A group something
    still refers to (e.g. a price list) cannot be deleted. Return the number of memberships ended or cancelled.
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
    current = list(Membership.objects.active_at(now).filter(group=group))
    scheduled = list(Membership.objects.filter(group=group, joined_at__gt=now))
    if (current or scheduled) and not force:
        planned = f" and {len(scheduled)} scheduled" if scheduled else ""
        raise Conflict(
            f"Group '{group.name}' still has {len(current)} current{planned} member(s); remove them first "
            "or delete with force (API: ?force=true).",
            code="group_not_empty",
            customer_count=len(current),
            scheduled_count=len(scheduled),
        )
    reason = "group deleted"
    ended = memberships_end(memberships=current, at=now, user=user, reason=reason)
    _cancel(scheduled, user=user, reason=reason)
    group.deleted_at = now
    group.save(update_fields=["deleted_at", "updated_at"])
    return len(ended) + len(scheduled)


# --- Memberships: the one write path ---------------------------------------------------------------------------

#: Rows per query when many customers are read or locked at once.
_CHUNK = 500
#: From this many customers on, `memberships_replace` on PostgreSQL runs set-based SQL (`method="auto"`).
SQL_REPLACE_MIN_CUSTOMERS = 1000


@dataclass
class MembershipsStarted:
    """What `memberships_start` did: the memberships it started and the open ones it left as they were."""

    started: list[Membership] = dataclass_field(default_factory=list)
    existing: list[Membership] = dataclass_field(default_factory=list)


def _unique_ids(ids: Iterable[UUID | str]) -> list[UUID]:
    seen: dict[UUID, None] = {}
    for raw in ids:
        try:
            seen[raw if isinstance(raw, UUID) else UUID(str(raw))] = None
        except ValueError as error:
            raise InvalidInput(f"'{raw}' is not a valid UUID.", code="invalid_uuid") from error
    return list(seen)


def _chunks(ids: list[UUID]) -> Iterable[list[UUID]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _lock_customers(ids: list[UUID]) -> None:
    """Lock the customers' rows (in id order, so concurrent writers cannot deadlock); refuse unknown ids.

    Every membership write of a customer holds this lock, so two requests adding the same customer to a group
    run one after the other and the second sees the first's membership.
    """
    found: set[UUID] = set()
    for chunk in _chunks(sorted(ids)):
        found.update(
            Customer.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk", flat=True)
        )
    unknown = [str(pk) for pk in ids if pk not in found]
    if unknown:
        raise InvalidInput(
            f"Unknown customer id(s): {', '.join(unknown[:20])}.", code="unknown_customer", unknown_ids=unknown
        )


def _check_groups(group_ids: set[UUID]) -> None:
    known = set(Group.objects.filter(id__in=group_ids).values_list("id", flat=True))
    unknown = sorted(str(g) for g in group_ids - known)
    if unknown:
        raise InvalidInput(f"Unknown group id(s): {', '.join(unknown)}.", code="unknown_group", unknown_ids=unknown)


def _history(user: AbstractBaseUser | None, reason: str, now: datetime) -> dict[str, Any]:
    # history_date is when the change was recorded; joined_at/left_at say when it takes effect.
    return {"default_user": user, "default_change_reason": reason or None, "default_date": now}


def _overlap_conflict(existing: Membership) -> Conflict:
    until = existing.left_at.isoformat() if existing.left_at else "with no end"
    return Conflict(
        f"The customer already has a membership of this group from {existing.joined_at.isoformat()} "
        f"({until}) that overlaps this one (id {existing.pk}).",
        code="membership_overlap",
        field="joined_at",
        existing_id=str(existing.pk),
        customer_id=str(existing.customer_id),
        existing_joined_at=existing.joined_at.isoformat(),
        existing_left_at=existing.left_at.isoformat() if existing.left_at else None,
    )


def _refuse_overlaps(*, group_id: UUID, customer_ids: list[UUID], start: datetime) -> None:
    """Raise `membership_overlap` naming a membership of the group of one of the customers that shares an instant
    with `[start, ...)` (no end).

    The exclusion constraint holds the rule on PostgreSQL, also for concurrent writers; this check (under the
    customers' row locks) gives the clear error, and is the rule itself on SQLite, whose writers are serialised.
    """
    for chunk in _chunks(customer_ids):
        existing = (
            Membership.objects.filter(group_id=group_id, customer_id__in=chunk)
            .overlapping(start, None)
            .order_by("joined_at", "id")
            .first()
        )
        if existing is not None:
            raise _overlap_conflict(existing)


def _insert(memberships: list[Membership], history: dict[str, Any], *, recover: bool = True) -> None:
    """Insert open-ended memberships that all start at the same moment (with their history rows).

    An overlap the database refuses becomes `membership_overlap` naming the membership in the way, read after
    rolling back to a savepoint; without *recover* (nothing can be in the way) there is no savepoint and a
    database error is raised as it is.
    """
    if not memberships:
        return
    if not recover:
        bulk_create_with_history(memberships, Membership, batch_size=_CHUNK, **history)
        return
    try:
        with transaction.atomic():
            bulk_create_with_history(memberships, Membership, batch_size=_CHUNK, **history)
    except IntegrityError as error:
        # The exclusion constraint (or the one-open-membership index): say which membership is in the way.
        by_group: dict[UUID, list[UUID]] = {}
        for membership in memberships:
            by_group.setdefault(membership.group_id, []).append(membership.customer_id)
        for group_id, customer_ids in by_group.items():
            try:
                _refuse_overlaps(group_id=group_id, customer_ids=customer_ids, start=memberships[0].joined_at)
            except Conflict as conflict:
                raise conflict from error
        raise


def _check_ends(memberships: list[Membership], at: datetime) -> None:
    """Refuse to end *memberships* at *at* unless that is after each one's start."""
    early = [m for m in memberships if m.joined_at >= at]
    if early:
        raise InvalidInput(
            f"A membership must end after it starts: {at.isoformat()} is not later than its joined_at "
            f"({early[0].joined_at.isoformat()}).",
            code="ends_before_start",
            field="left_at",
        )


def _end(memberships: list[Membership], at: datetime, history: dict[str, Any]) -> None:
    _check_ends(memberships, at)
    for membership in memberships:
        membership.left_at = at
    if memberships:
        bulk_update_with_history(memberships, Membership, ["left_at"], batch_size=_CHUNK, **history)


def _cancel(memberships: list[Membership], *, user: AbstractBaseUser | None, reason: str) -> None:
    """Remove memberships that have not started yet (a cancelled plan); each gets a "-" history row."""
    if not memberships:
        return
    earliest = min(m.joined_at for m in memberships)
    check_membership_change(customer_ids={m.customer_id for m in memberships}, at=earliest)
    for membership in memberships:
        membership._history_user = user
        membership._change_reason = reason or None
        membership.delete()


@transaction.atomic
def memberships_start(
    *,
    group: Group,
    customer_ids: Iterable[UUID | str],
    at: datetime | None = None,
    user: AbstractBaseUser | None = None,
    reason: str = "",
) -> MembershipsStarted:
    """Make each customer a member of *group* from *at* (default now; past: backdated, future: scheduled).

    Without *at*, a customer who is a current member keeps that membership (idempotent; returned in
    `existing`). With *at*, every customer gets a new membership from then. Either way a new membership that
    would overlap another one of the customer in *group* is refused (`Conflict` "membership_overlap", naming
    it) and nothing is written; so are changes the registered guards (`groups.guards`) refuse. A membership
    starting in the future is not current until then. Each started membership gets a history row ("+").
    """
    ids = _unique_ids(customer_ids)
    result = MembershipsStarted()
    if not ids:
        return result
    _lock_customers(ids)
    # "Now" once the customers are locked: a concurrent writer that held the lock before wrote at an earlier time,
    # so its membership is current by then (taken before the lock, it could be "later" and look scheduled).
    now = timezone.now()
    start = at or now
    current: dict[UUID, Membership] = {}
    if at is None:
        for chunk in _chunks(ids):
            current.update(
                {m.customer_id: m for m in Membership.objects.active_at(now).filter(group=group, customer_id__in=chunk)}
            )
    result.existing = [current[pk] for pk in ids if pk in current]
    new = [pk for pk in ids if pk not in current]
    _refuse_overlaps(group_id=group.pk, customer_ids=new, start=start)
    check_membership_change(customer_ids=new, at=start)
    result.started = [Membership(id=uuid.uuid4(), group=group, customer_id=pk, joined_at=start) for pk in new]
    _insert(result.started, _history(user, reason, now))
    return result


@transaction.atomic
def memberships_end(
    *,
    group: Group | None = None,
    customer_ids: Iterable[UUID | str] | None = None,
    memberships: Iterable[Membership] | None = None,
    at: datetime | None = None,
    user: AbstractBaseUser | None = None,
    reason: str = "",
) -> list[Membership]:
    """End memberships at *at* (default now; past or future) and return them; the rows stay, for the history.

    Which ones: the given *memberships* (those not ended by *at*), or the memberships of *group* and/or
    *customer_ids* (at least one of the two) that are current at *at*. A membership must end after it starts
    (`InvalidInput` "ends_before_start"); the registered guards may refuse the change. Each ended one gets a
    history row ("~").
    """
    given_at = at
    now = timezone.now()
    at = at or now
    if memberships is not None:
        queryset = Membership.objects.filter(models.Q(left_at__isnull=True) | models.Q(left_at__gt=at))
        pks = [m.pk for m in memberships]
        to_end = [m for chunk in _chunks(pks) for m in queryset.filter(pk__in=chunk).select_for_update()]
    elif group is None and customer_ids is None:
        raise TypeError("memberships_end needs group, customer_ids or memberships")
    elif customer_ids is None:
        to_end = list(Membership.objects.active_at(at).filter(group=group).select_for_update())
    else:
        ids = _unique_ids(customer_ids)
        _lock_customers(ids)
        if given_at is None:  # "now" once the customers are locked (see memberships_start)
            now = at = timezone.now()
        queryset = Membership.objects.active_at(at)
        if group is not None:
            queryset = queryset.filter(group=group)
        to_end = [m for chunk in _chunks(ids) for m in queryset.filter(customer_id__in=chunk)]
    _check_ends(to_end, at)
    check_membership_change(customer_ids={m.customer_id for m in to_end}, at=at)
    _end(to_end, at, _history(user, reason, now))
    return to_end


@transaction.atomic
def memberships_replace(
    *,
    customer_ids_to_group_ids: Mapping[UUID, Iterable[UUID]],
    at: datetime | None = None,
    user: AbstractBaseUser | None = None,
    reason: str = "",
    method: str = "auto",
) -> set[UUID]:
    """Make each customer's memberships current at *at* (default now) exactly the given groups, from *at* on.

    Memberships that stay keep their start (and a planned end); unwanted current ones end at *at*; missing ones
    start at *at*, or, where the customer has a membership of that group scheduled to start later, that one
    starts at *at* instead. Memberships scheduled in other groups stay as planned. The registered guards see
    the customers that change. Return the ids of the customers whose memberships changed. *method*: "sql"
    (PostgreSQL, set-based), "orm", or "auto" (sql on PostgreSQL from SQL_REPLACE_MIN_CUSTOMERS customers on).
    """
    wanted = {UUID(str(c)): set(_unique_ids(g)) for c, g in customer_ids_to_group_ids.items()}
    if not wanted:
        return set()
    _check_groups(set().union(*wanted.values()))
    return _replace(wanted, at=at, user=user, reason=reason, method=method)


def _replace(
    wanted: dict[UUID, set[UUID]],
    *,
    at: datetime | None,
    user: AbstractBaseUser | None,
    reason: str,
    method: str,
    new: bool = False,
) -> set[UUID]:
    """`memberships_replace` once its groups are known to exist (in the caller's transaction or savepoint).

    *new*: the customers were created in this transaction and have no memberships yet, so there is nothing
    to lock (no other transaction sees them), read, end or move: the wanted memberships start at *at*, after
    the guards, and nothing is caught (no membership of theirs can be in the way).
    """
    given_at = at
    now = timezone.now()
    at = at or now
    if method == "auto":
        big = len(wanted) >= SQL_REPLACE_MIN_CUSTOMERS
        method = "sql" if connection.vendor == "postgresql" and big else "orm"
    if method == "sql":
        try:
            with transaction.atomic():
                changed = _membership_sql.replace(wanted, at=at, now=now, user=user, reason=reason)
        except IntegrityError as error:  # a concurrent writer's membership overlaps one this would start
            raise Conflict(
                "A membership this change would start overlaps one written meanwhile; nothing was changed.",
                code="membership_overlap",
            ) from error
        # Set-based, so the guards see what changed once the statement ran; refusing rolls it all back.
        check_membership_change(customer_ids=changed, at=at)
        return changed
    ids = list(wanted)
    current: dict[UUID, dict[UUID, Membership]] = {}
    scheduled: dict[tuple[UUID, UUID], Membership] = {}
    if not new:
        _lock_customers(ids)
        if given_at is None:  # "now" once the customers are locked (see memberships_start)
            now = at = timezone.now()
        for chunk in _chunks(ids):
            for membership in Membership.objects.active_at(at).filter(customer_id__in=chunk):
                current.setdefault(membership.customer_id, {})[membership.group_id] = membership
            for membership in Membership.objects.filter(customer_id__in=chunk, joined_at__gt=at).order_by("joined_at"):
                scheduled.setdefault((membership.customer_id, membership.group_id), membership)  # the earliest
    to_end: list[Membership] = []
    to_move: list[Membership] = []
    to_start: list[Membership] = []
    changed: set[UUID] = set()
    for customer_id, groups in wanted.items():
        mine = current.get(customer_id, {})
        for group_id, membership in mine.items():
            if group_id not in groups:
                to_end.append(membership)
                changed.add(customer_id)
        for group_id in groups:
            if group_id in mine:
                continue
            planned = scheduled.get((customer_id, group_id))
            if planned is not None:
                planned.joined_at = at
                to_move.append(planned)
            else:
                to_start.append(Membership(id=uuid.uuid4(), group_id=group_id, customer_id=customer_id, joined_at=at))
            changed.add(customer_id)
    _check_ends(to_end, at)
    check_membership_change(customer_ids=changed, at=at)
    history = _history(user, reason, now)
    _end(to_end, at, history)
    if to_move:
        bulk_update_with_history(to_move, Membership, ["joined_at"], batch_size=_CHUNK, **history)
    _insert(to_start, history, recover=not new)
    return changed


def memberships_load(*, rows: list[tuple[str, str, str, str]]) -> int:
    """Insert generated memberships as given, without history rows; return how many.

    For demo data only (`seed_demo`, benchmarks): *rows* are (id, group_id, customer_id, joined_at ISO text)
    of new customers. Changes people make go through `memberships_start`, `memberships_end` and
    `memberships_replace`, which record who and why.
    """
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        _membership_sql.load(rows)
    else:
        Membership.objects.bulk_create(
            Membership(id=m[0], group_id=m[1], customer_id=m[2], joined_at=datetime.fromisoformat(m[3])) for m in rows
        )
    return len(rows)


# --- One customer, one group: the API's and the admin's shapes of the calls above -------------------------------


def membership_add(
    *,
    group: Group,
    customer: Customer | UUID,
    joined_at: datetime | None = None,
    user: AbstractBaseUser | None = None,
    reason: str = "",
) -> tuple[Membership, bool]:
    """Make *customer* a member of *group* from *joined_at* (default now; see `memberships_start`); return the
    membership and whether it was started (False: already a current member, and no *joined_at* was given)."""
    customer_id = customer.pk if isinstance(customer, Customer) else customer
    result = memberships_start(group=group, customer_ids=[customer_id], at=joined_at, user=user, reason=reason)
    return (result.started[0], True) if result.started else (result.existing[0], False)


def membership_remove(
    *,
    group: Group,
    customer: Customer | UUID | str,
    left_at: datetime | None = None,
    user: AbstractBaseUser | None = None,
    reason: str = "",
) -> Membership:
    """End *customer*'s membership of *group* that is current at *left_at* (default now; past or future), at that
    instant; raise NotFound when there is none."""
    customer_id = customer.pk if isinstance(customer, Customer) else customer
    when = "now" if left_at is None else f"at {left_at.isoformat()}"
    not_a_member = NotFound(f"The customer is not a member of this group {when}.", code="not_a_member")
    if not Customer.objects.filter(pk=customer_id).exists():
        raise not_a_member
    ended = memberships_end(group=group, customer_ids=[customer_id], at=left_at, user=user, reason=reason)
    if not ended:
        raise not_a_member
    return ended[0]


class ResolvedGroupIds(tuple):
    """Group ids `resolve_group_ids` returned: UUIDs of existing (not deleted) groups, without duplicates, in
    order. Services given them do not look the groups up again."""


def resolve_group_ids(group_ids: Iterable[UUID | str], *, field: str = "group_ids") -> ResolvedGroupIds:
    """Return *group_ids* as UUIDs without duplicates, in order; raise InvalidInput naming unknown ones."""
    if isinstance(group_ids, ResolvedGroupIds):
        return group_ids
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
    return ResolvedGroupIds(wanted)


def customer_set_groups(
    *,
    customer: Customer,
    group_ids: Iterable[UUID | str],
    user: AbstractBaseUser | None = None,
    reason: str = "",
    new: bool = False,
) -> bool:
    """Make *group_ids* the customer's current groups (see `memberships_replace`); return whether they changed.

    Group ids from `resolve_group_ids` are not looked up again. *new*: the customer was created in this
    transaction (by `customers.services.customer_create`) and has no memberships yet; its memberships are then
    started without locking it or reading its memberships, and without a savepoint (the only writes are the
    memberships' two inserts, after every check).
    """
    wanted = resolve_group_ids(group_ids)
    if new:
        changed = _replace({customer.pk: set(wanted)}, at=None, user=user, reason=reason, method="orm", new=True)
    else:
        with transaction.atomic():
            changed = _replace({customer.pk: set(wanted)}, at=None, user=user, reason=reason, method="auto")
    if hasattr(customer, "current_memberships"):
        del customer.current_memberships
    return bool(changed)
