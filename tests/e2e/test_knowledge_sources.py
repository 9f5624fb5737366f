"""A website source and test questions as a person uses them: Chromium, uvicorn, the huey worker,
PostgreSQL + pgvector, the bundled embedding model, and a real HTTP server on 127.0.0.1 serving a
small site (robots.txt, pages, links).

The crawl job itself runs in this test process (`source_sync`, what the worker runs): only this
process may reach the test site (its host:port on this process's egress allow-list, like an
operator would allow it); the live server and the worker were started with the session's list.
Its progress reaches the page the way a worker's does (PostgreSQL NOTIFY -> the server's bridge ->
the socket), and the pages it finds are ingested by the real worker. "Sync now" from the page then
runs in the worker, which refuses the address: the page shows why."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.knowledge.models import KnowledgeBase, Source, SourceKind, SourceStatus
from apps.knowledge.services import knowledge_base_create
from apps.knowledge.sources import source_sync
from apps.knowledge.tasks import ingest_document
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Organization, Role
from apps.tenancy.services import organization_create
from tests.support.egress import allow_egress

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long crawling passphrase 9"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "knowledge-sources"
INGEST_TIMEOUT_MS = 240_000
FILLER = "Harbour records were kept by the lighthouse keepers for two hundred years, season after season. " * 3


def _page(title: str, body: str, links: list[str]) -> bytes:
    nav = " | ".join(f'<a href="{link}">{link}</a>' for link in links)
    return (
        f"<html><head><title>{title}</title></head><body><nav>{nav}</nav>"
        f"<article><h1>{title}</h1><p>{body}</p><p>{FILLER}</p></article></body></html>"
    ).encode()


PAGES = {
    "/robots.txt": b"User-agent: *\nDisallow: /staff/\n",
    "/": _page("Harbour guide", "Welcome to the harbour guide.", ["/tides", "/ferries", "/staff/rota"]),
    "/tides": _page("Tides", "The flood tide peaks near the granite quay at dawn.", ["/"]),
    "/ferries": _page("Ferries", "The island ferry leaves the north pier every ninety minutes.", ["/"]),
    "/staff/rota": _page("Rota", "Internal staff rota.", []),
}


@pytest.fixture
def site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = PAGES.get(self.path)
            status = 200 if body is not None else 404
            body = body or b"missing"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if self.path.endswith(".txt") else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def owner() -> OrgAccess:
    user = User.objects.create_user("rin", "rin@example.test", PASSWORD)
    actor = Actor(user=user, api_key=None)
    organization: Organization = organization_create(actor=actor, name="Harbour Office")
    return OrgAccess(organization, Role.OWNER, actor)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_e2e_website_source_syncs_live_and_test_questions_score_the_modes(
    page: Any, owner: OrgAccess, site: str, huey_worker: None, live_url: str, settings: Any, tmp_path: Path
) -> None:
    knowledge_base: KnowledgeBase = knowledge_base_create(access=owner, name="Harbour")
    settings.EGRESS_ALLOW = list(settings.EGRESS_ALLOW)
    allow_egress(site)  # this process only (see the module docstring)
    # As source_create leaves it, without the queue's wake-up (this process runs the job).
    source = Source.objects.create(
        organization=owner.organization,
        knowledge_base=knowledge_base,
        kind=SourceKind.WEB,
        name=f"{site}/",
        url=f"{site}/",
        max_depth=1,
        status=SourceStatus.QUEUED,
        sync_generation=1,
    )

    page.goto("/login")
    page.get_by_label("Username").fill("rin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=30_000)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    page.get_by_role("button", name="Harbour", exact=True).click()
    page.set_viewport_size({"width": 800, "height": 900})  # the page works at 800 px
    sources = page.get_by_role("region", name="Sources")
    row = sources.locator(f'li[data-source="{source.name}"]')
    expect(row).to_contain_text("queued")

    # progress goes out over the socket; the pages found are ingested by the worker
    assert source_sync(source.id, source.sync_generation, enqueue_ingest=ingest_document) == "ok"
    expect(row.get_by_role("status")).to_contain_text("3 found · 3 new", timeout=30_000)
    expect(row).to_contain_text("synced")
    row.get_by_text("1 problem in the last sync").click()
    expect(row).to_contain_text("robots.txt does not allow this page")
    documents = page.get_by_role("table", name="Documents")
    for name in ("/tides", "/ferries"):
        line = documents.locator(f'tr[data-document="127.0.0.1{name}"]')
        expect(line.get_by_text("ready", exact=True)).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    expect(documents.locator("tr[data-document]")).to_have_count(3)
    _shot(page, "1-synced")

    questions = tmp_path / "questions.csv"
    questions.write_text(
        "question,expected\n"
        "When does the flood tide peak at the quay?,127.0.0.1/tides\n"
        "How often does the island ferry leave?,Ferries\n"
    )
    panel = page.get_by_role("region", name="Test questions")
    panel.get_by_label("Question set file").set_input_files(str(questions))
    expect(panel.get_by_text("2 questions (not saved)")).to_be_visible()
    panel.get_by_role("button", name="Save as this base's questions").click()
    expect(panel.get_by_text("2 questions", exact=True)).to_be_visible()
    panel.get_by_label("BM25 k1").fill("1.6")
    panel.get_by_role("button", name="Run the questions").click()
    scores = panel.get_by_role("table", name="Scores per mode")
    for mode in ("vector", "keyword", "hybrid"):
        expect(scores.locator(f'tr[data-mode="{mode}"]')).to_contain_text(
            "1.000", timeout=240_000
        )  # the server loads the model
    _shot(page, "2-scores")
    panel.get_by_role("button", name="Use k1 = 1.6, b = 0.75 for this base").click()
    expect(panel.get_by_text("Saved: keyword search now uses these values.")).to_be_visible()
    knowledge_base.refresh_from_db()
    assert knowledge_base.bm25_k1 == 1.6
    assert len(knowledge_base.test_questions) == 2

    # "Sync now" runs in the worker, whose allow-list does not hold the test site: refused, explained.
    row.get_by_role("button", name="Sync now").click()
    expect(row).to_contain_text("failed", timeout=60_000)
    expect(row).to_contain_text("loopback address")
    expect(documents.locator("tr[data-document]")).to_have_count(3)  # a failed sync removes nothing
    _shot(page, "3-refused")
    assert Source.objects.get(pk=source.id).error_code == "egress_refused"
