"""Invariant 3: every route requires authentication except an explicit allowlist."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.config.urls import PUBLIC_ROUTE_NAMES
from tests.conftest import Member

METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, str | None]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry.name


def _concrete(route: str) -> str:
    """Fill every converter or group with a plausible value (a fresh uuid for org ids)."""
    route = re.sub(r"<int:\w+>", "1", route)
    route = re.sub(r"<(?:str:)?org_id>", str(uuid.uuid4()), route)
    route = re.sub(r"<(?:\w+:)?\w+>", "x", route)
    route = re.sub(r"\(\?P<path>\.\*\)\$", "flows", route)
    route = route.lstrip("^").rstrip("$").replace("(?!api/|ws/|static/)", "")
    return "/" + route


ROUTES = list(_walk(get_resolver().url_patterns))


def test_route_inventory_is_not_empty_and_allowlist_names_real_routes() -> None:
    names = {name for _, name in ROUTES}
    assert len(ROUTES) > 15
    assert names >= PUBLIC_ROUTE_NAMES, PUBLIC_ROUTE_NAMES - names


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), [r for r in ROUTES if r[1] not in PUBLIC_ROUTE_NAMES])
def test_route_refuses_anonymous_callers(route: str, name: str) -> None:
    client = APIClient(enforce_csrf_checks=True)
    url = _concrete(route)
    for method in METHODS:
        response = getattr(client, method)(url, data={}, format="json")
        assert response.status_code in (401, 403), f"{method.upper()} {url} ({name}) -> {response.status_code}"


@pytest.mark.django_db
def test_route_public_endpoints_answer_without_credentials() -> None:
    client = APIClient()
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/auth/csrf/").status_code == 204
    assert client.get("/flows").status_code in (200, 503)  # the SPA shell, built or not


@pytest.mark.django_db
def test_route_unknown_api_path_answers_json_not_html(org_a: Member) -> None:
    """A path no route matches under /api/ is the API's JSON error (it was Django's HTML page);
    the answer is the same with or without credentials and says nothing of the organization."""
    for client in (APIClient(), org_a.client()):
        for method, path in (
            ("get", "/api/v1/nothing-here/"),
            ("post", f"/api/v1/orgs/{org_a.organization.id}/alert-rules/"),
            ("put", f"/api/v1/orgs/{uuid.uuid4()}/budgets/"),
        ):
            response = getattr(client, method)(path)
            assert response.status_code == 404, (method, path)
            assert response["Content-Type"] == "application/json", (method, path)
            assert response.json() == {
                "code": "route_not_found",
                "message": "No API route at this path: check it against /api/docs/ (paths end with a slash).",
            }


@pytest.mark.django_db(transaction=True)
async def test_route_api_paths_answer_without_their_trailing_slash(org_a: Member, api_key_for: Any) -> None:
    """A POST to an API path without its trailing slash is that route's answer, not a redirect that
    a client would follow as a GET (Django's APPEND_SLASH), over the served (async) app and the
    sync client alike; a path that is no route either way stays the JSON 404."""
    import httpx
    from channels.db import database_sync_to_async

    from apps.builder.models import Flow
    from apps.config.asgi import application

    key = await database_sync_to_async(api_key_for)(org_a, "editor")
    base = f"/api/v1/orgs/{org_a.organization.id}/flows"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1", timeout=30
    ) as client:
        auth = {"Authorization": f"Bearer {key}"}
        created = await client.post(base, json={"name": "No slash"}, headers=auth)
        assert created.status_code == 201, created.text
        listed = await client.get(base, headers=auth)
        assert listed.status_code == 200 and "No slash" in listed.text
        viewer = await database_sync_to_async(api_key_for)(org_a, "viewer", "read only")
        refused = await client.post(base, json={"name": "Viewer's"}, headers={"Authorization": f"Bearer {viewer}"})
        assert refused.status_code == 403, refused.text  # the key's role still decides
        missing = await client.post(f"/api/v1/orgs/{org_a.organization.id}/nothing-here", json={}, headers=auth)
        assert missing.status_code == 404 and missing.json()["code"] == "route_not_found"
    sync = await database_sync_to_async(lambda: org_a.client().post(base, {"name": "Sync"}, format="json"))()
    assert sync.status_code == 201
    names = await database_sync_to_async(
        lambda: sorted(Flow.objects.filter(organization=org_a.organization).values_list("name", flat=True))
    )()
    assert names == ["No slash", "Sync"]
