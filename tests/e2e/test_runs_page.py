"""The runs page in Chromium: runs made through the real HTTP API are listed, filtered (the
filters live in the URL and survive a reload), and one opens with its trace as a waterfall."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from apps.observability.alerts import alert_rules_evaluate
from apps.widgets.models import Conversation, Feedback, Visitor, Widget, WidgetRun
from tests.conftest import PASSWORD, Member
from tests.e2e.editor_support import sign_in
from tests.support.standin import reply_tokens

pytestmark = pytest.mark.django_db(transaction=True)


def _run(live_url: str, key: str, org: Member, flow_id: str, message: str) -> dict[str, Any]:
    response = httpx.post(
        f"{live_url}/api/v1/orgs/{org.organization.id}/flows/{flow_id}/run/",
        json={"inputs": {"message": message}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_e2e_runs_page_lists_filters_and_opens_a_trace(
    page: Any,
    live_url: str,
    org_a: Member,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    api_key_for: Callable[..., str],
) -> None:
    endpoint()
    flow = publish_flow()
    key = api_key_for(org_a)
    hours = _run(live_url, key, org_a, flow["id"], "What are your opening hours?")
    refund = _run(live_url, key, org_a, flow["id"], "Can I get a refund for my parcel?")
    widget = Widget.objects.create(organization=org_a.organization, flow_id=flow["id"], name="Help")
    visitor = Visitor.objects.create(widget=widget)
    WidgetRun.objects.create(run_id=refund["id"], widget=widget, visitor=visitor)
    Conversation.objects.create(session_id=refund["session"], widget=widget, visitor=visitor)
    Feedback.objects.create(run_id=refund["id"], widget=widget, rating=-1, comment="Not what I asked")

    sign_in(page, org_a.user.username, PASSWORD)
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(f"/o/{org_a.organization.id}/runs")
    table = page.get_by_role("table", name="Runs")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("opening hours")
    # 800 px: the page itself never scrolls sideways (the table does, inside its frame).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    page.get_by_label("Search").fill("refund")
    expect(page).to_have_url(re.compile(r"[?&]q=refund"))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Not what I asked")
    page.reload()  # the filters are in the URL
    expect(page.get_by_label("Search")).to_have_value("refund")
    expect(table.locator("tbody tr")).to_have_count(1)

    page.get_by_label("Search").fill("")
    page.get_by_label("Feedback").select_option("down")
    expect(page).to_have_url(re.compile(r"[?&]feedback=down"))
    expect(table.locator("tbody tr")).to_have_count(1)
    page.get_by_label("Feedback").select_option("")
    expect(table.locator("tbody tr")).to_have_count(2)

    # The visitor's conversation, with the thumbs-down comment next to the answer.
    page.get_by_role("tab", name="Conversations").click()
    conversations = page.get_by_role("table", name="Conversations")
    expect(conversations.locator("tbody tr")).to_have_count(2)
    page.get_by_label("Only thumbs-down").check()
    expect(page).to_have_url(re.compile(r"[?&]down=1"))
    expect(conversations.locator("tbody tr")).to_have_count(1)
    conversations.locator("tbody tr").first.click()
    transcript = page.get_by_role("list", name="Transcript")
    expect(transcript).to_contain_text("Can I get a refund for my parcel?")
    expect(transcript).to_contain_text("Not what I asked")
    page.get_by_role("button", name="All conversations").click()
    page.get_by_role("tab", name="Runs").click()

    table.locator(f'tr[data-run="{hours["id"]}"]').click()
    detail = page.get_by_role("region", name="Run")
    trace = detail.get_by_role("list", name="Trace")
    for node in ("in", "prompt", "llm", "out"):
        expect(trace.locator(f'li[data-node="{node}"]')).to_be_visible()
    expect(detail).to_contain_text("What are your opening hours?")
    expect(detail.get_by_role("link", name=re.compile("Open in editor"))).to_have_attribute(
        "href", re.compile(rf"/flows/{flow['id']}\?version=1$")
    )
    trace.locator('li[data-node="llm"] button').click()
    expect(trace.locator('li[data-node="llm"]')).to_contain_text("standin")  # its model call

    detail.get_by_role("button", name="Replay on draft").click()
    expect(page).not_to_have_url(re.compile(hours["id"]), timeout=30_000)
    expect(detail).to_contain_text("draft")
    page.get_by_role("button", name="All runs").click()
    expect(table.locator("tbody tr")).to_have_count(3)

    # An alert rule made in the page fires when the worker evaluates it, and says so there.
    page.get_by_role("tab", name="Alerts").click()
    form = page.get_by_role("form", name="New alert rule")
    form.get_by_label("Name").fill("Any spend")
    form.get_by_label("Metric").select_option("cost")
    form.get_by_label("Above").fill("0")
    form.get_by_role("button", name="Add rule").click()
    rules = page.get_by_role("table", name="Alert rules")
    expect(rules).to_contain_text("Any spend")
    assert alert_rules_evaluate() == 1
    page.reload()
    expect(rules.get_by_text("firing")).to_be_visible()
    rules.get_by_text("Any spend").click()
    expect(rules).to_contain_text("threshold 0")

    page.get_by_role("tab", name="Dashboard").click()
    expect(page.get_by_label("Totals")).to_contain_text("3")
    expect(page.get_by_role("table", name="Per flow")).to_contain_text(flow["name"])
    runs_per_day = page.get_by_role("figure", name="Runs per day")
    expect(runs_per_day.locator("canvas")).to_have_count(1)  # drawn by uPlot
    expect(runs_per_day.get_by_role("img", name=re.compile(r"Runs per day: 1 point, max 3"))).to_be_visible()
    expect(page.get_by_role("table", name="Guard hits")).to_contain_text("No guard check fired")
    # By version: the flow's versions once it is chosen, in the URL; v1 ran two of the three runs
    # (the third is the replay on the draft).
    dashboard = page.get_by_role("form", name="Dashboard range")
    dashboard.get_by_label("Flow").select_option(flow["id"])
    dashboard.get_by_label("Version").select_option(label="v1 — v1")
    expect(page).to_have_url(re.compile(r"[?&]dversion="))
    expect(runs_per_day.get_by_role("img", name=re.compile(r"Runs per day: 1 point, max 2$"))).to_be_visible()
    page.get_by_role("tab", name="Runs").click()

    table.locator(f'tr[data-run="{hours["id"]}"]').click()
    detail.get_by_role("link", name=re.compile("Open in editor")).click()  # at v1: its changes to the draft
    expect(page.get_by_test_id("diff")).to_contain_text("Changes from v1 to the draft")


def test_e2e_playground_resumes_a_run_after_a_reload(
    page: Any, org_a: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    endpoint(alias="slow", model="standin-rate-6-n-30")  # 30 tokens over 5 s
    flow = publish_flow(alias="slow")
    sign_in(page, org_a.user.username, PASSWORD)
    page.goto(f"/o/{org_a.organization.id}/flows/{flow['id']}")
    page.get_by_role("tab", name="Playground").click()
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    assistant = page.get_by_test_id("turn-assistant").last
    expect(assistant.locator(".turn__text")).to_contain_text(reply_tokens(30)[1].strip(), timeout=15_000)
    expect(assistant).to_contain_text("Running")

    page.reload()  # mid-run: the playground picks the run up again and the answer completes
    page.get_by_role("tab", name="Playground").click()
    assistant = page.get_by_test_id("turn-assistant").last
    expect(page.get_by_test_id("turn-user").last).to_have_text("hello")
    expect(assistant.get_by_test_id("run-status")).to_have_text("finished", timeout=30_000)
    text = assistant.locator(".turn__text").inner_text()
    assert " ".join(text.split()) == " ".join("".join(reply_tokens(30)).split())  # each token once, in order
    assert assistant.locator(".turn__text.markdown p").count() == 1  # rendered as Markdown, not raw

    page.reload()  # a finished run is not resumed again
    page.get_by_role("tab", name="Playground").click()
    expect(page.get_by_test_id("turn-assistant")).to_have_count(0)
