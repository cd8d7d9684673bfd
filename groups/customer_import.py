"""Importing customers with their groups (a file's `groups` column): the one importer behind `import_customers`.

It lives with the groups because it sets memberships (groups may use customers, not the reverse): customer
rows are validated by `customers.importing.validation` and written by `customers.services.customers_upsert`;
the groups by `groups.services.memberships_replace`. Both have a set-based PostgreSQL path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billingengine.errors import ImportFailed, RowError
from customers.importing.validation import ImportResult, RowValidator, validate_rows
from customers.services import customers_upsert
from groups.references import GroupResolver
from groups.services import memberships_replace

CHANGE_REASON = "import_customers"


def import_customers(
    rows: Iterable[tuple[int, dict[str, Any] | RowError]],
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    allow_missing_external_id: bool = False,
    user: AbstractBaseUser | None = None,
    method: str = "auto",
    on_progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Upsert customers by external_id from raw *rows* (see `read_csv`/`read_jsonl`), all in one transaction.

    A row creates a customer when its external_id is new and updates the customer with that external_id
    otherwise; columns the file does not have are left as they are. A `groups` column replaces the customer's
    current groups like the API's group_ids. Raise ImportFailed (nothing written) when a row is bad, unless
    *skip_invalid*; with *dry_run* everything is computed and then rolled back. *method* is "copy"
    (PostgreSQL), "orm" or "auto".
    """
    if method == "auto":
        method = "copy" if connection.vendor == "postgresql" else "orm"
    validator = RowValidator(allow_missing_external_id=allow_missing_external_id, resolve_group=GroupResolver().resolve)
    result = ImportResult(dry_run=dry_run)
    try:
        with transaction.atomic():
            now = timezone.now()
            outcome = customers_upsert(
                rows=validate_rows(rows, validator, result),
                result=result,
                skip_invalid=skip_invalid,
                user=user,
                reason=CHANGE_REASON,
                method=method,
                on_progress=on_progress,
            )
            changed = memberships_replace(
                customer_ids_to_group_ids={t.customer_id: t.group_ids for t in outcome.group_targets},
                at=now,
                user=user,
                reason=CHANGE_REASON,
                method="sql" if method == "copy" else "orm",
            )
            created = {t.customer_id for t in outcome.group_targets if t.created}
            result.created = outcome.created
            result.updated = len(outcome.updated_ids | (changed - created))
            result.unchanged = outcome.rows - result.created - result.updated
            if dry_run:
                transaction.set_rollback(True)
    except IntegrityError as error:
        raise ImportFailed(
            f"The import conflicts with a change made at the same time ({error}); nothing was written, run it again."
        ) from error
    return result
