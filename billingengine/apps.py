from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class BillingEngineConfig(AppConfig):
    """Project-wide pieces: API keys and the shared API plumbing."""

    default = True  # this module also holds the admin's config below
    name = "billingengine"
    verbose_name = "API access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from billingengine.roles import sync_roles_after_migrate

        # After each app's permissions exist, the staff roles get theirs (new models join the roles).
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="billingengine.sync_roles")


class BillingEngineAdminConfig(admin_apps.AdminConfig):
    """Django's admin with BillingEngine's site (section order, names staff read, "View site")."""

    default = False
    default_site = "billingengine.admin_site.BillingEngineAdminSite"
