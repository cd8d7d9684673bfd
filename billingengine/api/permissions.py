"""Django model permissions applied to every API request, reads included."""

from __future__ import annotations

from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Require an authenticated user holding the model permission for the method (view for reads).

    A view may name another model for its permissions with `permission_model` (sub-resources such
    as memberships are governed by the Membership permissions). Otherwise the model is that of the view's
    `queryset` attribute; `get_queryset()` is called only by views without one (it may build an
    expensive queryset, annotations and all, that the permission check does not need).
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if getattr(view, "_ignore_model_permissions", False):
            return True
        model = getattr(view, "permission_model", None)
        if model is None:
            queryset = getattr(view, "queryset", None)
            model = queryset.model if queryset is not None else self._queryset(view).model
        return request.user.has_perms(self.get_required_permissions(request.method, model))
