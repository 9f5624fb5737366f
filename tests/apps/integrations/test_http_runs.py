"""The HTTP request node in real runs: an API key header from a secret reaches a real local API,
the JSON answer is mapped to fields, and the secret's value is in no stored row even though the
API echoes it back; private addresses are refused by the egress policy; a missing secret is a 400
that writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from django.db import connection

from apps.runs.models import Run
from tests.apps.integrations.conftest import BusinessApi, org_url
from tests.conftest import Member
from tests.flows.graphs import graph

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
SCANNED_APPS = ("runs", "integrations", "tenancy", "builder")


def rows_holding(value: str) -> list[str]:
    """The tables where `value` is in any column of any row (JSON dumps of every row)."""
    found = []
    with connection.cursor() as cursor:
        for label in SCANNED_APPS:
            for model in apps.get_app_config(label).get_models():
                table = model._meta.db_table
                cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608 - our own table names
                if any(value in row[0] for row in cursor.fetchall()):
                    found.append(table)
    return found


def order_flow(url: str, **http: Any) -> dict[str, Any]:
    return (
        graph()
        .node("in", "chat_input")
        .node(
            "call",
            "http_request",
            url=url,
            auth={"type": "api_key", "header": "X-Api-Key", "token": "{{secrets.ORDERS_KEY}}"},
            query={"asked": "{{question}}"},
            response_mapping={"status": "order.status", "first_item": "order.items.0.name"},
            **http,
        )
        .node("out", "output", format="json")
        .edge("in", "call", "message", "question")
        .edge("call", "out", "fields", "value")
        .spec
    )


def publish(member: Member, spec: dict[str, Any]) -> str:
    client = member.client()
    flow = client.post(org_url(member, "flows/"), {"name": "orders", "graph": spec}, format="json")
    assert flow.status_code == 201, flow.json()
    published = client.post(org_url(member, f"flows/{flow.json()['id']}/versions/"), {"note": "v1"}, format="json")
    assert published.status_code == 201, published.json()
    return str(flow.json()["id"])


async def run_flow(member: Member, key: str, flow: str, message: str) -> httpx.Response:
    from apps.config.asgi import application

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as client:
        return await client.post(org_url(member, f"flows/{flow}/run/"), json={"inputs": {"message": message}})


async def test_http_node_sends_the_secret_header_and_maps_the_answer_without_storing_the_secret(
    org_a: Member, business_api: BusinessApi, add_secret: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(add_secret)(org_a, "ORDERS_KEY", business_api.key)
    flow = await db(publish)(org_a, order_flow(f"{business_api.url}/orders/{{{{question}}}}"))
    key = await db(api_key_for)(org_a)
    response = await run_flow(org_a, key, flow, "42")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed", body
    assert body["output"]["output"]["value"] == {"status": "shipped", "first_item": "widget-42"}
    sent = business_api.seen[-1]
    assert sent["path"] == "/orders/42" and sent["query"] == {"asked": "42"}
    assert sent["headers"]["x-api-key"] == business_api.key  # the API got the real value
    assert business_api.key not in response.text
    assert await db(rows_holding)(business_api.key) == []  # runs, events, spans, messages: none holds it
    events = [e async for e in (await Run.objects.aget()).events.all()]
    assert events and "[secret]" in json.dumps([e.data for e in events])  # the echoed key was redacted


async def test_http_node_to_a_private_address_is_refused(
    org_a: Member, add_secret: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(add_secret)(org_a, "ORDERS_KEY", "not-used-value")
    flow = await db(publish)(org_a, order_flow("http://10.1.2.3/internal/{{question}}"))
    response = await run_flow(org_a, await db(api_key_for)(org_a), flow, "1")
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "failed" and run["error_code"] == "egress_refused", run


async def test_a_missing_secret_is_a_400_and_starts_no_run(
    org_a: Member, business_api: BusinessApi, api_key_for: Callable[..., str]
) -> None:
    flow = await db(publish)(org_a, order_flow(f"{business_api.url}/orders/1"))
    response = await run_flow(org_a, await db(api_key_for)(org_a), flow, "1")
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "secret_not_found"
    assert "ORDERS_KEY" in response.json()["message"]
    assert not await Run.objects.aexists()


async def test_a_wrong_key_fails_the_node_with_the_status_not_the_body(
    org_a: Member, business_api: BusinessApi, add_secret: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(add_secret)(org_a, "ORDERS_KEY", "wrong-key-value")
    flow = await db(publish)(org_a, order_flow(f"{business_api.url}/orders/7"))
    response = await run_flow(org_a, await db(api_key_for)(org_a), flow, "7")
    run = response.json()
    assert run["status"] == "failed" and run["error_code"] == "http_status", run
    assert "401" in run["error_message"] and "unauthorized" not in run["error_message"]
