"""Bad input never yields 5xx (issue 15): a property-based walk of the OpenAPI schema, and a walk of
every route with malformed bodies, wrong content types, missing CSRF and oversized bodies, both
against the real ASGI app served by a real uvicorn on the test database.

The schema is generated from the code at collection (drf-spectacular), so a new route is walked
the day it lands. Schemathesis generates valid and invalid (negative) inputs for every operation;
the path's ids are the test organization's real objects, so requests reach the views' validation
instead of stopping at a 404.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings

from tests.flows.graphs import graph
from tests.support.asgi_server import free_port

# Marks the tests as using the database so it is set up; the data they read is committed by the
# module's fixture (the server answers from its own threads and connections).
pytestmark = pytest.mark.django_db


def _openapi() -> dict[str, Any]:
    raw = SchemaGenerator().get_schema(request=None, public=True)
    loaded: dict[str, Any] = json.loads(OpenApiJsonRenderer().render(raw))
    return loaded


SCHEMA = schemathesis.openapi.from_dict(_openapi())
# Deleting the organization under test would turn every later case into a 404.
SCHEMA = SCHEMA.exclude(path="/api/v1/orgs/{org_id}/", method="DELETE")


@dataclass
class Instance:
    base: str
    api_key: str
    browser: requests.Session
    ids: dict[str, str] = field(default_factory=dict)


def _serve_in_thread(port: int) -> tuple[uvicorn.Server, threading.Thread]:
    from apps.config.asgi import application

    config = uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread


def _create(session: requests.Session, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = session.post(url, json=body, timeout=30)
    assert response.status_code == 201, (url, response.status_code, response.text[:300])
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture(scope="module")
def instance(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Instance]:
    """A real server with an owner's API key and one of each object the paths name."""
    # The server's threads use the database for the whole module: committed data, flushed at the end.
    with django_db_blocker.unblock():
        yield from _instance()


def _instance() -> Iterator[Instance]:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from apps.tenancy.access import Actor, access_org_by_id
    from apps.tenancy.models import Role
    from apps.tenancy.services import api_key_create, organization_create

    user = User.objects.create_user("fuzz-owner", "fuzz@example.test", "correct horse battery staple 42")
    org = organization_create(actor=Actor(user=user, api_key=None), name="Fuzz")
    access = access_org_by_id(actor=Actor(user=user, api_key=None), org_id=str(org.id), min_role=Role.OWNER)
    _, raw = api_key_create(access=access, name="fuzz", role=Role.OWNER)
    port = free_port()
    server, thread = _serve_in_thread(port)
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {raw}"
    org_url = f"{base}/api/v1/orgs/{org.id}"
    flow = _create(session, f"{org_url}/flows/", {"name": "Fuzzed"})
    spec = graph().node("in", "chat_input").node("out", "output").edge("in", "out", "message", "value").spec
    draft = session.put(
        f"{org_url}/flows/{flow['id']}/draft/", json={"graph": spec, "revision": flow.get("revision", 0)}, timeout=30
    )
    kb = _create(session, f"{org_url}/knowledge-bases/", {"name": "Fuzz KB"})
    widget_ids: dict[str, str] = {}
    if draft.status_code == 200:
        session.post(f"{org_url}/flows/{flow['id']}/versions/", json={}, timeout=30)
        widget = session.post(f"{org_url}/widgets/", json={"flow": flow["id"], "name": "Fuzz"}, timeout=30)
        if widget.status_code == 201:
            widget_ids["widget_id"] = str(widget.json()["id"])
    # A signed-in browser session (cookie + CSRF cookie), as the SPA holds one; signed in before the
    # bad-body walk spends the login throttle.
    browser = requests.Session()
    browser.get(f"{base}/api/v1/auth/csrf/", timeout=30)
    login = browser.post(
        f"{base}/api/v1/auth/login/",
        json={"username": "fuzz-owner", "password": "correct horse battery staple 42"},
        headers={"X-CSRFToken": browser.cookies.get("csrftoken", "")},
        timeout=30,
    )
    assert login.status_code in (200, 204), login.text[:300]
    try:
        yield Instance(
            base=base,
            api_key=raw,
            browser=browser,
            ids={"org_id": str(org.id), "flow_id": str(flow["id"]), "kb_id": str(kb["id"]), **widget_ids},
        )
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        call_command("flush", interactive=False, verbosity=0)


