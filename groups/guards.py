"""Checks that other apps add to every membership change, without groups importing them.

Apps above groups (billing: "a change may not alter a period already billed") register a guard once, in their
`AppConfig.ready()`:

    from groups.guards import register_membership_guard
    register_membership_guard(assert_period_open)

The membership write service (`groups.services`: `memberships_start`, `memberships_end`, `memberships_replace`,
group deletion, and everything built on them) calls every registered guard as `guard(customer_ids=..., at=...)`
with the ids of the customers a change touches and the earliest instant it changes (the new `joined_at` or
`left_at`), inside its transaction: before writing, or, on the set-based PostgreSQL path of
`memberships_replace`, right after its one statement (it learns there which customers changed). A guard refuses
by raising a domain error (e.g. `Conflict(..., code="period_billed")`); the transaction then rolls back and
nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

#: A guard: `guard(customer_ids=..., at=...)`, raising a domain error to refuse the change.
MembershipGuard = Callable[..., None]

_guards: list[MembershipGuard] = []


def register_membership_guard(guard: MembershipGuard) -> MembershipGuard:
    """Call *guard* before every membership change from now on (once, however often it is registered)."""
    if guard not in _guards:
        _guards.append(guard)
    return guard


def unregister_membership_guard(guard: MembershipGuard) -> None:
    """Stop calling *guard*."""
    if guard in _guards:
        _guards.remove(guard)


def check_membership_change(*, customer_ids: Collection[UUID], at: datetime) -> None:
    """Run every registered guard on a change of *customer_ids*' memberships at *at* (the earliest instant)."""
    if not customer_ids:
        return
    for guard in list(_guards):
        guard(customer_ids=customer_ids, at=at)


@contextmanager
def membership_guard(guard: MembershipGuard) -> Iterator[MembershipGuard]:
    """Register *guard* for the duration of a `with` block (for tests)."""
    register_membership_guard(guard)
    try:
        yield guard
    finally:
        unregister_membership_guard(guard)
