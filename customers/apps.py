from django.apps import AppConfig


class CustomersConfig(AppConfig):
    """Customers: the companies that consume our user's services."""

    name = "customers"
    default_auto_field = "django.db.models.BigAutoField"
