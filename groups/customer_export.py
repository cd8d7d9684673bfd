"""Exporting customers with their current groups: the one exporter behind `export_customers` and the admin.

It lives with the groups because it writes each customer's groups (groups may use customers, not the reverse).
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable
from typing import IO

from django.db.models import Q, QuerySet

from billingengine.errors import InvalidInput
from customers.importing.reading import COLUMNS, GROUP_SEPARATORS, GROUPS_COLUMN, escape_formula
from customers.models import CUSTOMER_FIELDS, Customer
from groups.models import Group, Membership


def export_customers(
    stream: IO[str],
    *,
    fmt: str = "csv",
    customers: QuerySet[Customer] | None = None,
    group: Group | uuid.UUID | None = None,
    country: str | None = None,
    group_format: str = "ids",
    chunk_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write customers (all, or *customers*) to *stream* as CSV or JSON Lines in the import's format; return how many.

    The one exporter: `export_customers` and the admin's "Export selected as CSV" both write with it, so both
    give the same columns and the same cells. In CSV, text a spreadsheet would run as a formula is escaped
    (see `escape_formula`; the importer reverses it). Streams in keyset-ordered chunks (created_at, id), so
    memory stays flat however many customers there are.
    """
    names = dict(Group.objects.values_list("id", "name"))
    if group_format == "names":
        bad = [n for n in names.values() if any(s in n for s in GROUP_SEPARATORS)]
        if bad:
            raise InvalidInput(
                f"Group name '{bad[0]}' contains ';' or '|', so names cannot be listed in one cell; "
                "export with group ids instead."
            )
    queryset = (Customer.objects.all() if customers is None else customers).order_by("created_at", "id")
    if group is not None:
        queryset = queryset.in_group(group)
    if country:
        queryset = queryset.filter(address_country=country)
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
    count = 0
    after: tuple | None = None
    while True:
        page = queryset
        if after is not None:
            # The plain >= gives the index scan its start; the OR then skips the rows already written.
            page = page.filter(created_at__gte=after[0]).filter(Q(created_at__gt=after[0]) | Q(id__gt=after[1]))
        chunk = list(page.values_list("id", "created_at", *CUSTOMER_FIELDS)[:chunk_size])
        if not chunk:
            break
        memberships: dict[uuid.UUID, list[uuid.UUID]] = {}
        for customer_id, group_id in (
            Membership.objects.current()
            .filter(customer_id__in=[r[0] for r in chunk])
            .order_by()
            .values_list("customer_id", "group_id")
        ):
            memberships.setdefault(customer_id, []).append(group_id)
        for record in chunk:
            values = dict(zip(CUSTOMER_FIELDS, record[2:], strict=True))
            # Groups in name order, so the same memberships always give the same cell.
            group_ids = sorted(memberships.get(record[0], []), key=lambda g: (names[g].lower(), str(g)))
            refs = [names[g] if group_format == "names" else str(g) for g in group_ids]
            if fmt == "csv":
                cells = [*("" if v is None else v for v in values.values()), GROUP_SEPARATORS[0].join(refs)]
                writer.writerow([escape_formula(cell) for cell in cells])
            else:
                values[GROUPS_COLUMN] = refs
                stream.write(json.dumps(values, ensure_ascii=False) + "\n")
        count += len(chunk)
        if on_progress:
            on_progress(len(chunk))
        after = (chunk[-1][1], chunk[-1][0])
    return count
