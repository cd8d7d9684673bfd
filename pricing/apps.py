from django.apps import AppConfig


class PricingConfig(AppConfig):
    """Price lists and their rates, and the one resolver that decides which rate prices a record."""

    name = "pricing"
    verbose_name = "Prices"
    default_auto_field = "django.db.models.BigAutoField"
