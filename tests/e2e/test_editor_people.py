"""The editor for people, in Chromium against the real server and database: a drop lands under
the cursor, fit keeps labels readable, at 800 px the palette is a drawer and the toolbar stays,
and problems read as sentences that name nodes by their label, all shown at once."""

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
from tests.e2e.editor_support import connect, drop_from_palette, shot, sign_in, wait_saved
from tests.flows.graphs import graph

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long editor passphrase 7"
MIN_FIT_ZOOM = 0.5  # frontend/src/editor/viewport.ts


@pytest.fixture
def org() -> Organization:
    user = User.objects.create_user("ada", "ada@example.test", PASSWORD)
    return organization_create(actor=Actor(user=user, api_key=None), name="People Co")


def _open(
    page: Any, org: Organization, spec: dict[str, Any], name: str, *, first: bool = True, width: int = 1280
) -> Flow:
    user = User.objects.get(username="ada")
    flow = flow_create(
        access=OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None)), name=name, description="", graph=spec
    )
    if first:
        sign_in(page, "ada", PASSWORD)  # at 1280 px: sign_in looks for the side navigation
    page.set_viewport_size({"width": width, "height": 900 if width < 1000 else 720})
    page.goto(f"/o/{org.id}/flows/{flow.pk}")
    expect(page.get_by_test_id("editor")).to_be_visible()
    expect(page.locator(".react-flow__node")).to_have_count(len(spec["nodes"]))
    return flow


def _zoom(page: Any) -> float:
    transform = page.locator(".react-flow__viewport").get_attribute("style") or ""
    found = re.search(r"scale\(([\d.]+)\)", transform)
    assert found, transform
    return float(found.group(1))


def _under(page: Any, node_id: str, x: float, y: float) -> None:
    """The node's box holds the canvas point (x, y) where it was dropped."""
    canvas = page.get_by_test_id("canvas").bounding_box()
    box = page.get_by_test_id(f"node-{node_id}").bounding_box()
    assert canvas and box
    px, py = canvas["x"] + x, canvas["y"] + y
    assert box["x"] <= px <= box["x"] + box["width"], (node_id, box, px)
    assert box["y"] <= py <= box["y"] + box["height"], (node_id, box, py)


def test_e2e_editor_drop_lands_under_the_cursor_and_fit_keeps_labels_readable(page: Any, org: Organization) -> None:
    flow = _open(page, org, {"nodes": [], "edges": []}, "Drops")
    # The first node on an empty canvas too (a queued fit used to centre it).
    for node_type, x, y in [("chat_input", 140, 110), ("llm", 400, 380), ("output", 620, 130)]:
        drop_from_palette(page, node_type, x, y)
        expect(page.get_by_test_id(f"node-{node_type}")).to_be_visible()
        page.wait_for_timeout(300)
        _under(page, node_type, x, y)
    wait_saved(page)
    flow.refresh_from_db()
    assert sorted(n["type"] for n in flow.draft["nodes"]) == ["chat_input", "llm", "output"]

    # A long chain: fitting it whole would need ~0.1; fit stops at the readable minimum and the
    # nodes turn compact, their titles still at least 12 px on screen.
    chain = graph().node("in", "chat_input")
    previous, port = "in", "message"
    for i in range(24):
        chain.node(f"step{i}", "prompt", template="{{x}}")
        chain.edge(previous, f"step{i}", port, "x")
        previous, port = f"step{i}", "text"
    chain.node("out", "output").edge(previous, "out", port, "value")
    _open(page, org, chain.spec, "Long chain", first=False)
    for button in ("Auto-layout", "Fit"):
        page.get_by_role("button", name=button, exact=True).click()
        page.wait_for_timeout(600)
        assert _zoom(page) >= MIN_FIT_ZOOM - 1e-6, (button, _zoom(page))
    assert _zoom(page) < 0.7
    expect(page.get_by_test_id("node-step12")).to_have_attribute("data-compact", "true")
    title = page.get_by_test_id("node-step12").locator(".fnode__title").bounding_box()
    assert title and title["height"] >= 12, title
    shot(page, "fit-readable")
    # Zoomed in again, nodes show their ports' names.
    page.get_by_test_id("canvas").hover()
    for _ in range(6):
        page.mouse.wheel(0, -400)
    page.wait_for_timeout(400)
    expect(page.get_by_test_id("node-step12")).to_have_attribute("data-compact", "false")


