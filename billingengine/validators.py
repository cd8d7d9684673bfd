"""Field validators shared by every door into the data: API, admin and management commands."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_LINE_BREAKS = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@deconstructible
class NoControlCharactersValidator:
    """Reject NUL and other control characters; optionally allow line breaks (multi-line addresses)."""

    code = "control_characters"

    def __init__(self, allow_line_breaks: bool = False) -> None:
        self.allow_line_breaks = allow_line_breaks

    def __call__(self, value: object) -> None:
        pattern = _CONTROL_EXCEPT_LINE_BREAKS if self.allow_line_breaks else _CONTROL
        if isinstance(value, str) and pattern.search(value):
            allowed = " (line breaks are allowed)" if self.allow_line_breaks else ""
            raise ValidationError(f"Control characters are not allowed{allowed}.", code=self.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoControlCharactersValidator) and other.allow_line_breaks == self.allow_line_breaks


no_control_characters = NoControlCharactersValidator()
no_control_characters_except_line_breaks = NoControlCharactersValidator(allow_line_breaks=True)


def normalize_text(value: str | None) -> str | None:
    """Return *value* trimmed, with "" and None both meaning unset (None)."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None
