"""Logging filter that keeps secrets (API keys, passwords) out of every log line."""

from __future__ import annotations

import logging
import re

# "Bearer <key>" in any header dump or message, and our key format "<8 chars>.<43 chars>".
_SECRETS = (
    (re.compile(r"(?i)(bearer\s+)[^\s'\",]+"), r"\1[redacted]"),
    (re.compile(r"\b[A-Za-z0-9]{8}\.[A-Za-z0-9]{43}\b"), "[redacted api key]"),
    (
        re.compile(r"(?i)(['\"]?(?:HTTP_AUTHORIZATION|authorization|password)['\"]?\s*[:=]\s*)['\"]?[^'\",}\s]+"),
        r"\1[redacted]",
    ),
)


def redact(text: str) -> str:
    """Return *text* with API keys, Authorization values and passwords replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record's message (and traceback text) without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
