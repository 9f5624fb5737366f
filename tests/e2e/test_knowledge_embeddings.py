"""A knowledge base on an embedding endpoint, as a person uses it: Chromium, uvicorn, the real huey
worker, PostgreSQL + pgvector, and a real OpenAI-compatible embeddings server on 127.0.0.1
(MiniLM vectors padded to 768 dimensions, tests/support/embedding_server.py).

The person picks the endpoint's model (its size shown) when creating the base, uploads, searches,
then re-embeds the base back onto the built-in model and follows the job's progress to the switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.knowledge.models import Chunk, KnowledgeBase, ReembedJob, ReembedStatus
from apps.serving.models import ModelKind
from apps.serving.services import model_endpoint_create
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import organization_create
from tests.apps.knowledge import files

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long embedding passphrase 5"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "knowledge-embeddings"
INGEST_TIMEOUT_MS = 240_000


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def owner(embedding_server: Any) -> OrgAccess:
    user = User.objects.create_user("ada", "ada@example.test", PASSWORD)
    actor = Actor(user=user, api_key=None)
    access = OrgAccess(organization_create(actor=actor, name="Polar Office"), Role.OWNER, actor)
    model_endpoint_create(
        access=access,
        alias="wide",
        name="Wide MiniLM",
        kind=ModelKind.EMBEDDING,
        base_url=embedding_server.url,
        model="minilm-768",
    )
    return access


def test_e2e_base_on_an_embedding_endpoint_then_reembedded_onto_the_builtin_model(
    page: Any, owner: OrgAccess, huey_worker: None, embedding_server: Any
) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=30_000)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    page.set_viewport_size({"width": 800, "height": 900})  # the page works at 800 px (the nav folds there)

    page.get_by_role("button", name="New knowledge base").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Polar guide")
    model = dialog.get_by_role("combobox", name="Embedding model")
    expect(model.locator("option", has_text="wide — Wide MiniLM · 768 dimensions")).to_have_count(1, timeout=30_000)
    expect(
        model.locator("option", has_text="all-MiniLM-L6-v2 (built in, on this server) · 384 dimensions")
    ).to_have_count(1)
    model.select_option("wide")
    _shot(page, "1-create-on-endpoint")
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Polar guide")).to_be_visible()
    card = page.get_by_role("region", name="Embedding model")
    expect(card).to_contain_text("wide · 768 dimensions")

    before = embedding_server.texts
    page.get_by_test_id("dropzone").locator("input[type=file]").set_input_files(
        [
            {"name": "permits.md", "mimeType": "text/markdown", "buffer": files.markdown_bytes(files.PASSAGES["pdf"])},
            {"name": "hives.md", "mimeType": "text/markdown", "buffer": files.markdown_bytes(files.PASSAGES["docx"])},
        ]
    )
    documents = page.get_by_role("table", name="Documents")
    for name in ("permits.md", "hives.md"):
        expect(documents.locator(f'tr[data-document="{name}"]').get_by_text("ready", exact=True)).to_be_visible(
            timeout=INGEST_TIMEOUT_MS
        )
    assert embedding_server.texts > before  # the worker embedded the chunks through the endpoint
    knowledge_base = KnowledgeBase.objects.get(organization=owner.organization)
    assert set(Chunk.objects.filter(knowledge_base=knowledge_base).values_list("dims", flat=True)) == {768}

    page.get_by_label("Question", exact=True).fill("How much is the aurora permit?")
    page.get_by_role("button", name="Search").click()
    first = page.get_by_role("list", name="Results").get_by_role("listitem").first
    expect(first).to_contain_text("permits.md", timeout=60_000)
    expect(first).to_contain_text("forty two crowns")
    _shot(page, "2-searched-on-endpoint")

    card.get_by_role("button", name="Re-embed with another model…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox", name="New model").select_option("local")
    dialog.get_by_role("button", name="Start re-embedding").click()
    job = card.get_by_role("status", name="Re-embed job")
    expect(job).to_contain_text("wide → local (384 dimensions)")
    expect(card.get_by_role("progressbar", name="Re-embed progress")).to_be_visible()
    _shot(page, "3-reembedding")
    expect(job).to_contain_text("Switched", timeout=INGEST_TIMEOUT_MS)  # the worker loads MiniLM first
    expect(card).to_contain_text("all-MiniLM-L6-v2 (built in) · 384 dimensions")
    _shot(page, "4-switched")
    knowledge_base.refresh_from_db()
    assert (knowledge_base.embedding_model, knowledge_base.embedding_dims) == ("local", 384)
    assert set(Chunk.objects.filter(knowledge_base=knowledge_base).values_list("dims", flat=True)) == {384}
    assert ReembedJob.objects.get(knowledge_base=knowledge_base).status == ReembedStatus.DONE

    page.get_by_role("button", name="Search").click()
    expect(first).to_contain_text("permits.md", timeout=60_000)
    expect(first).to_contain_text("forty two crowns")
