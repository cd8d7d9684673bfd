"""What `customers.services.customers_upsert` returns and how it reports progress (shared by its ORM and PostgreSQL
implementations)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

#: Rows between progress reports.
CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class GroupTarget:
    """A written row that sets its customer's groups: the customer, the wanted group ids, whether it is new."""

    customer_id: uuid.UUID
    group_ids: list[uuid.UUID]
    created: bool


@dataclass
class UpsertOutcome:
    """What an upsert wrote: rows written (duplicates aside), customers created, ids of customers updated."""

    rows: int = 0
    created: int = 0
    updated_ids: set[uuid.UUID] = field(default_factory=set)
    group_targets: list[GroupTarget] = field(default_factory=list)


def counted(rows: Iterable[T], on_progress: Callable[[int], None] | None) -> Iterator[T]:
    """Yield *rows*, reporting every CHUNK_ROWS of them (and the rest at the end) to *on_progress*."""
    if on_progress is None:
        yield from rows
        return
    count = 0
    for row in rows:
        yield row
        count += 1
        if count % CHUNK_ROWS == 0:
            on_progress(CHUNK_ROWS)
    if count % CHUNK_ROWS:
        on_progress(count % CHUNK_ROWS)
