from django.apps import AppConfig


class GroupsConfig(AppConfig):
    """Customer groups (segments) and the memberships that decide which price lists apply."""

    name = "groups"
    verbose_name = "Customer groups"
    default_auto_field = "django.db.models.BigAutoField"
