"""Sources beyond uploads, through the real parts: a real HTTP server on 127.0.0.1 serving a small
site (pages, robots.txt, a sitemap, ETags), reached through the egress policy (this test alone
allows its host:port, like an operator would), the sandboxed parser, the real embedding model and
PostgreSQL; a real folder on disk for folder sources."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.knowledge.models import Chunk, Document, DocumentFile, KnowledgeBase, Source, SourceStatus
from apps.knowledge.search import knowledge_search
from apps.knowledge.sources import request_sync, source_sync, sources_due
from apps.tenancy.models import Role
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

pytestmark = pytest.mark.django_db

FILLER = (
    "Coastal communities have watched the sea for centuries and kept careful records of what they saw. "
    "Those records turned into almanacs, and the almanacs into the tables sailors still carry today. "
)


def page(title: str, body: str, links: list[str]) -> bytes:
    nav = " ".join(f'<a href="{link}">{link.strip("/") or "home"}</a>' for link in links)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f'<div class="topbar">{nav}</div>'
        f"<main><h1 id='top'>{title}</h1><p>{body}</p><p>{FILLER * 2}</p></main>"
        "<footer>Harbour Almanac Ltd. All rights reserved.</footer></body></html>"
    ).encode()


class Site:
    """A tiny website; tests change `pages` between syncs. Answers 304 to If-None-Match when the
    page has an ETag (its content hash); `no_etag` pages never send one."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.no_etag: set[str] = set()
        self.fail: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def default_pages() -> dict[str, tuple[str, bytes]]:
    html = "text/html; charset=utf-8"
    return {
        "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /private/\n"),
        "/": (
            html,
            page(
                "Harbour almanac",
                "Welcome to the almanac of the harbour.",
                ["/tides", "/moon#phases", "/private/secret", "http://other.invalid/x", "/deep/1"],
            ),
        ),
        "/tides": (html, page("Tides", "The flood tide at Brest peaks near the granite quay.", ["/", "/moon"])),
        "/moon": (html, page("Moon", "A gibbous moon precedes the spring tides by two days.", ["/"])),
        "/deep/1": (html, page("Deep one", "Kelp forests grow in the deep channel.", ["/deep/2"])),
        "/deep/2": (html, page("Deep two", "Anglerfish lanterns glow below the thermocline.", ["/deep/3"])),
        "/deep/3": (html, page("Deep three", "Beyond the crawl depth limit.", [])),
        "/private/secret": (html, page("Secret", "Robots forbid this page.", [])),
        "/sitemap.xml": (
            "application/xml",
            b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<url><loc>SITE/tides</loc></url><url><loc>SITE/moon</loc></url>"
            b"<url><loc>http://other.invalid/page</loc></url></urlset>",
        ),
    }


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()
    state.pages = default_pages()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            found = state.pages.get(self.path)
            if self.path in state.fail:
                self._answer(503, b"down", "text/plain", {})
                return
            if found is None:
                self._answer(404, b"not here", "text/plain", {})
                return
            content_type, body = found
            body = body.replace(b"SITE", state.url.encode())
            extra: dict[str, str] = {}
            if self.path not in state.no_etag:
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                extra["ETag"] = etag
                if self.headers.get("If-None-Match") == etag:
                    self._answer(304, b"", content_type, extra)
                    return
            self._answer(200, body, content_type, extra)

        def _answer(self, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_site(site: Site) -> Iterator[None]:
    """The operator's egress allow-list with this test's server on it (this test only)."""
    before = settings.EGRESS_ALLOW
    settings.EGRESS_ALLOW = [*before, f"127.0.0.1:{site.port}"]
    yield
    settings.EGRESS_ALLOW = before


def sources_url(member: Member, kb: KnowledgeBase) -> str:
    return f"/api/v1/orgs/{member.organization.id}/knowledge-bases/{kb.id}/sources/"


def sync(source_id: Any) -> str:
    """What "Sync now" and the worker do: a new sync generation, run to its end in this thread."""
    with transaction.atomic():
        source = Source.objects.select_for_update().get(pk=source_id)
        queued = source.status == SourceStatus.QUEUED
        generation = source.sync_generation if queued else request_sync(source, enqueue=lambda *_: None)
    return source_sync(source_id, generation)  # ingestion: ingest_pending(kb) in this thread


def keys(source_id: Any, site: Site) -> set[str]:
    found = Document.objects.filter(source_id=source_id).values_list("source_key", flat=True)
    return {key.removeprefix(site.url) for key in found}


def test_crawl_follows_links_in_scope_respects_robots_and_depth_and_indexes_main_content(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], site: Site, allow_site: None
) -> None:
    kb = make_kb(org_a)
    answer = org_a.client().post(
        sources_url(org_a, kb), {"kind": "web", "url": f"{site.url}/", "max_depth": 2}, format="json"
    )
    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] == "queued"
    source_id = answer.json()["id"]

    assert sync(source_id) == "ok"
    assert keys(source_id, site) == {"/", "/tides", "/moon", "/deep/1", "/deep/2"}  # depth 3 not reached
    assert "/private/secret" not in site.paths()  # robots.txt
    assert "/deep/3" not in site.paths()
    assert site.paths()[0] == "/robots.txt"
    assert all(headers["user-agent"].startswith("TrellisBot") for _, headers in site.requests)
    source = Source.objects.get(pk=source_id)
    assert (source.status, source.found, source.added, source.removed) == (SourceStatus.OK, 5, 5, 0)
    assert source.last_sync_at is not None and source.error_code == ""
    assert [e["code"] for e in source.errors] == ["robots_disallowed"]

    assert sorted(ingest_pending(kb)) == ["ready"] * 5
    hits = knowledge_search(knowledge_base=kb, query="granite quay flood tide Brest", k=3, mode="hybrid").hits
    assert hits[0].document_name == "127.0.0.1/tides"
    assert hits[0].title == "Tides"
    texts = " ".join(Chunk.objects.filter(knowledge_base=kb, active=True).values_list("text", flat=True))
    assert "All rights reserved" not in texts  # footer: trafilatura keeps the main content
    assert "private/secret" not in texts and "deep/1" not in texts  # the link bar


