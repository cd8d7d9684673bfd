"""Every API route and every admin page, walked from the URL resolver (new routes are covered automatically).

- no credentials: 401 for every method the route allows;
- a key whose user may view everything but change nothing: 403 for every write;
- admin pages: a redirect to the login page without a staff session.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import client_for
from tests.factories import CustomerFactory, GroupFactory, MembershipFactory, UserFactory

WRITE_METHODS = {"post", "put", "patch", "delete"}
_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def _walk(patterns, prefix=""):
    for entry in patterns:
        regex = prefix + str(entry.pattern.regex.pattern).lstrip("^")
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, regex.removesuffix("\\Z").rstrip("$"))
        elif isinstance(entry, URLPattern):
            yield regex, entry


def _path(regex: str, values: dict[str, str]) -> str:
    path = _GROUP.sub(lambda m: values.get(m.group(1), str(uuid.uuid4())), regex)
    path = path.replace("\\Z", "").replace("$", "").replace("/?", "/").replace("\\", "")
    return "/" + path.lstrip("^")


def _api_routes():
    """Return (path regex, {method: action}) of every /api/v1 route."""
    routes = []
    for regex, pattern in _walk(get_resolver().url_patterns):
        if not regex.startswith("api/v1/"):
            continue
        actions = getattr(pattern.callback, "actions", None)
        if actions is None:  # a plain APIView: the methods its class implements
            cls = getattr(pattern.callback, "cls", None)
            actions = {m: m for m in ("get", "post", "put", "patch", "delete") if cls and hasattr(cls, m)}
        routes.append((regex, pattern.callback, dict(actions)))
    return routes


API_ROUTES = _api_routes()


def test_the_walk_finds_the_known_routes():
    regexes = " ".join(regex for regex, _, _ in API_ROUTES)
    for fragment in ("customers", "groups", "customers/(?P<customer_id>"):
        assert fragment in regexes
    assert len(API_ROUTES) >= 6


@pytest.fixture
def objects(db):
    customer, group = CustomerFactory(), GroupFactory()
    MembershipFactory(customer=customer, group=group)
    return {"customer": customer, "group": group}


def _values_for(callback, objects) -> dict[str, str]:
    """Fill path parameters with real ids: the route's own model for `pk`, a customer for `customer_id`."""
    model = getattr(getattr(callback.cls, "queryset", None), "model", None)
    existing = model.objects.first() if model is not None else None
    pk = existing.pk if existing is not None else uuid.uuid4()
    return {"pk": str(pk), "id": str(pk), "customer_id": str(objects["customer"].pk)}


CASES = [(regex, method) for regex, _, actions in API_ROUTES for method in actions if method != "options"]


@pytest.mark.parametrize(("regex", "method"), CASES)
def test_no_credentials_is_401(anon, objects, regex, method):
    callback = next(cb for r, cb, _ in API_ROUTES if r == regex)
    path = _path(regex, _values_for(callback, objects))
    response = getattr(anon, method)(path, {}, format="json")
    assert response.status_code == 401, (method, path, response.status_code)
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture
def view_only_api(db):
    """A key of a user holding every view permission of every model, and nothing else."""
    user = UserFactory()
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return client_for(user)


WRITE_CASES = [(regex, method) for regex, method in CASES if method in WRITE_METHODS]


@pytest.mark.parametrize(("regex", "method"), WRITE_CASES)
def test_view_only_key_cannot_write(view_only_api, objects, regex, method):
    callback = next(cb for r, cb, _ in API_ROUTES if r == regex)
    path = _path(regex, _values_for(callback, objects))
    response = getattr(view_only_api, method)(path, {}, format="json")
    assert response.status_code == 403, (method, path, response.status_code)
    assert response.json()["code"] == "permission_denied"


READ_CASES = [(regex, method) for regex, method in CASES if method == "get"]


@pytest.mark.parametrize(("regex", "method"), READ_CASES)
def test_view_only_key_can_read(view_only_api, objects, regex, method):
    callback = next(cb for r, cb, _ in API_ROUTES if r == regex)
    path = _path(regex, _values_for(callback, objects))
    # 404: a route whose object we did not make; 400: a read that needs query parameters (e.g. usage's from/to)
    assert view_only_api.get(path).status_code in (200, 400, 404), path


def _admin_paths(objects) -> list[str]:
    from django.conf import settings

    values = {
        "app_label": "customers",
        "object_id": str(objects["customer"].pk),
        "content_type_id": "1",
        "path": "x",
        "url": "x",
    }
    out = []
    for regex, pattern in _walk(get_resolver().url_patterns):
        if not regex.startswith(settings.ADMIN_URL) or pattern.name in ("login", "logout"):
            continue
        out.append((pattern.name, _path(regex, values)))
    return out


def test_every_admin_page_needs_a_staff_session(client, objects):
    pages = _admin_paths(objects)
    assert len(pages) > 20
    login = reverse("admin:login")
    for name, path in pages:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(login), (name, path)

    client.force_login(UserFactory(is_staff=False))  # signed in, but not staff
    for name, path in pages:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(login), (name, path)


def test_admin_pages_open_for_staff(client, objects):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
