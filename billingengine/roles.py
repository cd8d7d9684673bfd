"""Ready-made staff roles: the "Billing viewer" and "Billing operator" permission groups.

Making a view-only user is then "add the user to Billing viewer" instead of ticking 10 of 84 boxes.
The roles are defined by app, not by a frozen list of permissions, so models added later (price lists,
rates, bills) join them: a data migration creates the groups, and after every `migrate` a post_migrate
handler (billingengine/apps.py) adds the permissions of new models; `manage.py sync_roles` does the same
on demand. Syncing only adds: a permission an administrator gave a role by hand stays.

What each role may do:

- **Billing viewer**: look at everything billing staff work with (customers, customer groups and
  memberships, price lists and rates, bills, data records and usage, and their histories), change nothing.
- **Billing operator**: everything the viewer may, plus add, change and delete customers, customer groups,
  price lists, rates and bills, and add customers to / remove them from groups. Data records stay
  read-only (they are audit data). Neither role manages API keys or staff accounts (superusers do).
"""

from __future__ import annotations

from collections.abc import Iterable

VIEWER = "Billing viewer"
OPERATOR = "Billing operator"

#: Apps whose models billing staff see.
VIEW_APPS = ("customers", "groups", "pricing", "billing", "records")
#: Apps whose models operators also add, change and delete (records are immutable audit data).
WRITE_APPS = ("customers", "groups", "pricing", "billing")


def role_codenames(role: str, app_label: str, codenames: Iterable[str], model_names: dict[str, str]) -> set[str]:
    """Return the codenames of *app_label* that *role* holds, from the app's existing permissions.

    *model_names* maps each codename to its model's name (`historical…` models are the change history:
    viewable, never written by hand).
    """
    chosen = set()
    for codename in codenames:
        action = codename.split("_", 1)[0]
        historical = model_names.get(codename, "").startswith("historical")
        if (app_label in VIEW_APPS and action == "view") or (
            role == OPERATOR and app_label in WRITE_APPS and not historical and action in ("add", "change", "delete")
        ):
            chosen.add(codename)
    return chosen


def roles_sync(
    *, group_model, permission_model, app_labels: Iterable[str] | None = None, using: str = "default"
) -> int:
    """Create the two roles if missing and give them the permissions of *app_labels* (all apps by default).

    Takes the models as arguments so the data migration can pass its historical ones. Returns how many
    permissions were added.
    """
    permissions = permission_model.objects.using(using).select_related("content_type")
    if app_labels is not None:
        permissions = permissions.filter(content_type__app_label__in=list(app_labels))
    permissions = list(permissions)
    added = 0
    for role in (VIEWER, OPERATOR):
        group, _ = group_model.objects.using(using).get_or_create(name=role)
        by_app: dict[str, list] = {}
        for permission in permissions:
            by_app.setdefault(permission.content_type.app_label, []).append(permission)
        wanted = []
        for app_label, app_permissions in by_app.items():
            model_names = {p.codename: p.content_type.model for p in app_permissions}
            codenames = role_codenames(role, app_label, model_names, model_names)
            wanted += [p for p in app_permissions if p.codename in codenames]
        held = set(group.permissions.values_list("pk", flat=True))
        missing = [p for p in wanted if p.pk not in held]
        if missing:
            group.permissions.add(*missing)
            added += len(missing)
    return added


def sync_roles_after_migrate(sender, using: str = "default", apps=None, **kwargs) -> None:
    """post_migrate: give the roles the permissions of the app just migrated (new models join the roles)."""
    from django.contrib.auth.models import Group, Permission

    roles_sync(group_model=Group, permission_model=Permission, app_labels=[sender.label], using=using)
