"""The whole stack with the real local model: uvicorn + WebSocket + SmolLM2 behind the
OpenAI-compatible local server + PostgreSQL. Tokens stream; the run and its spans are stored."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from django.contrib.auth.models import User

from apps.runs.models import Run, Span
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import api_key_create, organization_create
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db(transaction=True)


def _run_over_socket(url: str, key: str, flow_id: str) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            await ws.send(json.dumps({"type": "run.start", "flow": flow_id, "inputs": {"message": "Say hello."}}))
            events = []
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 120))
                events.append(event)
                if event["type"] in {"run.finished", "run.failed", "run.cancelled", "error"}:
                    return events

    return asyncio.run(run())


def test_e2e_flow_runs_on_the_local_model_over_the_websocket(
    live_url: str, local_model_url: str, settings: Any
) -> None:
    from apps.builder.services import flow_create, flow_version_publish

    settings.LOCAL_MODEL_URL = local_model_url  # the builtin "local" alias of new organizations
    user = User.objects.create_user("mo", "mo@example.test", "a long passphrase 88")
    org = organization_create(actor=Actor(user=user, api_key=None), name="Local")
    access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
    graph = chat_flow(model="local")
    graph["nodes"][2]["config"].update(max_tokens=24, temperature=0)
    flow = flow_create(access=access, name="Hello", description="", graph=graph)
    flow_version_publish(access=access, flow_id=flow.pk, note="v1")
    _, key = api_key_create(access=access, name="e2e", role=Role.VIEWER)

    events = _run_over_socket(live_url.replace("http", "ws") + "/ws/", key, str(flow.pk))
    assert events[-1]["type"] == "run.finished", events[-1]
    tokens = [e["data"]["text"] for e in events if e["type"] == "token"]
    assert len(tokens) >= 3  # streamed, not one block
    run = Run.objects.get(pk=events[0]["run"])
    assert run.status == "completed" and run.output_text == "".join(tokens)
    assert 0 < run.output_tokens <= 24 and run.input_tokens > 0
    llm = Span.objects.get(run=run, node="llm")
    assert llm.output_tokens == run.output_tokens and llm.latency_ms
