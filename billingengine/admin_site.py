"""The admin site of BillingEngine: sections in the order billing staff work through them."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

#: Sections of the index and the sidebar, in the order of the billing work: who is billed, how they are
#: grouped, at which prices, the bills, the usage behind them, then integrations and staff. Apps that are
#: not installed are skipped; apps not listed here follow, and the sign-in lockout log comes last.
SECTION_ORDER: tuple[str, ...] = ("customers", "groups", "pricing", "billing", "records", "billingengine", "auth")

#: Models in the order they appear within their section (others follow alphabetically).
MODEL_ORDER: dict[str, tuple[str, ...]] = {
    "groups": ("group", "membership"),
    "pricing": ("pricelist", "rate"),
    "billing": ("bill",),
    "records": ("datarecord",),
    "billingengine": ("apikey",),
    "auth": ("user", "group"),
}

#: Section names staff read (Django's own names are about authentication, not about people).
SECTION_NAMES: dict[str, str] = {
    "auth": "Staff",
    "axes": "Sign-in lockouts (security log)",
}

#: Model names staff read, where Django's own would be confused with ours.
MODEL_NAMES: dict[tuple[str, str], str] = {
    ("auth", "group"): "Staff permission groups",
    ("auth", "user"): "Staff users",
}

LAST_SECTIONS = ("axes",)


class BillingEngineAdminSite(admin.AdminSite):
    """The default admin site, branded, with sections in task order and "View site" pointing at the API docs."""

    site_header = "BillingEngine administration"
    site_title = "BillingEngine"
    index_title = "Customers, prices, bills and API access"
    #: "View site" would be a 404 (the product has no public pages); the API documentation is what exists.
    site_url = "/api/docs/"
    empty_value_display = "—"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        app_dict = self._build_app_dict(request, app_label)
        for label, app in app_dict.items():
            app["name"] = SECTION_NAMES.get(label, app["name"])
            order = MODEL_ORDER.get(label, ())
            for model in app["models"]:
                model["name"] = MODEL_NAMES.get((label, model["object_name"].lower()), model["name"])
            app["models"].sort(
                key=lambda m: (
                    order.index(m["object_name"].lower()) if m["object_name"].lower() in order else len(order),
                    m["name"],
                )
            )
        return sorted(app_dict.values(), key=lambda app: section_key(app["app_label"], app["name"]))


def section_key(app_label: str, name: str) -> tuple[int, int, str]:
    """Sort key of a section: the listed ones in task order, then the others by name, the security log last."""
    if app_label in SECTION_ORDER:
        return (0, SECTION_ORDER.index(app_label), "")
    return (2 if app_label in LAST_SECTIONS else 1, 0, name.lower())
