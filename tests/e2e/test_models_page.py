"""The Models page as an admin uses it, on the whole stack (Chromium, uvicorn, PostgreSQL, the
OpenAI stand-in as the provider): add an endpoint from a preset-less URL with its model fetched
from the server, test it (a streamed answer, TTFT, tokens/s, cost), edit it, remove it; a viewer
sees the models read-only; the page holds at 800 px."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.builder.services import flow_create
from apps.serving.models import ModelBudget, ModelEndpoint
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Membership, Organization, Role
from apps.tenancy.services import organization_create

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long models passphrase 9"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "models"


def _sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=30_000)


def _eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """The server answers before its process-side connection work settles; read until it shows."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def admin_org() -> Organization:
    user = User.objects.create_user("ada", "ada@example.test", PASSWORD)
    return organization_create(actor=Actor(user=user, api_key=None), name="Ada Labs")


def test_e2e_models_page_add_test_edit_remove(page: Any, admin_org: Organization, standin_url: str) -> None:
    owner = OrgAccess(admin_org, Role.OWNER, Actor(user=User.objects.get(username="ada"), api_key=None))
    flow_create(access=owner, name="Support bot")
    _sign_in(page, "ada")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    table = page.get_by_role("table", name="Model endpoints")
    expect(table.locator('tr[data-alias="local"]')).to_contain_text("2k")  # the local model's window
    _shot(page, "1-models")

    page.get_by_role("button", name="Add model").first.click()
    dialog = page.get_by_role("dialog", name="Add model")
    dialog.get_by_label("Provider").select_option(label="Any OpenAI-compatible URL")
    dialog.get_by_label("Base URL").fill(standin_url)
    dialog.get_by_role("button", name="Fetch models").click()
    expect(dialog.get_by_text("1 model on this server.")).to_be_visible()
    expect(dialog.get_by_label("Model")).to_have_value("standin")  # the only one: picked
    expect(dialog.get_by_label("Alias")).to_have_value("standin")
    dialog.get_by_label("Price / 1k input").fill("0.5")
    dialog.get_by_label("Price / 1k output").fill("1.5")
    dialog.get_by_label("Context window (tokens)").fill("8192")
    dialog.get_by_label("Add a fallback").select_option("local")
    _shot(page, "2-add-dialog")
    dialog.get_by_role("button", name="Add model").click()
    expect(dialog).to_be_hidden()
    row = table.locator('tr[data-alias="standin"]')
    expect(row).to_contain_text("8.2k")
    expect(row).to_contain_text("then local")
    stored = ModelEndpoint.objects.get(organization=admin_org, alias="standin")
    assert (stored.model, stored.context_window, stored.fallbacks) == ("standin", 8192, ["local"])

    row.get_by_role("button", name="Test standin").click()
    test = page.get_by_role("region", name="Test prompt")
    expect(test.get_by_label("Model")).to_have_value(str(stored.pk))
    test.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("test-answer")).to_contain_text("alpha bravo", timeout=15_000)
    figures = page.get_by_test_id("test-figures")
    expect(figures).to_contain_text("Time to first token")
    expect(figures).to_contain_text(" ms")
    expect(figures).to_contain_text("Tokens / s")
    expect(figures).to_contain_text("$")
    _shot(page, "3-tested")

    row.get_by_role("button", name="Edit standin").click()
    edit = page.get_by_role("dialog", name="Edit standin")
    edit.get_by_label("Display name").fill("Stand-in provider")
    edit.get_by_text("Timeouts, retries and cache").click()
    edit.get_by_label("Retries").fill("2")
    edit.get_by_role("button", name="Save").click()
    expect(edit).to_be_hidden()
    expect(row).to_contain_text("Stand-in provider")
    stored.refresh_from_db()
    assert (stored.name, stored.max_retries) == ("Stand-in provider", 2)

    page.set_viewport_size({"width": 800, "height": 900})
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at 800 px"
    _shot(page, "4-at-800px")

    row.get_by_role("button", name="Remove standin").click()
    confirm = page.get_by_role("dialog", name="Remove standin")
    confirm.get_by_role("button", name="Remove").click()
    expect(row).to_have_count(0)
    assert _eventually(lambda: not ModelEndpoint.objects.filter(organization=admin_org, alias="standin").exists())

    page.get_by_role("tab", name="Deployments").click()
    expect(page.get_by_role("heading", name="Deployments")).to_be_visible()
    expect(page.get_by_role("heading", name="Model store")).to_be_visible()
    page.get_by_role("button", name="Deploy a model").first.click()
    deploy = page.get_by_role("dialog", name="Deploy a model")
    expect(deploy.get_by_label("Port")).to_have_value("")  # blank: the server picks a free port
    expect(deploy.get_by_label("Port")).to_have_attribute("placeholder", "automatic")
    deploy.get_by_label("Context window (tokens)").fill("8")
    expect(deploy.get_by_text("Engine arguments")).to_be_visible()
    expect(deploy.get_by_role("button", name="Deploy")).to_be_disabled()  # no model chosen yet
    _shot(page, "4b-deploy-dialog")
    deploy.get_by_role("button", name="Cancel").click()

    page.get_by_role("tab", name="Usage").click()
    expect(page.get_by_test_id("spend")).to_contain_text("$")
    calls = page.get_by_role("table", name="Model calls")
    expect(calls).to_contain_text("standin")  # the test prompt's call, in the ledger
    expect(page.get_by_test_id("cache-hits")).to_contain_text("0 of 1 calls")
    page.get_by_role("group", name="Filters").get_by_label("Flow").select_option(label="Support bot")
    expect(page.get_by_text("No model calls")).to_be_visible()  # the test prompt ran no flow

    budgets = page.get_by_role("region", name="Budgets per flow and widget")
    expect(budgets.get_by_text("No flow or widget has its own budget")).to_be_visible()
    form = budgets.get_by_role("form", name="Set a budget")
    form.get_by_label("Flow or widget").select_option(label="Support bot")
    form.get_by_label("Monthly budget (money)").fill("5")
    form.get_by_role("button", name="Set budget").click()
    item = budgets.get_by_role("list", name="Budgets").get_by_role("listitem")
    expect(item).to_contain_text("Support bot")
    expect(item.get_by_test_id("budget-spend")).to_contain_text("of $5.00")
    expect(item.get_by_role("meter", name="Money budget of Support bot used")).to_be_visible()
    budget = ModelBudget.objects.get(organization=admin_org)
    assert (budget.flow_id is not None, budget.monthly_cost_budget) == (True, Decimal(5))
    _shot(page, "5-usage")


def test_e2e_models_page_is_read_only_for_viewers(page: Any, admin_org: Organization) -> None:
    viewer = User.objects.create_user("vic", "vic@example.test", PASSWORD)
    Membership.objects.create(organization=admin_org, user=viewer, role=Role.VIEWER)
    _sign_in(page, "vic")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    table = page.get_by_role("table", name="Model endpoints")
    expect(table.locator('tr[data-alias="local"]')).to_be_visible()
    expect(page.get_by_text("Admins add and change models")).to_be_visible()
    expect(page.get_by_role("button", name="Add model")).to_have_count(0)
    expect(page.get_by_role("button", name="Edit local")).to_have_count(0)
    expect(page.get_by_role("button", name="Remove local")).to_have_count(0)
    page.get_by_role("tab", name="Usage").click()
    expect(page.get_by_role("region", name="Budgets per flow and widget")).to_be_visible()
    expect(page.get_by_role("form", name="Set a budget")).to_have_count(0)
