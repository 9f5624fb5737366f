"""The canvas editor tried as a person would, in Chromium, against the real server, database and
local model: build a flow from the palette, run it live, publish, diff, roll back, branch."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.builder.models import Flow
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Organization, Role
from apps.tenancy.services import organization_create
from tests.e2e.editor_support import connect, drop_from_palette, open_node, shot, sign_in, wait_saved
from tests.flows.graphs import chat_flow, graph

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long editor passphrase 5"


@pytest.fixture
def org(settings: Any, local_model_url: str) -> Organization:
    settings.LOCAL_MODEL_URL = local_model_url  # the builtin "local" alias of new organizations
    user = User.objects.create_user("lin", "lin@example.test", PASSWORD)
    return organization_create(actor=Actor(user=user, api_key=None), name="Canvas Co")


def _create_empty_flow(page: Any, name: str) -> None:
    page.get_by_role("button", name="New flow").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("editor")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/o/[0-9a-f-]+/flows/[0-9a-f-]+$"))


def _build_chat_flow(page: Any) -> None:
    for node_type, x, y in [("chat_input", 90, 120), ("prompt", 330, 120), ("llm", 90, 330), ("output", 330, 330)]:
        drop_from_palette(page, node_type, x, y)
        expect(page.get_by_test_id(f"node-{node_type}")).to_be_visible()
    open_node(page, "prompt")
    page.get_by_label("Template").fill("Say hello to {{message}}.")
    expect(page.locator('.react-flow__handle.target[data-nodeid="prompt"][data-handleid="message"]')).to_be_visible()
    open_node(page, "llm")
    page.get_by_label("Model").select_option("local")
    page.get_by_label("Max Tokens").fill("16")
    page.get_by_label("Temperature", exact=True).fill("0")
    connect(page, "chat_input", "message", "prompt", "message")
    connect(page, "prompt", "messages", "llm", "prompt")
    connect(page, "llm", "text", "output", "value")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    page.get_by_role("button", name="Auto-layout").click()


def test_e2e_editor_build_run_and_reload(page: Any, org: Organization) -> None:
    sign_in(page, "lin", PASSWORD)
    _create_empty_flow(page, "Hello flow")
    _build_chat_flow(page)
    wait_saved(page)
    page.get_by_role("tab", name=re.compile("Problems")).click()
    expect(page.get_by_test_id("problems")).to_contain_text("No problems")

    page.get_by_role("tab", name="Playground").click()
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    assistant = page.get_by_test_id("turn-assistant").last
    expect(assistant.get_by_test_id("run-status")).to_have_text("finished", timeout=90_000)
    assert assistant.locator(".turn__text").inner_text().strip(), "no streamed text"
    for node_id in ["chat_input", "prompt", "llm", "output"]:
        expect(page.get_by_test_id(f"node-{node_id}")).to_have_attribute("data-status", "done")
    shot(page, "canvas-after-run")
    shot(page, "playground", page.get_by_test_id("playground"))
    open_node(page, "llm")
    preview = page.get_by_test_id("node-run-preview")
    expect(preview).to_contain_text("ms")
    expect(preview).to_contain_text("out tokens")

    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    draft = Flow.objects.get(organization=org, name="Hello flow").draft
    assert sorted(n["type"] for n in draft["nodes"]) == ["chat_input", "llm", "output", "prompt"]
    assert next(n for n in draft["nodes"] if n["id"] == "prompt")["config"]["template"] == "Say hello to {{message}}."


def _flow_in_editor(page: Any, org: Organization, spec: dict[str, Any], name: str) -> Flow:
    from apps.builder.services import flow_create

    user = User.objects.get(username="lin")
    flow = flow_create(
        access=OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None)), name=name, description="", graph=spec
    )
    sign_in(page, "lin", PASSWORD)
    page.goto(f"/o/{org.id}/flows/{flow.pk}")
    expect(page.get_by_test_id("editor")).to_be_visible()
    expect(page.locator(".react-flow__edge")).to_have_count(len(spec["edges"]))
    page.get_by_role("button", name="Auto-layout").click()
    page.wait_for_timeout(500)  # the fit-view animation moves the handles
    return flow


@pytest.fixture
def plain_org() -> Organization:
    user = User.objects.create_user("lin", "lin@example.test", PASSWORD)
    return organization_create(actor=Actor(user=user, api_key=None), name="Canvas Co")


def test_e2e_editor_cycle_is_a_problem_and_publish_is_refused(page: Any, plain_org: Organization) -> None:
    flow = _flow_in_editor(page, plain_org, chat_flow(model="local"), "Loop")
    # An incompatible connection is refused with its reason (text cannot feed documents).
    connect(page, "in", "message", "llm", "context")
    expect(page.get_by_test_id("connection-refused")).to_contain_text(
        "“in” (Chat input)'s “message” gives text, but “llm” (LLM)'s “context” needs documents: "
        "put a Retrieve node between them."
    )
    expect(page.locator(".react-flow__edge")).to_have_count(3)

    open_node(page, "prompt")
    page.get_by_label("Template").fill("Question: {{question}} Earlier: {{earlier}}")
    expect(page.locator('.react-flow__handle.target[data-nodeid="prompt"][data-handleid="earlier"]')).to_be_visible()
    wait_saved(page)
    connect(page, "llm", "text", "prompt", "earlier")  # prompt -> llm -> prompt: a cycle
    expect(page.locator(".react-flow__edge")).to_have_count(4)
    wait_saved(page)
    page.get_by_role("tab", name=re.compile("Problems")).click()
    problems = page.get_by_test_id("problems")
    expect(problems.locator('[data-code="graph.cycle"]').first).to_be_visible()
    expect(page.get_by_test_id("node-llm")).not_to_have_attribute("data-issues", "0")
    problems.locator('[data-code="graph.cycle"]').first.click()
    expect(page.get_by_test_id("config-panel")).to_be_visible()

    page.get_by_role("tab", name="Versions").click()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_test_id("versions").get_by_role("alert")).to_contain_text("Publish refused")
    shot(page, "problems-cycle")
    flow.refresh_from_db()
    assert flow.published_version is None and not flow.versions.exists()


def test_e2e_editor_publish_diff_and_roll_back(page: Any, plain_org: Organization) -> None:
    flow = _flow_in_editor(page, plain_org, chat_flow(model="local"), "Versions")
    page.get_by_role("tab", name="Versions").click()
    page.get_by_label("Publish the draft").fill("first")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_test_id("published-version")).to_have_text("Published: v1")

    open_node(page, "prompt")
    page.get_by_label("Template").fill("Answer briefly: {{question}}")
    wait_saved(page)
    page.get_by_role("tab", name="Versions").click()
    page.get_by_label("Publish the draft").fill("briefer")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_test_id("published-version")).to_have_text("Published: v2")

    page.get_by_test_id("version-2").get_by_role("button", name="Diff with v1").click()
    diff = page.get_by_test_id("diff")
    expect(diff).to_contain_text("changed")
    template = diff.get_by_test_id("diff-value-template")
    expect(template.locator(".diff__old")).to_have_text("Question: {{question}}")  # old value, then new
    expect(template.locator(".diff__new")).to_have_text("Answer briefly: {{question}}")
    expect(page.get_by_test_id("node-prompt")).to_have_attribute("data-change", "changed")
    shot(page, "diff-v1-v2")

    # Rollback asks first; cancelling changes nothing.
    page.get_by_test_id("version-1").get_by_role("button", name="Roll back to v1").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Version 1 becomes the published version")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_test_id("published-version")).to_have_text("Published: v2")
    flow.refresh_from_db()
    assert flow.published_version is not None and flow.published_version.number == 2

    page.get_by_test_id("version-1").get_by_role("button", name="Roll back to v1").click()
    page.get_by_role("dialog").get_by_role("button", name="Publish v1 again").click()
    expect(page.get_by_test_id("published-version")).to_have_text("Published: v1")
    expect(page.get_by_test_id("version-1")).to_contain_text("Published")
    flow.refresh_from_db()
    assert flow.published_version is not None and flow.published_version.number == 1


def test_e2e_editor_branch_run_marks_taken_route_done_and_other_skipped(page: Any, plain_org: Organization) -> None:
    spec = (
        graph()
        .node("in", "chat_input")
        .node("route", "branch", routes=[{"id": "refund", "label": "Refund", "value": "refund"}])
        .node("refunds", "output", name="refunds")
        .node("others", "output", name="others")
        .edge("in", "route", "message", "input")
        .edge("route", "refunds", "refund", "value")
        .edge("route", "others", "default", "value")
        .spec
    )
    spec["nodes"][2]["position"] = {"x": 400, "y": -120}
    spec["nodes"][3]["position"] = {"x": 400, "y": 120}
    _flow_in_editor(page, plain_org, spec, "Branches")
    page.get_by_role("tab", name="Playground").click()
    page.get_by_label("Message").fill("I want a refund please")
    page.get_by_role("button", name="Send").click()
    assistant = page.get_by_test_id("turn-assistant").last
    expect(assistant.get_by_test_id("run-status")).to_have_text("finished", timeout=30_000)
    expect(page.get_by_test_id("node-refunds")).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("node-others")).to_have_attribute("data-status", "skipped")
    expect(page.get_by_test_id("node-route")).to_have_attribute("data-status", "done")
    shot(page, "branch-run")


def test_e2e_editor_retrieve_node_picks_a_knowledge_base(page: Any, plain_org: Organization) -> None:
    gone = "00000000-0000-4000-8000-00000000dead"  # a base deleted since the draft was saved
    spec = (
        graph()
        .node("in", "chat_input")
        .node("retrieve", "retrieve", knowledge_base=gone, top_k=3)
        .edge("in", "retrieve", "message", "query")
        .spec
    )
    flow = _flow_in_editor(page, plain_org, spec, "Retrieval")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"/api/v1/orgs/{plain_org.id}/knowledge-bases/", data={"name": "Field notes"}, headers={"X-CSRFToken": csrf}
    )
    assert response.status == 201, response.text()
    kb_id = response.json()["id"]

    open_node(page, "retrieve")
    panel = page.get_by_test_id("config-panel")
    picker = panel.get_by_label("Knowledge Base")
    expect(panel.get_by_test_id("kb-missing")).to_contain_text(gone)
    expect(picker).to_have_value(gone)
    picker.select_option(label="Field notes (0 documents)")
    expect(panel.get_by_test_id("kb-missing")).to_have_count(0)
    expect(panel.get_by_test_id("kb-not-ready")).to_be_visible()
    wait_saved(page)
    shot(page, "retrieve-knowledge-base", panel)
    flow.refresh_from_db()
    retrieve = next(n for n in flow.draft["nodes"] if n["id"] == "retrieve")
    assert retrieve["config"]["knowledge_base"] == kb_id
