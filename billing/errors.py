"""Domain errors of billing (mapped to problem+json by the API's one handler)."""

from __future__ import annotations

from billingengine.errors import Conflict, DomainError


class PeriodBilled(Conflict):
    """The period overlaps a bill already issued to the customer."""

    code = "period_billed"


class StatementUnavailable(DomainError):
    """The PDF statement cannot be rendered: a system library WeasyPrint needs is missing."""

    status = 503
    title = "Service Unavailable"
    code = "pdf_unavailable"