def test_resync_reindexes_only_changed_pages_and_removes_deleted_ones(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], site: Site, allow_site: None
) -> None:
    kb = make_kb(org_a)
    answer = org_a.client().post(
        sources_url(org_a, kb),
        {"kind": "web", "url": f"{site.url}/", "max_depth": 2, "sync_every_minutes": 60},
        format="json",
    )
    source_id = answer.json()["id"]
    site.no_etag.add("/deep/1")  # unchanged is then known by the content hash
    assert sync(source_id) == "ok"
    ingest_pending(kb)
    before = dict(Document.objects.filter(source_id=source_id).values_list("source_key", "generation"))
    moon = f"{site.url}/moon"

    html = "text/html; charset=utf-8"
    site.pages["/moon"] = (html, page("Moon", "A waning crescent hides the lighthouse beacon.", ["/"]))
    del site.pages["/deep/2"]
    site.requests.clear()
    now = timezone.now()
    woken: list[tuple[Any, int]] = []
    assert sources_due(lambda *job: woken.append(job), now) == []  # the schedule says in an hour
    [(due_id, generation)] = sources_due(lambda *job: woken.append(job), now + timedelta(minutes=61))
    assert str(due_id) == source_id
    assert source_sync(due_id, generation) == "ok"

    source = Source.objects.get(pk=source_id)
    assert (source.changed, source.removed, source.added, source.unchanged) == (1, 1, 0, 3)
    assert keys(source_id, site) == {"/", "/tides", "/moon", "/deep/1"}
    conditional = {path for path, headers in site.requests if "if-none-match" in headers}
    assert {"/", "/tides", "/moon"} <= conditional and "/deep/1" not in conditional
    after = dict(Document.objects.filter(source_id=source_id).values_list("source_key", "generation"))
    assert {k for k in after if after[k] != before[k]} == {moon}  # only the changed page re-indexes
    assert ingest_pending(kb) == ["ready"]
    hits = knowledge_search(knowledge_base=kb, query="waning crescent lighthouse beacon", k=1, mode="keyword").hits
    assert hits[0].document_name == "127.0.0.1/moon"
    assert knowledge_search(knowledge_base=kb, query="anglerfish thermocline", k=3, mode="keyword").hits == []
    assert source.next_sync_at is not None and source.next_sync_at > timezone.now() + timedelta(minutes=59)


