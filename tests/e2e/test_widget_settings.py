"""The Widgets page as an editor uses it: publish a flow as a widget, copy the snippet, see the
live preview (the hosted chat in a frame) answer, and the analytics count it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Member

pytestmark = pytest.mark.django_db(transaction=True)


def test_widget_settings_page_creates_a_widget_with_snippet_preview_and_analytics(
    page: Any, live_url: str, org_a: Member, endpoint: Any, publish_flow: Any
) -> None:
    endpoint(alias="fast", model="standin-rate-0-n-3")
    publish_flow(alias="fast")
    user: User = org_a.user
    page.goto("/login")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Widgets").click()
    page.get_by_role("button", name="New widget").click()
    form = page.get_by_role("form", name="New widget")
    form.get_by_label("Published flow").select_option(label="flow fast (v1)")
    form.get_by_label("Allowed websites").fill("https://shop.example.com")
    form.get_by_role("button", name="Create widget").click()

    snippet = page.get_by_label("Embed snippet")
    expect(snippet).to_contain_text(f'<script src="{live_url}/widget.js" data-key="wpk_')
    expect(page.get_by_role("textbox", name="Allowed websites")).to_have_value("https://shop.example.com")

    preview = page.frame_locator("iframe[title='Widget preview']")
    preview.get_by_role("textbox", name="Your message").fill("hello")
    preview.get_by_role("textbox", name="Your message").press("Enter")
    expect(preview.locator(".msg.assistant").filter(has_text="charlie")).to_be_visible()

    page.reload()  # analytics are read again
    messages = page.get_by_text("Messages", exact=True).locator("xpath=..")
    expect(messages).to_contain_text("1")