@SCHEMA.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_schema_walk_never_answers_5xx(case: Any, instance: Instance) -> None:
    for name, value in instance.ids.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    response = case.call(base_url=instance.base, headers={"Authorization": f"Bearer {instance.api_key}"}, timeout=60)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
        f"{case.as_curl_command()}"
    )


# -- every route, including the ones the schema does not describe (widget, OpenAI-compatible, SPA)


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern)


def _concrete(route: str, ids: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(2)
        return ids.get(name, "1" if match.group(1) == "int:" else str(uuid.uuid4()))

    route = re.sub(r"<(\w+:)?(\w+)>", fill, route)
    route = re.sub(r"\(\?P<path>\.\*\)\$", "flows", route)
    return "/" + route.lstrip("^").rstrip("$").replace("(?!api/|ws/|static/)", "")


ROUTES = sorted(set(_walk(get_resolver().url_patterns)))
BAD_BODIES: list[tuple[str, str, bytes]] = [
    ("malformed-json", "application/json", b'{"name": '),
    ("json-not-object", "application/json", b'[1, "two", null]'),
    ("wrong-types", "application/json", b'{"name": 7, "graph": "x", "revision": "y", "inputs": [], "message": {}}'),
    ("text-plain", "text/plain", b"hello"),
    ("bad-multipart", "multipart/form-data; boundary=xyz", b"--xyz\r\nnot a part\r\n"),
    ("form-urlencoded", "application/x-www-form-urlencoded", b"name=%ZZ&&=="),
    ("invalid-utf8", "application/json", b'{"name": "\xff\xfe"}'),
    ("oversized", "application/json", b'{"name": "' + b"a" * (12 * 1024 * 1024) + b'"}'),
]
METHODS = ("POST", "PUT", "PATCH", "DELETE", "GET")


def _is_api(route: str) -> bool:
    return route.startswith(("api/", "^api/"))


@pytest.mark.parametrize("route", ROUTES)
def test_route_bad_bodies_never_answer_5xx(route: str, instance: Instance) -> None:
    url = instance.base + _concrete(route, instance.ids)
    failures = []
    for label, content_type, body in BAD_BODIES:
        for method in METHODS:
            if method == "GET" and label != "malformed-json":
                continue
            response = requests.request(
                method,
                url,
                data=body,
                headers={"Authorization": f"Bearer {instance.api_key}", "Content-Type": content_type},
                timeout=60,
            )
            if response.status_code >= 500 and not (route == "readyz" and response.status_code == 503):
                failures.append(f"{method} {label}: {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400 and _is_api(route) and "json" in response.headers.get("content-type", ""):
                payload = response.json()
                if isinstance(payload, dict) and "error" not in payload and "code" not in payload:
                    failures.append(f"{method} {label}: {response.status_code} without a code: {payload}")
    assert not failures, f"{url}\n" + "\n".join(failures)


@pytest.mark.parametrize("route", [r for r in ROUTES if _is_api(r) and "auth/" not in r])
def test_route_session_without_csrf_is_refused_with_4xx(route: str, instance: Instance) -> None:
    """A signed-in browser session posting JSON without the CSRF token: 403 (or 404/405), never 500."""
    url = instance.base + _concrete(route, instance.ids)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = instance.browser.request(method, url, json={"message": "hi", "name": "x"}, timeout=60)
        assert response.status_code < 500, f"{method} {url}: {response.status_code} {response.text[:300]}"
        if response.status_code not in (404, 405) and not route.startswith("api/widget/"):
            # 403 csrf_failed; 401 where the route takes API keys only (the OpenAI-compatible one)
            assert response.status_code in (401, 403), f"{method} {url}: {response.status_code} {response.text[:300]}"
