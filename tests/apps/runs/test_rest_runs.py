"""Runs over HTTP: a JSON result or Server-Sent Events; listing, traces, events, cancel, sessions."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from apps.runs.models import Run
from apps.runs.tasks import runs_reap_orphans
from tests.conftest import Member
from tests.support.standin import reply_tokens

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asgi_client(org_a: Member, api_key_for: Callable[..., str]) -> httpx.AsyncClient:
    from apps.config.asgi import application

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {api_key_for(org_a, 'editor')}"},
        timeout=30,
    )


def _url(member: Member, flow_id: str) -> str:
    return f"/api/v1/orgs/{member.organization.id}/flows/{flow_id}/run/"


async def test_rest_run_returns_json_result(
    org_a: Member, asgi_client: httpx.AsyncClient, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    from channels.db import database_sync_to_async

    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    response = await asgi_client.post(_url(org_a, flow["id"]), json={"inputs": {"message": "hello"}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed"
    assert body["output"]["output"]["value"] == body["output_text"]
    assert body["output_tokens"] == 12 and body["source"] == "api"


async def test_rest_run_streams_server_sent_events(
    org_a: Member, asgi_client: httpx.AsyncClient, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    from channels.db import database_sync_to_async

    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    events = []
    async with asgi_client.stream(
        "POST", _url(org_a, flow["id"]), json={"inputs": {"message": "hi"}, "stream": True}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[0]["type"] == "run.started" and events[-1]["type"] == "run.finished"
    tokens = [e["data"]["text"] for e in events if e["type"] == "token"]
    assert tokens and "".join(tokens) == "".join(reply_tokens(12))


async def test_rest_stream_starts_the_model_early_and_a_refused_row_is_an_error_event(
    org_a: Member, asgi_client: httpx.AsyncClient, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    """A stream's run starts before its rows are written (the socket's early path): an input the
    database refuses (a NUL character) still leaves no run behind, and the stream says why in an
    error event instead of a 400 (the 200 was already sent)."""
    from channels.db import database_sync_to_async

    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    events = []
    async with asgi_client.stream(
        "POST", _url(org_a, flow["id"]), json={"inputs": {"message": "a\u0000b"}, "stream": True}
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [e["type"] for e in events] == ["run.failed"], events
    assert events[0]["data"]["code"] == "invalid_input"
    assert not [e for e in events if e["type"] == "token"]
    assert await Run.objects.acount() == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"inputs": ', 400, "malformed_json"),
        ('{"inputs": {"message": "x"}, "graph": {}}', 400, "invalid"),
        ('{"inputs": {"message": "x"}, "version": "latest"}', 400, "invalid"),
        ('{"inputs": {"message": "x"}, "version": "9"}', 404, "version_not_found"),
        ('{"inputs": {"message": "a\\u0000b"}}', 400, "invalid_input"),
    ],
)
async def test_rest_run_bad_input(
    org_a: Member,
    asgi_client: httpx.AsyncClient,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    body: str,
    status: int,
    code: str,
) -> None:
    from channels.db import database_sync_to_async

    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    response = await asgi_client.post(
        _url(org_a, flow["id"]), content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert await Run.objects.acount() == 0


async def test_rest_run_needs_credentials_and_tenant(
    org_a: Member, org_b: Member, api_key_for: Callable[..., str], publish_flow: Callable[..., Any]
) -> None:
    from channels.db import database_sync_to_async

    from apps.config.asgi import application

    flow = await database_sync_to_async(publish_flow)()
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as anonymous:
        response = await anonymous.post(_url(org_a, flow["id"]), json={"inputs": {}})
        assert response.status_code == 401
    other_key = await database_sync_to_async(api_key_for)(org_b, "owner")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {other_key}"}
    ) as other:
        assert (await other.post(_url(org_a, flow["id"]), json={"inputs": {}})).status_code == 404
        assert (await other.post(_url(org_b, flow["id"]), json={"inputs": {}})).status_code == 404
    assert await Run.objects.acount() == 0


def test_rest_runs_list_trace_events_and_sessions(
    org_a: Member, org_b: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    import asyncio

    from apps.runs.live import run_collect
    from apps.runs.principals import RunRequest, principal_of
    from apps.runs.start import run_start
    from apps.tenancy.access import Actor

    endpoint()
    flow = publish_flow()

    async def run_once() -> str:
        prepared = await run_start(
            principal_of(Actor(user=org_a.user, api_key=None)), RunRequest(flow=flow["id"], inputs={"message": "hi"})
        )
        await run_collect(prepared)
        return str(prepared.run.pk)

    run_id = asyncio.run(run_once())
    client, base = org_a.client(), f"/api/v1/orgs/{org_a.organization.id}"
    listed = client.get(f"{base}/runs/?flow={flow['id']}").json()
    assert [r["id"] for r in listed["results"]] == [run_id] and listed["next"] is None
    detail = client.get(f"{base}/runs/{run_id}/").json()
    assert [s["node"] for s in detail["spans"]] == ["in", "prompt", "llm", "out"]
    events = client.get(f"{base}/runs/{run_id}/events/?after=3").json()
    assert events[0]["seq"] == 4 and events[-1]["type"] == "run.finished"
    session = client.get(f"{base}/sessions/{detail['session']}/").json()
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"]
    assert client.post(f"{base}/runs/{run_id}/cancel/").status_code == 409
    other = org_b.client()
    for url in [
        f"/api/v1/orgs/{org_b.organization.id}/runs/{run_id}/",
        f"/api/v1/orgs/{org_b.organization.id}/runs/{run_id}/events/",
        f"/api/v1/orgs/{org_b.organization.id}/sessions/{detail['session']}/",
        f"{base}/runs/{run_id}/",
    ]:
        assert other.get(url).status_code == 404, url
    assert other.post(f"/api/v1/orgs/{org_b.organization.id}/runs/{run_id}/cancel/").status_code == 404


def test_reaper_fails_runs_whose_worker_is_gone(org_a: Member, publish_flow: Callable[..., Any]) -> None:
    flow = publish_flow(publish=False)
    stale = Run.objects.create(
        organization=org_a.organization,
        flow_id=flow["id"],
        status=Run.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    fresh = Run.objects.create(
        organization=org_a.organization, flow_id=flow["id"], status=Run.Status.RUNNING, heartbeat_at=timezone.now()
    )
    assert runs_reap_orphans() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.error_code) == ("failed", "worker_lost")
    assert fresh.status == "running"