def test_a_5xx_keeps_documents_instead_of_removing_them(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], site: Site, allow_site: None
) -> None:
    kb = make_kb(org_a)
    source_id = (
        org_a.client()
        .post(sources_url(org_a, kb), {"kind": "web", "url": f"{site.url}/", "max_depth": 2}, format="json")
        .json()["id"]
    )
    assert sync(source_id) == "ok"
    site.fail.add("/deep/1")  # so /deep/2 is not reached either
    assert sync(source_id) == "ok"
    source = Source.objects.get(pk=source_id)
    assert source.removed == 0
    assert [e["code"] for e in source.errors] == ["robots_disallowed", "server_error", "kept_documents"]
    assert keys(source_id, site) == {"/", "/tides", "/moon", "/deep/1", "/deep/2"}


def test_sitemap_source_takes_the_listed_pages_of_its_own_site(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], site: Site, allow_site: None
) -> None:
    kb = make_kb(org_a)
    answer = org_a.client().post(
        sources_url(org_a, kb), {"kind": "web", "url": f"{site.url}/sitemap.xml"}, format="json"
    )
    source_id = answer.json()["id"]
    assert sync(source_id) == "ok"
    assert keys(source_id, site) == {"/tides", "/moon"}
    source = Source.objects.get(pk=source_id)
    assert [e["code"] for e in source.errors] == ["off_site"]
    assert not any("other.invalid" in path for path in site.paths())


def test_internal_addresses_are_refused_without_the_operators_allowance(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], site: Site
) -> None:
    kb = make_kb(org_a)
    answer = org_a.client().post(sources_url(org_a, kb), {"kind": "web", "url": f"{site.url}/"}, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "egress_refused"
    assert Source.objects.count() == 0 and site.requests == []


def test_allowance_withdrawn_later_fails_the_sync_with_a_reason(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], site: Site
) -> None:
    kb = make_kb(org_a)
    before = settings.EGRESS_ALLOW
    settings.EGRESS_ALLOW = [*before, f"127.0.0.1:{site.port}"]
    try:
        source_id = (
            org_a.client()
            .post(sources_url(org_a, kb), {"kind": "web", "url": f"{site.url}/"}, format="json")
            .json()["id"]
        )
    finally:
        settings.EGRESS_ALLOW = before
    assert sync(source_id) == "failed"
    source = Source.objects.get(pk=source_id)
    assert source.status == SourceStatus.FAILED and source.error_code == "egress_refused"
    assert "loopback" in source.error_message
    assert site.requests == []


