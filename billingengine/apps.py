from django.apps import AppConfig


class BillingEngineConfig(AppConfig):
    """Project-wide pieces: API keys and the shared API plumbing."""

    name = "billingengine"
    verbose_name = "API access"
    default_auto_field = "django.db.models.BigAutoField"
