"""Tried as a person would: sign in, look around the shell, manage API keys, switch organization."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.tenancy.access import Actor
from apps.tenancy.models import ApiKey
from apps.tenancy.services import organization_create

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long demo passphrase 7"


@pytest.fixture
def owner() -> User:
    user = User.objects.create_user("ada", "ada@example.test", PASSWORD)
    organization_create(actor=Actor(user=user, api_key=None), name="Analytical Engines")
    return user


def _sign_in(page: Any, username: str = "ada", password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_e2e_sign_in_shows_shell_with_empty_states(page: Any, owner: User) -> None:
    _sign_in(page)
    nav = page.get_by_role("navigation", name="Main")
    for name in ["Flows", "Knowledge", "Models", "Widgets", "Runs", "Settings"]:
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(page.get_by_role("button", name="Organization")).to_contain_text("Analytical Engines")
    for name in ["Knowledge", "Models", "Widgets", "Runs", "Flows"]:
        nav.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        expect(page).to_have_url(re.compile(f"/o/[0-9a-f-]+/{name.lower()}"))
    page.reload()
    expect(page.get_by_role("heading", name="Flows", exact=True)).to_be_visible()


def test_e2e_bad_password_shows_error(page: Any, owner: User) -> None:
    _sign_in(page, password="wrong password")
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password")
    expect(page).to_have_url(re.compile("/login"))


def test_e2e_create_api_key_in_settings_and_use_it(page: Any, owner: User, live_url: str) -> None:
    _sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API keys").click()
    page.get_by_role("button", name="Create API key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("ci deploy")
    dialog.get_by_role("button", name="Create").click()
    secret = page.get_by_test_id("new-api-key")
    expect(secret).to_contain_text("trl_")
    raw = secret.inner_text().strip()
    key = ApiKey.objects.get(name="ci deploy")
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text="ci deploy")).to_contain_text(key.prefix)
    response = httpx.get(
        f"{live_url}/api/v1/orgs/{key.organization_id}/members/", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 200
    assert [m["user"]["username"] for m in response.json()] == ["ada"]


def test_e2e_members_page_lists_owner_and_adding_invites(page: Any, owner: User) -> None:
    User.objects.create_user("grace", "grace@example.test", PASSWORD)
    _sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Members").click()
    expect(page.get_by_role("row").filter(has_text="ada@example.test")).to_be_visible()
    page.get_by_role("button", name="Add member").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email").fill("grace@example.test")
    dialog.get_by_role("button", name="Create invitation").click()
    # An invitation, not a membership: grace joins when she accepts it (security review, finding 4).
    expect(page.get_by_test_id("invite-link")).to_contain_text("/invite?token=")
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("row").filter(has_text="grace@example.test")).to_be_visible()


def test_e2e_organization_switcher_creates_and_switches(page: Any, owner: User) -> None:
    _sign_in(page)
    switcher = page.get_by_role("button", name="Organization")
    expect(switcher).to_contain_text("Analytical Engines")
    switcher.click()
    page.get_by_role("menuitem", name=re.compile("New organization")).click()
    page.get_by_label(re.compile("Name")).fill("Difference Engines")
    page.get_by_role("button", name=re.compile("^Create")).click()
    expect(page.get_by_role("button", name="Organization")).to_contain_text("Difference Engines")
