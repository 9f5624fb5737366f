"""MCP servers through the official SDK: a real server (built with `mcp`, streamable HTTP and SSE,
bearer token required) is connected per organization with its token from a secret, its tools are
listed and can be turned off, and flows call them (the tool-call node and the agent), each call
noted on the node's span; the token is in no stored row; internal addresses and other tenants
are refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.integrations.models import McpServer
from apps.runs.models import Run, Span
from tests.apps.integrations.conftest import McpServers, org_url
from tests.apps.integrations.test_http_runs import publish, rows_holding, run_flow
from tests.conftest import Member
from tests.flows.graphs import graph

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
BEARER = {"type": "bearer", "token": "{{secrets.MCP_TOKEN}}"}


def connect(member: Member, url: str, transport: str = "streamable_http", **extra: Any) -> dict[str, Any]:
    body = {"name": "orders", "url": url, "transport": transport, "auth": BEARER, **extra}
    response = member.client().post(org_url(member, "mcp-servers/"), body, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


def test_connect_lists_the_servers_tools_over_streamable_http_and_sse(
    org_a: Member, mcp_servers: McpServers, add_secret: Callable[..., Any]
) -> None:
    add_secret(org_a, "MCP_TOKEN", mcp_servers.token)
    server = connect(org_a, mcp_servers.streamable_url)
    assert server["last_error"] == "" and server["refreshed_at"]
    tools = {t["name"]: t for t in server["tools"]}
    assert set(tools) == {"lookup_order", "calculate", "delete_everything"}
    assert tools["lookup_order"]["tool"] == "orders__lookup_order"
    assert tools["lookup_order"]["input_schema"]["properties"]["order_id"]["type"] == "integer"
    sse = org_a.client().post(
        org_url(org_a, "mcp-servers/"),
        {"name": "orders_sse", "url": mcp_servers.sse_url, "transport": "sse", "auth": BEARER},
        format="json",
    )
    assert sse.status_code == 201 and sse.json()["last_error"] == "", sse.json()
    assert {t["name"] for t in sse.json()["tools"]} == set(tools)
    assert mcp_servers.token not in str(server) + str(sse.json())


def test_a_wrong_token_is_reported_as_the_servers_status(
    org_a: Member, mcp_servers: McpServers, add_secret: Callable[..., Any]
) -> None:
    add_secret(org_a, "MCP_TOKEN", "not-the-token")
    server = connect(org_a, mcp_servers.streamable_url)
    assert server["tools"] == [] and "401" in server["last_error"]
    add_secret_again = org_a.client().patch(
        org_url(org_a, f"secrets/{org_a.client().get(org_url(org_a, 'secrets/')).json()[0]['id']}/"),
        {"value": mcp_servers.token},
        format="json",
    )
    assert add_secret_again.status_code == 200
    refreshed = org_a.client().post(org_url(org_a, f"mcp-servers/{server['id']}/refresh/"))
    assert refreshed.status_code == 200 and refreshed.json()["last_error"] == ""
    assert len(refreshed.json()["tools"]) == 3


def test_internal_addresses_and_stdio_are_refused(org_a: Member) -> None:
    client = org_a.client()
    internal = client.post(
        org_url(org_a, "mcp-servers/"), {"name": "inside", "url": "http://10.0.0.8/mcp"}, format="json"
    )
    assert internal.status_code == 400 and internal.json()["code"] == "egress_refused"
    stdio = client.post(
        org_url(org_a, "mcp-servers/"),
        {"name": "local", "url": "https://example.com/mcp", "transport": "stdio"},
        format="json",
    )
    assert stdio.status_code == 400
    assert not McpServer.objects.exists()


def test_other_organizations_and_viewers_cannot_touch_a_server(
    org_a: Member,
    org_b: Member,
    add_member: Callable[..., Member],
    mcp_servers: McpServers,
    add_secret: Callable[..., Any],
) -> None:
    add_secret(org_a, "MCP_TOKEN", mcp_servers.token)
    server = connect(org_a, mcp_servers.streamable_url)
    outsider = org_b.client()
    for path in (f"mcp-servers/{server['id']}/", f"mcp-servers/{server['id']}/refresh/"):
        assert outsider.get(org_url(org_a, path)).status_code in {404, 405}
        assert outsider.post(org_url(org_b, path)).status_code in {404, 405}
    assert outsider.delete(org_url(org_b, f"mcp-servers/{server['id']}/")).status_code == 404
    assert outsider.get(org_url(org_b, "integration-tools/")).json() == [
        t for t in outsider.get(org_url(org_b, "integration-tools/")).json() if t["kind"] == "builtin"
    ]
    viewer = add_member(org_a.organization, "viewer")
    refused = viewer.client().patch(org_url(org_a, f"mcp-servers/{server['id']}/"), {"enabled": False}, format="json")
    assert refused.status_code == 403
    assert McpServer.objects.get().enabled


def test_a_turned_off_tool_is_not_offered_to_flows(
    org_a: Member, mcp_servers: McpServers, add_secret: Callable[..., Any]
) -> None:
    add_secret(org_a, "MCP_TOKEN", mcp_servers.token)
    server = connect(org_a, mcp_servers.streamable_url)
    changed = org_a.client().patch(
        org_url(org_a, f"mcp-servers/{server['id']}/"), {"disabled_tools": ["delete_everything"]}, format="json"
    )
    assert changed.status_code == 200
    assert [t["enabled"] for t in changed.json()["tools"] if t["name"] == "delete_everything"] == [False]
    names = {t["name"] for t in org_a.client().get(org_url(org_a, "integration-tools/")).json()}
    assert {"orders__lookup_order", "orders__calculate", "calculator"} <= names
    assert "orders__delete_everything" not in names
    unknown = org_a.client().patch(
        org_url(org_a, f"mcp-servers/{server['id']}/"), {"disabled_tools": ["nope"]}, format="json"
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "tool_not_found"


def tool_flow(tool: str, **arguments: str) -> dict[str, Any]:
    return (
        graph()
        .node("in", "chat_input")
        .node("call", "tool", tool=tool, arguments=arguments)
        .node("out", "output")
        .edge("in", "call", "message", "message")
        .edge("call", "out", "result", "value")
        .spec
    )


async def test_the_tool_call_node_calls_an_mcp_tool_and_traces_it(
    org_a: Member, mcp_servers: McpServers, add_secret: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(add_secret)(org_a, "MCP_TOKEN", mcp_servers.token)
    await db(connect)(org_a, mcp_servers.streamable_url)
    flow = await db(publish)(org_a, tool_flow("orders__lookup_order", order_id="{{message}}"))
    response = await run_flow(org_a, await db(api_key_for)(org_a), flow, "1234")
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "completed", run
    assert run["output"]["output"]["value"] == "Order 1234 is out for delivery (checked by MCP)."
    span = await Span.objects.aget(run_id=run["id"], node="call")
    calls = span.outputs["notes"]["tool_calls"]
    assert [(c["kind"], c["server"], c["name"], c["ok"]) for c in calls] == [("mcp", "orders", "lookup_order", True)]
    assert await db(rows_holding)(mcp_servers.token) == []


async def test_a_turned_off_mcp_tool_cannot_be_called(
    org_a: Member, mcp_servers: McpServers, add_secret: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(add_secret)(org_a, "MCP_TOKEN", mcp_servers.token)
    await db(connect)(org_a, mcp_servers.streamable_url, enabled=True)
    await McpServer.objects.filter(organization=org_a.organization).aupdate(disabled_tools=["delete_everything"])
    flow = await db(publish)(org_a, tool_flow("orders__delete_everything", reason="{{message}}"))
    run = (await run_flow(org_a, await db(api_key_for)(org_a), flow, "go")).json()
    assert run["status"] == "failed" and run["error_code"] == "tool_unavailable", run


async def test_an_agent_calls_an_mcp_tool(
    org_a: Member,
    mcp_servers: McpServers,
    add_secret: Callable[..., Any],
    api_key_for: Callable[..., str],
    endpoint: Callable[..., Any],
) -> None:
    await db(endpoint)(alias="agent-model", model="standin-tool")  # calls the first tool it is offered
    await db(add_secret)(org_a, "MCP_TOKEN", mcp_servers.token)
    await db(connect)(org_a, mcp_servers.streamable_url)
    spec = (
        graph()
        .node("in", "chat_input")
        .node("agent", "agent", model="agent-model", tools=["orders__calculate"], mode="native")
        .node("out", "output")
        .edge("in", "agent", "message", "task")
        .edge("agent", "out", "text", "value")
        .spec
    )
    flow = await db(publish)(org_a, spec)
    response = await run_flow(org_a, await db(api_key_for)(org_a), flow, "What is six times seven?")
    run = response.json()
    assert run["status"] == "completed", run
    assert "MCP says 6*7 = 42" in run["output_text"]
    spans = [s async for s in Span.objects.filter(run_id=run["id"])]
    noted = [c for s in spans for c in (s.outputs.get("notes") or {}).get("tool_calls", [])]
    assert [(c["kind"], c["name"], c["ok"]) for c in noted] == [("mcp", "calculate", True)]
    assert await db(rows_holding)(mcp_servers.token) == []
    assert await Run.objects.acount() == 1
