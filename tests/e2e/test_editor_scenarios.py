"""Issue 20's browser scenarios, built on the canvas as a person would at 1280 px and at 800 px
(nodes from the palette, or from its drawer when narrow), then run in the playground against the
stand-in model server: an extract -> branch-on-field flow, and an agent flow whose tool comes
from an MCP server (built with the official `mcp` SDK, started by tests/e2e/conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.builder.models import Flow
from apps.builder.services import flow_create
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Organization, Role
from apps.tenancy.services import organization_create
from tests.apps.integrations.conftest import McpServers
from tests.e2e.editor_support import connect, drop_from_palette, open_node, shot, sign_in, wait_saved

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long scenario passphrase 9"
WIDTHS = [1280, 800]
# Where each node is dropped (canvas pixels), per window width: clear of the drawer when narrow.
EXTRACT_AT = {
    1280: {"chat_input": (120, 80), "structured_output": (380, 80), "branch": (620, 80), "output": (380, 380)},
    800: {"chat_input": (430, 70), "structured_output": (660, 70), "branch": (430, 240), "output": (430, 410)},
}
SECOND_OUTPUT_AT = {1280: (620, 380), 800: (660, 410)}
AGENT_AT = {
    1280: {"chat_input": (120, 80), "agent": (380, 80), "output": (620, 80)},
    800: {"chat_input": (430, 70), "agent": (660, 70), "output": (430, 260)},
}


@pytest.fixture
def org() -> Organization:
    user = User.objects.create_user("kim", "kim@example.test", PASSWORD)
    return organization_create(actor=Actor(user=user, api_key=None), name="Scenario Co")


def _post(page: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(path, data=body, headers={"X-CSRFToken": csrf})
    assert response.status == 201, response.text()
    return dict(response.json())


def _open_empty(page: Any, org: Organization, name: str, width: int) -> Flow:
    user = User.objects.get(username="kim")
    flow = flow_create(
        access=OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None)),
        name=name,
        description="",
        graph={"nodes": [], "edges": []},
    )
    page.set_viewport_size({"width": width, "height": 720 if width > 1000 else 1100})
    page.goto(f"/o/{org.id}/flows/{flow.pk}")
    expect(page.get_by_test_id("editor")).to_be_visible()
    return flow


def _add(page: Any, width: int, node_type: str, at: tuple[int, int], node_id: str | None = None) -> None:
    """From the palette, or at 800 px from the drawer that 'Add node' opens."""
    if width < 1000:
        page.get_by_role("toolbar", name="Canvas tools").get_by_role("button", name="Add node").click()
        expect(page.get_by_test_id("palette")).to_be_visible()
    drop_from_palette(page, node_type, *at)
    expect(page.get_by_test_id(f"node-{node_id or node_type}")).to_be_visible()
    expect(page.get_by_test_id("palette")).to_have_count(0 if width < 1000 else 1)


def _run(page: Any, message: str) -> Any:
    page.get_by_role("tab", name="Playground").click()
    page.get_by_label("Message").fill(message)
    page.get_by_role("button", name="Send").click()
    assistant = page.get_by_test_id("turn-assistant").last
    expect(assistant.get_by_test_id("run-status")).to_have_text("finished", timeout=30_000)
    return assistant


@pytest.mark.parametrize("width", WIDTHS)
def test_e2e_editor_builds_and_runs_an_extract_then_branch_on_a_field_flow(
    page: Any, org: Organization, standin_url: str, width: int
) -> None:
    sign_in(page, "kim", PASSWORD)
    _post(
        page,
        f"/api/v1/orgs/{org.id}/models/",
        {"alias": "echo", "name": "echo", "kind": "chat", "base_url": standin_url, "model": "standin-echo"},
    )
    flow = _open_empty(page, org, f"Extract and route {width}", width)
    for node_type, at in EXTRACT_AT[width].items():
        _add(page, width, node_type, at)
    _add(page, width, "output", SECOND_OUTPUT_AT[width], "output_2")

    # The extractor: a model and one field, `intent`, that becomes an output port.
    open_node(page, "structured_output")
    panel = page.get_by_test_id("config-panel")
    panel.get_by_label("Model").select_option("echo")
    panel.get_by_role("button", name="Add field").click()
    panel.get_by_label("Field 1 name").fill("intent")
    panel.get_by_label("Field 1 allowed values").fill("refund, other")
    expect(
        page.locator('.react-flow__handle.source[data-nodeid="structured_output"][data-handleid="intent"]')
    ).to_be_attached()

    # The branch: a route taken when the field equals "refund"; anything else goes to default.
    open_node(page, "branch")
    panel.get_by_role("button", name="Add route").click()
    panel.get_by_label("Kind").select_option("equals")
    panel.get_by_label("Value", exact=True).fill("refund")
    expect(page.locator('.react-flow__handle.source[data-nodeid="branch"][data-handleid="route_1"]')).to_be_attached()

    connect(page, "chat_input", "message", "structured_output", "text")
    connect(page, "structured_output", "intent", "branch", "input")
    connect(page, "branch", "route_1", "output", "value")
    connect(page, "branch", "default", "output_2", "value")
    expect(page.locator(".react-flow__edge")).to_have_count(4)
    wait_saved(page)
    page.get_by_role("tab", name=re.compile("Problems")).click()
    expect(page.get_by_test_id("problems")).to_contain_text("No problems")
    shot(page, f"scenario-extract-branch-{width}")

    flow.refresh_from_db()
    edges = {(e["source"], e["source_port"], e["target"], e["target_port"]) for e in flow.draft["edges"]}
    assert ("structured_output", "intent", "branch", "input") in edges
    extractor = next(n for n in flow.draft["nodes"] if n["id"] == "structured_output")
    assert extractor["config"]["json_schema"]["properties"]["intent"]["enum"] == ["refund", "other"]

    # The stand-in echoes the message: the extractor reads {"intent": "refund"} and the branch
    # takes the refund route.
    _run(page, '{"intent": "refund"}')
    expect(page.get_by_test_id("node-structured_output")).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("node-output")).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("node-output_2")).to_have_attribute("data-status", "skipped")


@pytest.mark.parametrize("width", WIDTHS)
def test_e2e_editor_builds_and_runs_an_agent_flow_with_an_mcp_tool(
    page: Any, org: Organization, standin_url: str, mcp_servers: McpServers, width: int
) -> None:
    sign_in(page, "kim", PASSWORD)
    base = f"/api/v1/orgs/{org.id}"
    _post(page, f"{base}/secrets/", {"name": "MCP_TOKEN", "value": mcp_servers.token})
    server = _post(
        page,
        f"{base}/mcp-servers/",
        {
            "name": "orders",
            "url": mcp_servers.streamable_url,
            "transport": "streamable_http",
            "auth": {"type": "bearer", "token": "{{secrets.MCP_TOKEN}}"},
        },
    )
    assert "calculate" in {tool["name"] for tool in server["tools"]}, server
    # standin-tool calls the first tool it is offered with {"expression": "6*7"}, then answers with its result.
    _post(
        page,
        f"{base}/models/",
        {"alias": "tooler", "name": "tooler", "kind": "chat", "base_url": standin_url, "model": "standin-tool"},
    )
    flow = _open_empty(page, org, f"Agent {width}", width)
    for node_type, at in AGENT_AT[width].items():
        _add(page, width, node_type, at)

    open_node(page, "agent")
    panel = page.get_by_test_id("config-panel")
    panel.get_by_label("Model").select_option("tooler")
    tools = panel.get_by_label("Tools", exact=True)
    expect(panel).to_contain_text("orders__calculate")  # the organization's MCP tools are offered
    tools.fill("orders__calculate")
    connect(page, "chat_input", "message", "agent", "task")
    connect(page, "agent", "text", "output", "value")
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    wait_saved(page)
    page.get_by_role("tab", name=re.compile("Problems")).click()
    expect(page.get_by_test_id("problems")).to_contain_text("No problems")

    page.get_by_role("tab", name="Uses").click()
    tool = page.get_by_test_id("uses-tools-orders__calculate")
    expect(tool).to_contain_text("MCP")
    expect(tool).to_contain_text("“agent” (Agent)")
    shot(page, f"scenario-agent-mcp-{width}")
    flow.refresh_from_db()
    agent = next(n for n in flow.draft["nodes"] if n["id"] == "agent")
    assert agent["config"]["tools"] == ["orders__calculate"]

    assistant = _run(page, "What is six times seven?")
    expect(assistant.locator(".turn__text")).to_contain_text("MCP says 6*7 = 42")
    expect(page.get_by_test_id("node-agent")).to_have_attribute("data-status", "done")