def test_e2e_editor_at_800px_adds_nodes_from_the_drawer_and_keeps_the_toolbar(page: Any, org: Organization) -> None:
    flow = _open(page, org, {"nodes": [], "edges": []}, "Narrow", width=800)
    toolbar = page.get_by_role("toolbar", name="Canvas tools")
    for name in ("Add node", "Undo", "Redo", "Delete", "Auto-layout", "Fit"):
        expect(toolbar.get_by_role("button", name=name, exact=True)).to_be_in_viewport()
    expect(page.get_by_test_id("palette")).to_have_count(0)
    hint = page.get_by_text("Select a node to configure it.")
    expect(hint).to_contain_text("“Add node” in the toolbar")
    expect(hint).not_to_contain_text("palette")

    # Click an item: the node is added and the drawer closes.
    toolbar.get_by_role("button", name="Add node").click()
    drawer = page.get_by_test_id("palette")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_role("searchbox", name="Search nodes")).to_be_focused()
    drawer.get_by_test_id("palette-chat_input").click()
    expect(page.get_by_test_id("node-chat_input")).to_be_visible()
    expect(drawer).to_have_count(0)

    # Drag from the drawer: the node lands under the cursor, the drawer closes.
    toolbar.get_by_role("button", name="Add node").click()
    canvas = page.get_by_test_id("canvas").bounding_box()
    assert canvas and canvas["width"] > 600, canvas
    x, y = canvas["width"] - 150, min(canvas["height"] - 60, 320)
    drop_from_palette(page, "output", x, y)
    expect(page.get_by_test_id("node-output")).to_be_visible()
    expect(page.get_by_test_id("palette")).to_have_count(0)
    page.wait_for_timeout(300)
    _under(page, "output", x, y)

    # Escape closes the drawer without adding anything.
    toolbar.get_by_role("button", name="Add node").click()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("palette")).to_have_count(0)

    connect(page, "chat_input", "message", "output", "value")
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    wait_saved(page)
    page.get_by_role("tab", name=re.compile("Problems")).click()
    expect(page.get_by_test_id("problems")).to_contain_text("No problems")
    shot(page, "narrow-800")
    flow.refresh_from_db()
    assert sorted(n["type"] for n in flow.draft["nodes"]) == ["chat_input", "output"]
    assert [(e["source"], e["target"]) for e in flow.draft["edges"]] == [("chat_input", "output")]


def test_e2e_editor_problems_read_as_sentences_all_at_once_and_uses_are_listed(page: Any, org: Organization) -> None:
    spec = (
        graph()
        .node("in", "chat_input")
        .node("prompt", "prompt", template="Question: {{question}} Earlier: {{earlier}}")
        .node("llm", "llm", model="", system_prompt="Region {{vars.REGION}}; key {{secrets.CRM_TOKEN}}")
        .node("out", "output")
        .edge("in", "prompt", "message", "question")
        .edge("prompt", "llm", "messages", "prompt")
        .edge("llm", "out", "text", "value")
        .edge("llm", "prompt", "text", "earlier")  # a cycle through the LLM that also lacks a model
        .spec
    )
    spec["nodes"][2]["label"] = "Answer"
    spec["nodes"][0]["label"] = "Question"
    _open(page, org, spec, "Problems")
    page.get_by_role("tab", name=re.compile("Problems")).click()
    problems = page.get_by_test_id("problems")
    expect(problems).to_contain_text("“Answer” (LLM) needs a model: pick one in its settings.")
    expect(problems.locator('[data-code="graph.cycle"]')).to_have_count(2)
    expect(problems).to_contain_text("“Answer” (LLM) is on a cycle of connections with “prompt” (Prompt template)")
    expect(problems).not_to_contain_text("String should have")
    shot(page, "problems-for-people")
    problems.locator('[data-code="node.missing_config"]').click()
    expect(page.get_by_test_id("config-panel")).to_be_visible()

    # A refused connection says which one and what to put between.
    page.get_by_role("button", name="Auto-layout").click()
    page.wait_for_timeout(500)
    connect(page, "in", "message", "llm", "context")
    expect(page.get_by_test_id("connection-refused")).to_contain_text(
        "“Question” (Chat input)'s “message” gives text, but “Answer” (LLM)'s “context” needs documents: "
        "put a Retrieve node between them."
    )

    page.get_by_role("tab", name="Uses").click()
    uses = page.get_by_test_id("flow-uses")
    expect(uses.get_by_test_id("uses-variables")).to_contain_text("REGION")
    expect(uses.get_by_test_id("uses-secrets")).to_contain_text("CRM_TOKEN")
    expect(uses.get_by_test_id("uses-secrets")).to_contain_text("“Answer” (LLM)")
    expect(uses.get_by_test_id("uses-tools")).to_contain_text("No tools")
