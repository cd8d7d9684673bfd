"""Writes of data records: ingest typed records, all of them or none.

Records are validated into `records.validation.RecordInput`s first; the services resolve their customers
(one query), apply the transaction_id rules (a retry is not a second record) and insert them with the
hourly rollup (`records.ingestion`). Problems are raised as domain errors listing each record's position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction

from billingengine.errors import Conflict
from records.ingestion import CONTENT_COLUMNS, RecordRow, insert_records
from records.models import DataRecord, uuid7s
from records.validation import CustomerRef, RecordInput, RecordProblem, RecordsInvalid, resolve_customers


class TransactionIdConflict(Conflict):
    """A transaction_id was submitted again with different content; `problems` names each record."""

    code = "transaction_id_conflict"

    def __init__(self, problems: Sequence[RecordProblem], existing_id: UUID | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: p.index)
        self.existing_id = existing_id
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(
            f"record {first.index}: {first.detail}{more}",
            existing_id=str(existing_id) if existing_id else None,
        )


@dataclass(frozen=True)
class IngestResult:
    """What a submission did: the ids of new records, and the existing ids of retries."""

    created_ids: list[UUID]
    duplicate_ids: list[UUID]

    @property
    def created(self) -> int:
        return len(self.created_ids)

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_ids)


@transaction.atomic
def records_ingest(*, records: Sequence[RecordInput]) -> IngestResult:
    """Store *records*: all of them, or none and every problem listed.

    A record whose transaction_id is already stored with the same content is a retry, reported as a
    duplicate with the stored id; with different content it is a `TransactionIdConflict` (409). An unknown
    customer is `RecordsInvalid`. The insert and the hourly rollup update are one statement on PostgreSQL.
    """
    rows = _rows(records)

    # Repeats of a transaction_id inside the batch: identical ones are retries, different ones conflicts.
    first_of: dict[str, RecordRow] = {}
    unique_rows: list[RecordRow] = []
    repeats: list[tuple[RecordRow, RecordRow]] = []
    conflicts: list[RecordProblem] = []
    for row in rows:
        if row.transaction_id is None:
            unique_rows.append(row)
            continue
        first = first_of.get(row.transaction_id)
        if first is None:
            first_of[row.transaction_id] = row
            unique_rows.append(row)
        elif first.content() == row.content():
            repeats.append((row, first))
        else:
            detail = f"transaction_id '{row.transaction_id}' is also used by record {first.index}, with other content."
            conflicts.append(_conflict(row.index, detail))
    if conflicts:
        raise TransactionIdConflict(conflicts)

    inserted = insert_records(unique_rows)
    duplicate_ids: list[UUID] = []
    if len(inserted) < len(unique_rows):
        # The rest have a transaction_id stored before (or by a concurrent request that just committed).
        missing = {row.transaction_id: row for row in unique_rows if row.id not in inserted}
        stored = {
            tx: (pk, tuple(content))
            for tx, pk, *content in DataRecord.objects.filter(transaction_id__in=missing).values_list(
                "transaction_id", "id", *CONTENT_COLUMNS
            )
        }
        conflicting_ids = []
        for tx, row in missing.items():
            pk, content = stored[tx]
            if row.content() == content:
                duplicate_ids.append(pk)
            else:
                conflicting_ids.append(pk)
                detail = f"transaction_id '{tx}' is already stored (record {pk}) with other content."
                conflicts.append(_conflict(row.index, detail))
        if conflicts:
            raise TransactionIdConflict(
                conflicts, existing_id=conflicting_ids[0] if len(conflicting_ids) == 1 else None
            )
    duplicate_ids.extend(first.id for _, first in repeats)
    created_ids = [row.id for row in unique_rows if row.id in inserted]
    return IngestResult(created_ids=created_ids, duplicate_ids=duplicate_ids)


def record_submit(*, record: RecordInput) -> tuple[UUID, bool]:
    """Store one record; return its id and whether it was created (False: a retry of a stored record)."""
    result = records_ingest(records=[record])
    if result.created_ids:
        return result.created_ids[0], True
    return result.duplicate_ids[0], False


def _rows(records: Sequence[RecordInput]) -> list[RecordRow]:
    """Return the rows to insert: each record with a new id and its customer as it is now (one query).

    Raise `RecordsInvalid` naming every record whose customer does not exist.
    """
    refs = [CustomerRef(index, r.customer_id, r.customer_external_id) for index, r in enumerate(records)]
    unnamed = [
        RecordProblem(ref.index, "customer_id", "required", "Name the customer by customer_id or customer_external_id.")
        for ref in refs
        if (ref.customer_id is None) == (ref.customer_external_id is None)
    ]
    if unnamed:
        raise RecordsInvalid(unnamed)
    customers, unknown = resolve_customers(refs)
    if unknown:
        raise RecordsInvalid(unknown)
    rows = []
    for index, (record, new_id) in enumerate(zip(records, uuid7s(len(records)), strict=True)):
        customer_id, external_id, name = customers[(record.customer_id, record.customer_external_id)]
        rows.append(
            RecordRow(
                index,
                new_id,
                customer_id,
                external_id,
                name,
                record.code,
                record.quantity,
                record.time_from,
                record.time_to,
                record.transaction_id,
            )
        )
    return rows


def _conflict(index: int, detail: str) -> RecordProblem:
    return RecordProblem(index, "transaction_id", "transaction_id_conflict", detail)
