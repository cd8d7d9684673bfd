"""What `customers.services.customers_upsert` returns (shared by its ORM and PostgreSQL implementations)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

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
