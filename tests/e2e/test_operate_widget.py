"""Operating a published widget in Chromium (issue 17): a visitor chats through the widget on
another site and gives a thumbs-down with a comment; the builder finds that conversation under
Conversations ("only thumbs-down") and the run in the Runs table through its filters, and the
dashboard, at 800 px, shows the visitor among the active users and top spenders, the thumbs-down
rate as a chart, and says in words that the cache answered nothing."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.runs.models import Run
from apps.widgets.models import Feedback
from tests.conftest import PASSWORD, Member
from tests.e2e.editor_support import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A page on another origin (its own port of 127.0.0.1) embedding the widget's snippet."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    def page(snippet: str) -> str:
        (tmp_path / "shop.html").write_text(f"<!doctype html><html><body><h1>Shop</h1>{snippet}</body></html>")
        return f"{origin}/shop.html"

    page.origin = origin  # type: ignore[attr-defined]
    yield page
    server.shutdown()


def test_e2e_widget_thumbs_down_reaches_conversations_runs_and_dashboard(
    browser: Any,
    page: Any,
    live_url: str,
    org_a: Member,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    shop: Any,
) -> None:
    endpoint()
    flow = publish_flow()
    created = org_a.client().post(
        f"/api/v1/orgs/{org_a.organization.id}/widgets/",
        {"flow": flow["id"], "allowed_origins": [shop.origin], "name": "Help", "appearance": {"title": "Shop help"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    url = shop(f'<script src="{live_url}/widget.js" data-key="{created.json()["public_key"]}" async></script>')

    # The visitor: a question, the answer, a thumbs-down with a comment.
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    context.set_default_timeout(15_000)
    visitor = context.new_page()
    visitor.goto(url)
    visitor.get_by_role("button", name="Open chat").click()
    dialog = visitor.get_by_role("dialog", name="Shop help")
    dialog.get_by_role("textbox", name="Your message").fill("Where is my parcel?")
    dialog.get_by_role("textbox", name="Your message").press("Enter")
    answer = dialog.locator(".msg.assistant").last
    answer.get_by_role("button", name="Bad answer").wait_for()
    answer.get_by_role("button", name="Bad answer").click()
    comment = answer.get_by_role("textbox", name="Add a comment (optional)")
    comment.fill("It never says where")
    comment.press("Enter")
    answer.get_by_text("Thanks!").wait_for()
    context.close()
    deadline = time.monotonic() + 10
    while not Feedback.objects.filter(comment="It never says where").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    run = Run.objects.get(source="widget")

    # The builder, at 800 px.
    sign_in(page, org_a.user.username, PASSWORD)
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(f"/o/{org_a.organization.id}/runs")
    page.get_by_role("tab", name="Conversations").click()
    conversations = page.get_by_role("table", name="Conversations")
    page.get_by_label("Only thumbs-down").check()
    expect(conversations.locator("tbody tr")).to_have_count(1)
    conversations.locator("tbody tr").first.click()
    transcript = page.get_by_role("list", name="Transcript")
    expect(transcript).to_contain_text("Where is my parcel?")
    expect(transcript).to_contain_text("It never says where")
    page.get_by_role("button", name="All conversations").click()

    page.get_by_role("tab", name="Runs").click()
    table = page.get_by_role("table", name="Runs")
    page.get_by_label("Source").select_option("widget")
    page.get_by_label("Feedback").select_option("down")
    expect(page).to_have_url(re.compile(r"source=widget"))
    expect(page).to_have_url(re.compile(r"feedback=down"))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator(f'tr[data-run="{run.pk}"]')).to_contain_text("It never says where")
    page.get_by_label("Feedback").select_option("up")
    expect(page.get_by_text("No run matches these filters")).to_be_visible()

    page.get_by_role("tab", name="Dashboard").click()
    totals = page.get_by_label("Totals")
    expect(totals).to_contain_text("0% up, 100% down (1 rated)")
    top = page.get_by_role("table", name="Top users by cost")
    expect(top).to_contain_text("of “Help”")
    expect(top).to_contain_text("Widget visitor")
    page.get_by_role("form", name="Dashboard range").locator("select").first.select_option("1")  # today, per hour
    thumbs = page.get_by_role("figure", name="Thumbs-down rate (%)")
    expect(thumbs.locator("canvas")).to_have_count(1)
    expect(thumbs.get_by_role("img", name=re.compile(r"max 100%"))).to_be_visible()
    users = page.get_by_role("figure", name="Active users per hour")
    expect(users.get_by_role("img", name=re.compile(r"max 1$"))).to_be_visible()
    saved = page.get_by_role("figure", name="Saved by the cache")
    expect(saved).to_contain_text("No answers from the cache in this range.")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
