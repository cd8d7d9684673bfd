"""Reading customer files: CSV with a header row or JSON Lines, one raw row per line (no rules applied yet)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from billingengine.errors import ImportFailed, RowError
from customers.models import CUSTOMER_FIELDS

GROUPS_COLUMN = "groups"
COLUMNS = (*CUSTOMER_FIELDS, GROUPS_COLUMN)
#: Separators between group names or ids in one CSV cell.
GROUP_SEPARATORS = (";", "|")
#: A cell starting with one of these is run as a formula by spreadsheets; CSV exports prefix it with "'".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def detect_format(path: str, fmt: str | None) -> str:
    """Return "csv" or "jsonl": *fmt* if given, else from the file name (stdin defaults to CSV)."""
    if fmt:
        return fmt
    return "jsonl" if path.lower().endswith((".jsonl", ".ndjson", ".json")) else "csv"


def _check_columns(columns: Iterable[str], line: int) -> None:
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise ImportFailed(
            f"line {line}: unknown column(s) {', '.join(repr(c) for c in unknown)}; allowed: {', '.join(COLUMNS)}."
        )


def read_csv(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, raw row) from CSV with a header row; a malformed row yields a RowError instead."""
    reader = csv.reader(stream, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ImportFailed(f"line 1: the header row is not valid CSV ({error}).") from error
    if not header or not any(h.strip() for h in header):
        raise ImportFailed("line 1: the file is empty; a header row naming the columns is required.")
    header = [h.strip() for h in header]
    _check_columns(header, 1)
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise ImportFailed(f"line 1: column(s) {', '.join(duplicated)} appear more than once in the header.")
    width = len(header)
    end = reader.line_num
    while True:
        start = end + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportFailed(f"line {start}: not valid CSV ({error}); nothing was written.") from error
        end = reader.line_num
        if not record:  # a blank line
            continue
        if len(record) != width:
            yield start, RowError(start, None, f"has {len(record)} values but the header has {width} columns")
            continue
        yield start, dict(zip(header, map(unescape_formula, record), strict=True))


def read_jsonl(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, raw row) from JSON Lines, one object per line; blank lines are skipped."""
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as error:
            yield number, RowError(number, None, f"is not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(obj, dict):
            yield number, RowError(number, None, "must be a JSON object")
            continue
        unknown = [k for k in obj if k not in COLUMNS]
        if unknown:
            yield number, RowError(number, unknown[0], f"unknown column; allowed: {', '.join(COLUMNS)}")
            continue
        yield number, obj


# --- Validation ------------------------------------------------------------------------------------------------


def split_groups(value: Any) -> list[str] | None:
    """Return the group references of a cell ("VIP;Promo", "VIP|Promo") or a JSON list; None if malformed."""
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            return None
        refs = value
    elif isinstance(value, str):
        for separator in GROUP_SEPARATORS[1:]:
            value = value.replace(separator, GROUP_SEPARATORS[0])
        refs = value.split(GROUP_SEPARATORS[0])
    else:
        return None
    return [r.strip() for r in refs if r.strip()]


def escape_formula(text: str) -> str:
    """Return *text* for a CSV cell a spreadsheet will not run as a formula: "=1+2" gives "'=1+2".

    A value such as "-5" or "+44 20 7946 0000" is a formula to a spreadsheet too, so every such start is escaped
    (`unescape_formula` reverses it when the file is imported again).
    """
    return "'" + text if text.startswith(FORMULA_STARTS) or text.startswith("'") else text


def unescape_formula(text: str) -> str:
    """Reverse `escape_formula`."""
    return text[1:] if text.startswith("'") and text[1:].startswith((*FORMULA_STARTS, "'")) else text
