"""The streaming test prompt (POST …/models/<id>/test/stream/): server-sent events through the
real ASGI application and the gateway, against the OpenAI stand-in (tests/support/standin.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.test import Client

from apps.serving.accounting import flush
from apps.serving.models import ModelCall, ModelEndpoint, ModelQuota
from apps.serving.services import model_endpoint_create
from apps.tenancy.models import Role
from tests.conftest import Member
from tests.support.egress import nothing_listens_url
from tests.support.standin import reply_tokens

pytestmark = pytest.mark.django_db(transaction=True)


def _url(member: Member, endpoint_id: int, suffix: str = "test/stream/") -> str:
    return f"/api/v1/orgs/{member.organization.id}/models/{endpoint_id}/{suffix}"


def _client(key: str) -> httpx.AsyncClient:
    from apps.config.asgi import application

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


async def _events(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    async with client.stream("POST", url, json=body) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: ") :])))
    return events


@pytest.fixture
def editor_key(org_a: Member, api_key_for: Callable[..., str]) -> str:
    return api_key_for(org_a, Role.EDITOR)


def _endpoint(member: Member, base_url: str, model: str, alias: str = "standin", **extra: Any) -> ModelEndpoint:
    return model_endpoint_create(access=member.access, alias=alias, base_url=base_url, model=model, **extra)


async def test_test_stream_sends_tokens_in_order_then_usage(org_a: Member, editor_key: str, standin_url: str) -> None:
    endpoint = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin-rate-200-n-12")
    async with _client(editor_key) as client:
        events = await _events(client, _url(org_a, endpoint.pk), {"prompt": "Say hello to me", "max_tokens": 32})
    names = [name for name, _ in events]
    # Tokens that reach the server together (a loaded machine) travel as one event: count the text.
    assert names[-1] == "done" and set(names[:-1]) == {"token"}, names
    tokens = [data["text"] for name, data in events if name == "token"]
    assert "".join(tokens) == "".join(reply_tokens(12))
    done = events[-1][1]
    assert done["text"] == "".join(tokens)
    assert (done["input_tokens"], done["output_tokens"]) == (4, 12)  # the stand-in counts prompt words
    assert done["latency_ms"] > 0
    assert 0 < done["ttft_ms"] <= done["latency_ms"]
    # Through the gateway: the call is in the organization's ledger like any other.
    await flush()
    call = await ModelCall.objects.aget(organization_id=org_a.organization.id)
    assert (call.alias, call.status, call.input_tokens, call.output_tokens) == ("standin", "ok", 4, 12)


async def test_test_stream_unreachable_model_is_an_error_event(
    org_a: Member, editor_key: str, standin_url: str
) -> None:
    endpoint = await database_sync_to_async(_endpoint)(
        org_a, nothing_listens_url(), "m", alias="gone", connect_timeout_s=2
    )
    async with _client(editor_key) as client:
        events = await _events(client, _url(org_a, endpoint.pk), {"prompt": "hi"})
    [(name, data)] = events
    assert name == "error"
    assert data["code"] == "model_unavailable"
    assert "gone" in data["message"]
    await flush()
    call = await ModelCall.objects.aget(organization_id=org_a.organization.id)
    assert (call.alias, call.status) == ("gone", "failed")


async def test_test_stream_silent_model_is_a_timeout_event(org_a: Member, editor_key: str, standin_url: str) -> None:
    endpoint = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin-stall-2", idle_timeout_s=0.5)
    async with _client(editor_key) as client:
        events = await _events(client, _url(org_a, endpoint.pk), {"prompt": "hi"})
    assert [name for name, _ in events] == ["token", "token", "error"]
    assert events[-1][1]["code"] == "model_timeout"


def _session_client(member: Member, *, enforce_csrf_checks: bool = False) -> Client:
    """A browser session (a plain async view does not see DRF's force_authenticate)."""
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(member.user)
    return client


async def test_test_stream_other_tenants_endpoint_is_404(
    org_a: Member, org_b: Member, api_key_for: Callable[..., str], standin_url: str
) -> None:
    """Both shapes of attack (their org id; our org id with their endpoint id), for an owner's
    session and for an admin API key: 404, and no model call is made."""
    theirs = await database_sync_to_async(_endpoint)(org_b, standin_url, "standin")
    urls = (_url(org_a, theirs.pk), _url(org_b, theirs.pk))
    admin_key = await database_sync_to_async(api_key_for)(org_a, Role.ADMIN)
    async with _client(admin_key) as client:
        for url in urls:
            response = await client.post(url, json={"prompt": "hi"})
            assert (response.status_code, response.json()["code"]) == (404, "not_found"), url
    session = await database_sync_to_async(_session_client)(org_a)
    for url in urls:
        response = await database_sync_to_async(session.post)(url, {"prompt": "hi"}, content_type="application/json")
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), url
    assert not await ModelCall.objects.aexists()


