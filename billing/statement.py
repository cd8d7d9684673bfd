"""The printable statement of a bill: one HTML template, shown in the admin and rendered to PDF by WeasyPrint."""

from __future__ import annotations

from django.template.loader import render_to_string

from billing.errors import StatementUnavailable
from billing.models import Bill
from billing.representation import bill_representation

#: What to install when WeasyPrint cannot load its system libraries (Debian and Ubuntu package names).
SYSTEM_LIBRARIES = "libpango-1.0-0 libpangoft2-1.0-0"


def statement_context(bill: Bill) -> dict:
    """Return the template context of *bill*'s statement."""
    data = bill_representation(bill)
    customer = data["customer"]
    address = [line for line in (customer.get("address_street") or "").splitlines() if line.strip()]
    city = " ".join(part for part in (customer.get("address_zip"), customer.get("address_city")) if part)
    if city:
        address.append(city)
    if customer.get("address_country"):
        address.append(customer["address_country"])
    return {"bill": data, "address_lines": address, "has_late": any(line["late"] for line in data["lines"])}


def statement_html(bill: Bill) -> str:
    """Return *bill*'s statement as a standalone HTML page."""
    return render_to_string("billing/statement.html", statement_context(bill))


def statement_pdf(bill: Bill) -> bytes:
    """Return *bill*'s statement as PDF; `StatementUnavailable` (503) when WeasyPrint's libraries are missing."""
    try:
        from weasyprint import HTML  # loads Pango through ctypes: fails with OSError when it is not installed
    except (ImportError, OSError) as error:
        raise StatementUnavailable(
            "PDF statements need WeasyPrint and the Pango library; on Debian or Ubuntu run "
            f"`apt-get install -y {SYSTEM_LIBRARIES}` (the JSON bill is unaffected).",
            reason=str(error)[:200],
        ) from error
    return HTML(string=statement_html(bill)).write_pdf()
