"""Evaluation in Chromium: a dataset made from thumbs-down conversations (expected answers written
in the table editor), evaluations with 3 samples per item on two versions compared, and a
publish gate that refuses the draft with its report, then passes once the draft is fixed. The
evaluations run in a real huey worker against the stand-in model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from apps.widgets.models import Conversation, Feedback, Visitor, Widget, WidgetRun
from tests.conftest import PASSWORD, Member
from tests.e2e.editor_support import sign_in
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db(transaction=True)
QUESTIONS = ["Where is my parcel?", "Can I get a refund?"]


def test_e2e_evaluation_dataset_compare_and_gate(
    page: Any,
    live_url: str,
    huey_worker: None,
    org_a: Member,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    api_key_for: Callable[..., str],
) -> None:
    endpoint(alias="echo", model="standin-echo")  # the answer is the prompt: known outcomes
    flow = publish_flow(alias="echo", graph=chat_flow(template="{{question}}", model="echo"))
    key = api_key_for(org_a, role="admin")
    api = httpx.Client(
        base_url=f"{live_url}/api/v1/orgs/{org_a.organization.id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    widget = Widget.objects.create(organization=org_a.organization, flow_id=flow["id"], name="Help")
    visitor = Visitor.objects.create(widget=widget)
    for question in QUESTIONS:
        run = api.post(f"/flows/{flow['id']}/run/", json={"inputs": {"message": question}}).json()
        WidgetRun.objects.create(run_id=run["id"], widget=widget, visitor=visitor)
        Conversation.objects.get_or_create(session_id=run["session"], defaults={"widget": widget, "visitor": visitor})
        Feedback.objects.create(run_id=run["id"], widget=widget, rating=-1, comment=f"Bad answer to {question}")

    def save_draft(template: str) -> None:
        revision = api.get(f"/flows/{flow['id']}/").json()["revision"]
        graph = chat_flow(template=template, model="echo")
        assert api.put(f"/flows/{flow['id']}/draft/", json={"graph": graph, "revision": revision}).status_code == 200

    save_draft("Answer: {{question}}")  # version 2 never says the expected answer exactly
    assert api.post(f"/flows/{flow['id']}/versions/", json={"note": "v2"}).status_code == 201

    expect.set_options(timeout=20_000)  # a loaded shared machine: slower than expect's 5 s default
    sign_in(page, org_a.user.username, PASSWORD)
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(f"/o/{org_a.organization.id}/evaluation")
    page.get_by_label("New dataset name").fill("Complaints")
    page.get_by_role("button", name="Create dataset").click()
    page.get_by_role("button", name="Add thumbs-down conversations").click()
    expect(page.get_by_label("Message 2")).to_be_visible()
    messages = sorted(page.get_by_label(f"Message {i}").input_value() for i in (1, 2))
    assert messages == sorted(QUESTIONS)
    for i in (1, 2):  # the reference answer: the question itself (what version 1 says)
        page.get_by_label(f"Expected output {i}").fill(page.get_by_label(f"Message {i}").input_value())
    page.get_by_role("button", name="Save as new version").click()
    expect(page.get_by_text("Version 3")).to_be_visible()  # created, thumbs-down, edited
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    page.get_by_role("tab", name="Evaluations").click()
    for version, baseline in (("1", False), ("2", True)):
        page.get_by_label("Flow", exact=True).select_option(flow["id"])
        page.get_by_label("Version").fill(version)
        page.get_by_label("Dataset", exact=True).select_option(label="Complaints (v3)")
        page.get_by_label("Samples").fill("3")
        if baseline:
            page.get_by_label("Baseline").select_option(index=1)
        page.get_by_role("button", name="Estimate cost").click()
        expect(page.get_by_text("6 runs, about")).to_be_visible()
        page.get_by_role("button", name="Start evaluation").click()
        expect(page.get_by_text("6/6").first).to_be_visible(timeout=60_000)
        expect(page.locator("tbody .badge", has_text="completed").first).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="flow echo v2").click()
    results = page.get_by_role("region", name="Results")
    expect(results).to_contain_text("-1.000")  # every item fell from 1 to 0 against version 1
    expect(results).to_contain_text("no significant difference")  # two items cannot show significance
    page.get_by_label("Only regressions against the baseline").check()
    expect(results.locator(".eval-regressed")).to_have_count(2)

    page.get_by_role("tab", name="Gates").click()
    page.get_by_label("Gate flow").select_option(flow["id"])
    page.get_by_label("Gate dataset").select_option(label="Complaints")
    page.get_by_label("Gate threshold").fill("0.9")
    page.get_by_label("Gate samples").fill("1")
    page.get_by_label("No significant regression vs the published version").uncheck()
    page.get_by_role("button", name="Save gate").click()
    page.get_by_role("button", name="Run gate on the draft").click()
    expect(page.get_by_label("Gate report")).to_contain_text(
        "exact: mean 0.000 (at least 0.9) — failed", timeout=60_000
    )
    refused = api.post(f"/flows/{flow['id']}/versions/", json={"note": "v3"})
    assert refused.status_code == 409 and refused.json()["code"] == "gate_failed"

    save_draft("{{question}}")  # fixed
    page.get_by_role("button", name="Run gate on the draft").click()
    expect(page.get_by_label("Gate report")).to_contain_text(
        "exact: mean 1.000 (at least 0.9) — passed", timeout=60_000
    )
    assert api.post(f"/flows/{flow['id']}/versions/", json={"note": "v3"}).status_code == 201