async def test_test_stream_viewer_gets_what_the_json_endpoint_gives_viewers(
    org_a: Member, add_member: Callable[..., Member], api_key_for: Callable[..., str], standin_url: str
) -> None:
    endpoint = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin")
    viewer_key = await database_sync_to_async(api_key_for)(org_a, Role.VIEWER, "viewer")
    async with _client(viewer_key) as client:
        streamed = await client.post(_url(org_a, endpoint.pk), json={"prompt": "hi"})
        plain = await client.post(_url(org_a, endpoint.pk, "test/"), json={"prompt": "hi"})
    assert streamed.status_code == plain.status_code == 403
    assert streamed.json() == plain.json()
    assert streamed.json()["code"] == "permission_denied"
    viewer = await database_sync_to_async(add_member)(org_a.organization, Role.VIEWER)
    session = await database_sync_to_async(_session_client)(viewer)
    for suffix in ("test/stream/", "test/"):
        response = await database_sync_to_async(session.post)(
            _url(org_a, endpoint.pk, suffix), {"prompt": "hi"}, content_type="application/json"
        )
        assert (response.status_code, response.json()) == (403, plain.json()), suffix
    assert not await ModelCall.objects.aexists()


async def test_test_stream_session_needs_the_csrf_token(org_a: Member, standin_url: str) -> None:
    endpoint = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin")
    session = await database_sync_to_async(_session_client)(org_a, enforce_csrf_checks=True)
    response = await database_sync_to_async(session.post)(
        _url(org_a, endpoint.pk), {"prompt": "hi"}, content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
    assert "CSRF" in response.json()["message"]
    assert not await ModelCall.objects.aexists()


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "invalid"), ({"prompt": ""}, "invalid"), ({"prompt": "hi", "max_tokens": 0}, "invalid")],
)
async def test_test_stream_bad_input_is_a_json_400(
    org_a: Member, editor_key: str, standin_url: str, body: dict[str, Any], code: str
) -> None:
    endpoint = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin")
    async with _client(editor_key) as client:
        response = await client.post(_url(org_a, endpoint.pk), json=body)
        malformed = await client.post(
            _url(org_a, endpoint.pk), content=b'{"prompt": ', headers={"Content-Type": "application/json"}
        )
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")


async def test_test_stream_refuses_embedding_models_and_spent_budgets(
    org_a: Member, editor_key: str, standin_url: str
) -> None:
    embed = await database_sync_to_async(_endpoint)(org_a, standin_url, "e", alias="embed", kind="embedding")
    chat = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin")
    async with _client(editor_key) as client:
        refused = await client.post(_url(org_a, embed.pk), json={"prompt": "hi"})
        assert (refused.status_code, refused.json()["code"]) == (400, "not_a_chat_model")
        await ModelQuota.objects.acreate(organization_id=org_a.organization.id, monthly_token_budget=0)
        spent = await client.post(_url(org_a, chat.pk), json={"prompt": "hi"})
        assert (spent.status_code, spent.json()["code"]) == (429, "budget_exceeded")


async def test_test_stream_needs_credentials_and_post(org_a: Member, editor_key: str, standin_url: str) -> None:
    from apps.config.asgi import application

    endpoint = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin")
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as anonymous:
        assert (await anonymous.post(_url(org_a, endpoint.pk), json={"prompt": "hi"})).status_code == 401
    async with _client(editor_key) as client:
        assert (await client.get(_url(org_a, endpoint.pk))).status_code == 405


async def test_test_stream_stopped_early_closes_the_model_call(org_a: Member, standin_url: str) -> None:
    """What the Stop button does (the browser aborts, Django closes the response's iterator):
    the model stream is closed and the call is ledgered as cancelled."""
    from apps.serving.services import model_endpoint_probe_gateway

    endpoint = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin-rate-50-n-50")
    alias, gateway = await database_sync_to_async(model_endpoint_probe_gateway)(
        access=org_a.access, endpoint_id=endpoint.pk
    )
    stream = gateway.probe_stream(alias, "hi")
    assert await anext(stream) == "alpha"
    await stream.aclose()
    await flush()
    call = await ModelCall.objects.aget(organization_id=org_a.organization.id)
    assert call.status == "failed"
    assert call.output_tokens <= 2


async def test_test_stream_sends_each_token_as_it_arrives(org_a: Member, editor_key: str, standin_url: str) -> None:
    """Driven at the ASGI level (httpx's ASGI transport hands over the body only at the end):
    the first token leaves the server long before the model has finished."""
    from apps.config.asgi import application

    endpoint = await database_sync_to_async(_endpoint)(org_a, standin_url, "standin-rate-20-n-6")  # 50 ms a token
    request = json.dumps({"prompt": "hi"}).encode()
    delivered = False
    sent: list[tuple[float, bytes]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": request, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            sent.append((time.perf_counter(), message["body"]))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": _url(org_a, endpoint.pk),
        "raw_path": _url(org_a, endpoint.pk).encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {editor_key}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    await asyncio.wait_for(application(scope, receive, send), 30)
    first = next(at for at, body in sent if body.startswith(b"event: token"))
    done = next(at for at, body in sent if body.startswith(b"event: done"))
    assert sum(body.startswith(b"event: token") for _, body in sent) == 6
    assert done - first > 0.15  # five more tokens at 50 ms each came after the first had left