def test_sources_are_tenant_scoped_and_need_an_editor(
    org_a: Member,
    org_b: Member,
    add_member: Callable[..., Member],
    make_kb: Callable[..., KnowledgeBase],
    site: Site,
    allow_site: None,
) -> None:
    kb = make_kb(org_a)
    answer = org_a.client().post(sources_url(org_a, kb), {"kind": "web", "url": f"{site.url}/"}, format="json")
    source_id = answer.json()["id"]
    base = f"/api/v1/orgs/{org_a.organization.id}/knowledge-bases/{kb.id}/sources/"
    stranger = org_b.client()
    for method, url in [("get", base), ("get", f"{base}{source_id}/"), ("post", f"{base}{source_id}/sync/")]:
        assert getattr(stranger, method)(url, format="json").status_code == 404
    theirs = f"/api/v1/orgs/{org_b.organization.id}/knowledge-bases/{kb.id}/sources/{source_id}/"
    assert stranger.get(theirs).status_code == 404  # their org id, our base's id
    viewer = add_member(org_a.organization, Role.VIEWER)
    assert viewer.client().get(base).status_code == 200
    assert viewer.client().post(f"{base}{source_id}/sync/").status_code == 403
    assert viewer.client().delete(f"{base}{source_id}/").status_code == 403
    bad = org_a.client().post(base, {"kind": "web", "url": "not a url"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"]
    assert org_a.client().post(base, {"kind": "web"}, format="json").status_code == 400
    assert Source.objects.count() == 1


# --- folder sources -----------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path, org_a: Member) -> Iterator[dict[str, Path]]:
    allowed, outside, mine = tmp_path / "allowed", tmp_path / "outside", tmp_path / "acme-only"
    for folder in (allowed, outside, mine):
        folder.mkdir()
    (allowed / "docs").mkdir()
    (allowed / "docs" / "tides.md").write_text("# Tides\n\nThe flood tide peaks near the granite quay.\n")
    (allowed / "docs" / "moon.txt").write_text("A gibbous moon precedes the spring tides by two days.\n")
    (allowed / "docs" / "image.bin").write_bytes(b"\x00\x01")
    (outside / "secret.md").write_text("# Secret\n\nThe vault code is 7731.\n")
    (allowed / "docs" / "link.md").symlink_to(outside / "secret.md")
    (allowed / "docs" / "escape").symlink_to(outside)
    before = settings.KNOWLEDGE_FOLDER_ROOTS
    settings.KNOWLEDGE_FOLDER_ROOTS = [str(allowed), f"{org_a.organization.slug}={mine}", f"other-org={outside}"]
    yield {"allowed": allowed, "outside": outside, "mine": mine}
    settings.KNOWLEDGE_FOLDER_ROOTS = before


@pytest.mark.parametrize(
    "path",
    [
        "{outside}",
        "{allowed}/../outside",
        "{allowed}/docs/escape",  # a symlink out of the root
        "relative/path",
        "{allowed}/missing",
    ],
)
def test_folder_outside_the_allowed_roots_is_refused(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], roots: dict[str, Path], path: str
) -> None:
    kb = make_kb(org_a)
    raw = path.format(**roots)
    answer = org_a.client().post(sources_url(org_a, kb), {"kind": "folder", "path": raw}, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] in {"folder_not_allowed", "folder_not_found"}
    assert Source.objects.count() == 0


def test_folder_roots_scoped_to_an_organization_and_admins_only(
    org_a: Member,
    org_b: Member,
    add_member: Callable[..., Member],
    make_kb: Callable[..., KnowledgeBase],
    roots: dict[str, Path],
) -> None:
    kb_a, kb_b = make_kb(org_a), make_kb(org_b)
    assert (
        org_a.client()
        .post(sources_url(org_a, kb_a), {"kind": "folder", "path": str(roots["mine"])}, format="json")
        .status_code
        == 202
    )
    theirs = org_b.client().post(
        sources_url(org_b, kb_b), {"kind": "folder", "path": str(roots["mine"])}, format="json"
    )
    assert theirs.status_code == 400 and theirs.json()["code"] == "folder_not_allowed"
    editor = add_member(org_a.organization, Role.EDITOR)
    answer = editor.client().post(
        sources_url(org_a, kb_a), {"kind": "folder", "path": str(roots["allowed"])}, format="json"
    )
    assert answer.status_code == 403


def test_folder_sync_reads_supported_files_inside_the_root_and_resyncs_changes(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], roots: dict[str, Path]
) -> None:
    kb = make_kb(org_a)
    answer = org_a.client().post(
        sources_url(org_a, kb), {"kind": "folder", "path": str(roots["allowed"])}, format="json"
    )
    source_id = answer.json()["id"]
    assert sync(source_id) == "ok"
    found = set(Document.objects.filter(source_id=source_id).values_list("source_key", flat=True))
    assert found == {"docs/tides.md", "docs/moon.txt"}
    source = Source.objects.get(pk=source_id)
    assert [e["code"] for e in source.errors] == ["outside_root"]
    assert sorted(ingest_pending(kb)) == ["ready", "ready"]
    assert knowledge_search(knowledge_base=kb, query="vault code", k=3, mode="keyword").hits == []

    (roots["allowed"] / "docs" / "moon.txt").write_text("A waning crescent hides the lighthouse beacon.\n")
    (roots["allowed"] / "docs" / "tides.md").unlink()
    (roots["allowed"] / "docs" / "new.md").write_text("# New\n\nSeals rest on the sandbar at low water.\n")
    assert sync(source_id) == "ok"
    source = Source.objects.get(pk=source_id)
    assert (source.added, source.changed, source.removed, source.unchanged) == (1, 1, 1, 0)
    assert ingest_pending(kb) == ["ready", "ready"]
    assert sync(source_id) == "ok"
    source = Source.objects.get(pk=source_id)
    assert (source.added, source.changed, source.removed, source.unchanged) == (0, 0, 0, 2)
    hits = knowledge_search(knowledge_base=kb, query="seals sandbar", k=1, mode="keyword").hits
    assert hits[0].document_name == "docs/new.md"


