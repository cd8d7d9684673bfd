from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Bills"

    def ready(self) -> None:
        # A membership change may not alter a period already billed (409 period_billed): every membership
        # write (API, admin, importer, commands) runs the registered guards inside its transaction.
        from billing.guards import assert_period_open
        from groups.guards import register_membership_guard

        register_membership_guard(assert_period_open)
