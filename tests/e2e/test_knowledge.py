"""Knowledge bases as a person uses them, on the whole stack: Chromium, uvicorn, a real huey worker,
PostgreSQL + pgvector, the bundled embedding model and the local SmolLM2 model.

A new user creates a knowledge base, uploads two files, watches them reach "ready", asks a test
question and sees the right chunk first; then a flow retrieving from that base answers with a
citation of the right document."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import websockets
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.builder.services import flow_create, flow_version_publish
from apps.knowledge.models import Chunk, Document, KnowledgeBase
from apps.runs.models import Run
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Organization, Role
from apps.tenancy.services import api_key_create, organization_create
from tests.apps.knowledge import files
from tests.flows.graphs import graph

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long knowledge passphrase 7"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "knowledge"
QUESTION = "How much does the aurora observation permit cost?"
INGEST_TIMEOUT_MS = 180_000


def _sign_in(page: Any) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("kim")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # password hashing on a busy 2-core machine can take longer than expect's 5 s
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=30_000)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _retrieval_flow(knowledge_base: str) -> dict[str, Any]:
    """chat input -> retrieve -> prompt -> LLM (local) -> output, the LLM's sources cited."""
    return (
        graph()
        .node("in", "chat_input")
        .node("retrieve", "retrieve", knowledge_base=knowledge_base, top_k=3, mode="hybrid")
        .node("prompt", "prompt", template="Question: {{question}}")
        .node("llm", "llm", model="local", max_tokens=24, temperature=0)
        .node("out", "output")
        .edge("in", "retrieve", "message", "query")
        .edge("in", "prompt", "message", "question")
        .edge("retrieve", "llm", "documents", "context")
        .edge("prompt", "llm", "messages", "prompt")
        .edge("llm", "out", "text", "value")
        .edge("llm", "out", "sources", "sources")
        .spec
    )


def _run_over_socket(url: str, key: str, flow_id: str, message: str) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            await ws.send(json.dumps({"type": "run.start", "flow": flow_id, "inputs": {"message": message}}))
            events = []
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 180))
                events.append(event)
                if event["type"] in {"run.finished", "run.failed", "run.cancelled", "error"}:
                    return events

    # Sync Playwright owns this thread's event loop: run the socket client on a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.fixture
def newcomer(settings: Any, local_model_url: str) -> Organization:
    settings.LOCAL_MODEL_URL = local_model_url  # the builtin "local" alias of new organizations
    user = User.objects.create_user("kim", "kim@example.test", PASSWORD)
    return organization_create(actor=Actor(user=user, api_key=None), name="Aurora Tours")


def test_e2e_knowledge_base_upload_search_and_cited_answer(
    page: Any, newcomer: Organization, huey_worker: None, live_url: str
) -> None:
    _sign_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    expect(page.get_by_text("No knowledge bases yet")).to_be_visible()
    _shot(page, "1-empty")

    page.get_by_role("button", name="New knowledge base").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Field guide")
    _shot(page, "2-create-dialog")
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Field guide")).to_be_visible()
    _shot(page, "3-empty-base")

    page.get_by_test_id("dropzone").locator("input[type=file]").set_input_files(
        [
            {"name": "permits.pdf", "mimeType": "application/pdf", "buffer": files.pdf_bytes()},
            {"name": "coast.md", "mimeType": "text/markdown", "buffer": files.markdown_bytes()},
        ]
    )
    documents = page.get_by_role("table", name="Documents")
    for name in ("permits.pdf", "coast.md"):
        row = documents.locator(f'tr[data-document="{name}"]')
        expect(row).to_be_visible()
        expect(row.get_by_text("ready", exact=True)).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    expect(documents.locator('tr[data-document="permits.pdf"]')).to_contain_text("3 pages")
    _shot(page, "4-ready")

    page.get_by_label("Question", exact=True).fill(QUESTION)
    page.get_by_role("button", name="Search").click()
    first = page.get_by_role("list", name="Results").get_by_role("listitem").first
    expect(first).to_contain_text("permits.pdf", timeout=60_000)  # the server loads the embedding model
    expect(first).to_contain_text("forty two crowns")
    expect(first).to_contain_text("page 2")
    _shot(page, "5-search")

    knowledge_base = KnowledgeBase.objects.get(organization=newcomer, name="Field guide")
    permits = Document.objects.get(knowledge_base=knowledge_base, name="permits.pdf")
    owner = Actor(user=User.objects.get(username="kim"), api_key=None)
    access = OrgAccess(newcomer, Role.OWNER, owner)
    flow = flow_create(access=access, name="Guide bot", description="", graph=_retrieval_flow(str(knowledge_base.pk)))
    flow_version_publish(access=access, flow_id=flow.pk, note="v1")
    _, key = api_key_create(access=access, name="e2e", role=Role.VIEWER)

    events = _run_over_socket(live_url.replace("http", "ws") + "/ws/", key, str(flow.pk), QUESTION)
    finished = events[-1]
    assert finished["type"] == "run.finished", finished
    [output] = finished["data"]["outputs"].values()
    citations = output["citations"]
    assert citations[0]["document"] == str(permits.pk)
    assert citations[0]["title"] == "permits.pdf" and citations[0]["page"] == 2
    passage = Chunk.objects.get(document=permits, text__contains="forty two crowns")
    assert citations[0]["chunk"] == passage.pk
    assert output["value"].strip()  # SmolLM2 is too weak to judge the wording; it answered
    run = Run.objects.get(pk=events[0]["run"])
    assert run.status == "completed"
    assert run.output == finished["data"]["outputs"]  # the citation is stored with the run
