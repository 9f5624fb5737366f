"""The flows page in Chromium: create, search, duplicate, export, import, delete (confirmed)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.builder.models import Flow
from apps.tenancy.access import Actor
from apps.tenancy.models import Organization
from apps.tenancy.services import organization_create
from tests.e2e.editor_support import sign_in

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long flows passphrase 3"


@pytest.fixture
def org() -> Organization:
    user = User.objects.create_user("ola", "ola@example.test", PASSWORD)
    return organization_create(actor=Actor(user=user, api_key=None), name="Flow Works")


def test_e2e_flows_page_create_search_duplicate_export_import_delete(
    page: Any, org: Organization, tmp_path: Any
) -> None:
    sign_in(page, "ola", PASSWORD)
    page.get_by_role("button", name="New flow").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Support bot")
    dialog.get_by_label(re.compile("Start from the chat template")).check()
    dialog.get_by_role("button", name="Create").click()
    expect(page.locator(".react-flow__node")).to_have_count(4)  # the chat template
    page.get_by_role("link", name="Back to flows").click()

    table = page.get_by_role("table", name="Flows")
    expect(table).to_contain_text("Support bot")
    page.get_by_role("button", name="Duplicate Support bot").click()
    expect(table.get_by_role("row")).to_have_count(3)
    page.get_by_label("Search flows").fill("copy")
    expect(table.get_by_role("row")).to_have_count(2)
    page.get_by_label("Search flows").fill("")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export Support bot", exact=True).click()
    exported = tmp_path / "support.json"
    download_info.value.save_as(exported)
    payload = json.loads(exported.read_text())
    assert payload["format"] and len(payload["graph"]["nodes"]) == 4
    payload["name"] = "Imported bot"
    exported.write_text(json.dumps(payload))
    page.get_by_test_id("import-file").set_input_files(str(exported))
    expect(page.get_by_test_id("flows-notice")).to_contain_text("Imported “Imported bot”")
    expect(table).to_contain_text("Imported bot")

    page.get_by_role("button", name="Delete Imported bot").click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_contain_text("Delete “Imported bot”?")
    confirm.get_by_role("button", name="Delete flow").click()
    expect(table).not_to_contain_text("Imported bot")
    assert sorted(Flow.objects.filter(organization=org).values_list("name", flat=True)) == [
        "Support bot",
        "Support bot (copy)",
    ]