def test_deleting_a_source_removes_its_documents(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], roots: dict[str, Path]
) -> None:
    kb = make_kb(org_a)
    base = sources_url(org_a, kb)
    source_id = org_a.client().post(base, {"kind": "folder", "path": str(roots["allowed"])}, format="json").json()["id"]
    sync(source_id)
    assert org_a.client().get(f"{base}{source_id}/").json()["document_count"] == 2
    assert org_a.client().delete(f"{base}{source_id}/").status_code == 204
    assert Document.objects.filter(knowledge_base=kb).count() == 0
    assert DocumentFile.objects.count() == 0


@pytest.mark.django_db(transaction=True)
async def test_ws_sync_progress_reaches_the_bases_subscribers(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], roots: dict[str, Path], api_key_for: Callable[..., str]
) -> None:
    """`knowledge.source` events go to the base's socket group like ingestion progress does."""
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from apps.config.asgi import application
    from apps.knowledge.services import source_create

    key = await database_sync_to_async(api_key_for)(org_a, "viewer")
    kb = await database_sync_to_async(make_kb)(org_a)
    ws = WebsocketCommunicator(
        application, "/ws/", headers=[(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode())]
    )
    assert (await ws.connect())[0]
    await ws.send_json_to({"type": "knowledge.subscribe", "knowledge_base": str(kb.id)})
    assert (await ws.receive_json_from(timeout=10))["type"] == "knowledge.subscribed"
    source = await database_sync_to_async(source_create)(
        access=org_a.access, knowledge_base_id=kb.id, kind="folder", path=str(roots["allowed"] / "docs")
    )
    assert await database_sync_to_async(source_sync)(source.id, source.sync_generation) == "ok"
    events: list[dict[str, Any]] = []
    while not events or events[-1].get("status") != "ok" or events[-1]["type"] != "knowledge.source":
        events.append(await ws.receive_json_from(timeout=30))
    mine = [e for e in events if e["type"] == "knowledge.source"]
    assert {e["source"] for e in mine} == {str(source.id)}
    assert [e["status"] for e in mine][:2] == ["queued", "syncing"]
    assert mine[-1]["added"] == 2 and mine[-1]["last_sync_at"]
    assert {e["type"] for e in events} == {"knowledge.source", "knowledge.progress"}  # + the new documents
    await ws.disconnect()
