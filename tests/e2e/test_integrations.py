"""Integrations as an admin meets them (real Chromium, the real server, the test MCP server built
with the `mcp` SDK): a secret is added and never shown again, a variable is set, an MCP server is
connected with its token from that secret and its tools are listed and one turned off, and an
OpenAPI document is imported from a file with its operations to choose from; at 1280 and 800 px."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import FilePayload, Page, expect

from apps.integrations.models import McpServer, Secret, ToolSet, Variable
from tests.apps.integrations.conftest import McpServers, openapi_document
from tests.conftest import PASSWORD, Member
from tests.e2e.editor_support import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 800])
def test_admin_sets_up_secrets_variables_mcp_and_openapi_tools(
    live_url: str, org_a: Member, page: Page, mcp_servers: McpServers, width: int
) -> None:
    sign_in(page, org_a.user.username, PASSWORD)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"/o/{org_a.organization.id}/integrations")
    expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    expect(page.get_by_text("No secrets yet")).to_be_visible()

    form = page.get_by_role("form", name="Add a secret")
    form.get_by_label("Name").fill("MCP_TOKEN")
    form.get_by_label("Value").fill(mcp_servers.token)
    form.get_by_role("button", name="Add secret").click()
    secrets = page.get_by_role("table", name="Secrets")
    expect(secrets.get_by_role("row").filter(has_text="MCP_TOKEN")).to_contain_text("{{secrets.MCP_TOKEN}}")
    expect(page.get_by_text(mcp_servers.token)).to_have_count(0)  # write-only
    assert Secret.objects.filter(organization=org_a.organization, name="MCP_TOKEN").exists()

    page.get_by_role("tab", name="Variables").click()
    variable = page.get_by_role("form", name="Set a variable")
    variable.get_by_label("Name").fill("REGION")
    variable.get_by_label("Value").fill("eu-west")
    variable.get_by_role("button", name="Save variable").click()
    expect(page.get_by_role("table", name="Variables")).to_contain_text("{{vars.REGION}}")
    assert Variable.objects.get(organization=org_a.organization).value == "eu-west"

    page.get_by_role("tab", name="MCP servers").click()
    connect = page.get_by_role("form", name="Connect an MCP server")
    connect.get_by_label("Name").fill("orders")
    connect.get_by_label("URL").fill(mcp_servers.streamable_url)
    connect.get_by_label("Authentication").select_option("bearer")
    connect.get_by_label("Secret", exact=True).select_option("MCP_TOKEN")
    connect.get_by_role("button", name="Connect").click()
    card = page.get_by_role("region", name="MCP server orders")
    expect(card).to_contain_text("3 tools", timeout=20_000)
    expect(card).to_contain_text("orders__lookup_order")
    card.get_by_label("orders__delete_everything enabled").click()  # saved, then shown as saved
    expect(card.get_by_label("orders__delete_everything enabled")).not_to_be_checked()
    page.wait_for_timeout(300)
    server = McpServer.objects.get(organization=org_a.organization)
    assert (server.auth["type"], server.auth["token"]) == ("bearer", "{{secrets.MCP_TOKEN}}")
    assert server.disabled_tools == ["delete_everything"]

    page.get_by_role("tab", name="OpenAPI tools").click()
    upload = page.get_by_role("form", name="Import an OpenAPI document")
    upload.get_by_label("Name").fill("shop")
    document = json.dumps(openapi_document("https://api.shop.example"))
    payload: FilePayload = {"name": "openapi.json", "mimeType": "application/json", "buffer": document.encode()}
    upload.get_by_label("File (JSON or YAML)").set_input_files(files=[payload])
    upload.get_by_role("button", name="Import").click()
    tool_set = page.get_by_role("region", name="Tool set shop")
    expect(tool_set).to_contain_text("shop__getOrder")
    tool_set.get_by_label("shop__createOrder enabled").click()
    expect(tool_set.get_by_label("shop__createOrder enabled")).not_to_be_checked()
    page.wait_for_timeout(300)
    assert ToolSet.objects.get(organization=org_a.organization).enabled_operations == ["getOrder"]

    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width + 1, f"the page scrolls sideways at {width} px ({wide} px wide)"
