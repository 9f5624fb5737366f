"""The plain async views (the run endpoint, the model test stream, the OpenAI-compatible endpoint)
authenticate through one helper (apps.tenancy.http_auth): a browser signed in through the real
login endpoint, with Django's CSRF checks on, gets 403 csrf_failed without the X-CSRFToken
header (never a 500) and its answer with it; the OpenAI endpoint takes API keys only (401)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.runs.models import Run
from apps.serving.models import ModelCall
from tests.conftest import PASSWORD, Member

pytestmark = pytest.mark.django_db(transaction=True)


def _browser(member: Member) -> tuple[Client, str]:
    """A browser-like client: CSRF checks on, the csrftoken cookie from /auth/csrf/, signed in
    through the login endpoint as the app's frontend does."""
    client = Client(enforce_csrf_checks=True)
    assert client.get("/api/v1/auth/csrf/").status_code == 204
    token = client.cookies["csrftoken"].value
    login = client.post(
        "/api/v1/auth/login/",
        {"username": member.user.username, "password": PASSWORD},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert login.status_code == 200, login.content
    return client, client.cookies["csrftoken"].value  # rotated at login


def _post(client: Client, url: str, body: dict[str, Any], token: str | None) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


def test_run_endpoint_session_needs_the_csrf_token(
    org_a: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    endpoint()
    flow = publish_flow()
    url = f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/run/"
    client, token = _browser(org_a)
    refused = _post(client, url, {"inputs": {"message": "hi"}}, None)
    assert refused.status_code == 403, refused.content
    assert refused.json()["code"] == "csrf_failed"
    assert "X-CSRFToken" in refused.json()["message"]
    assert Run.objects.count() == 0
    answered = _post(client, url, {"inputs": {"message": "hi"}}, token)
    assert answered.status_code == 200, answered.content
    assert answered.json()["status"] == "completed"


def test_run_endpoint_without_credentials_is_401(org_a: Member, publish_flow: Callable[..., Any]) -> None:
    flow = publish_flow()
    client = Client(enforce_csrf_checks=True)
    response = _post(client, f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/run/", {}, None)
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    bad_key = client.post(
        f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/run/",
        "{}",
        content_type="application/json",
        headers={"Authorization": "Bearer trl_abcdefgh_nope"},
    )
    assert (bad_key.status_code, bad_key.json()["code"]) == (401, "authentication_failed")


def test_model_test_stream_session_needs_the_csrf_token(org_a: Member, endpoint: Callable[..., Any]) -> None:
    model = endpoint()
    url = f"/api/v1/orgs/{org_a.organization.id}/models/{model['id']}/test/stream/"
    client, token = _browser(org_a)
    refused = _post(client, url, {"prompt": "hi"}, None)
    assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed")
    assert not ModelCall.objects.exists()
    # The stream itself is read in tests/apps/serving/test_test_stream.py (an ASGI client): this
    # synchronous client cannot read an async stream, so it checks that the stream was granted.
    answered = _post(client, url, {"prompt": "hi"}, token)
    assert answered.status_code == 200
    assert answered["Content-Type"] == "text/event-stream"
    answered.close()


def test_openai_endpoint_takes_api_keys_only(
    org_a: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    endpoint()
    flow = publish_flow()
    url = f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/openai/chat/completions"
    client, token = _browser(org_a)
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    for csrf in (None, token):
        response = _post(client, url, body, csrf)
        assert response.status_code == 401, response.content
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response.json()["error"]["type"] == "authentication_error"
    assert Run.objects.count() == 0
