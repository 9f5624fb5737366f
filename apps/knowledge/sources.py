"""Sources beyond uploads: a website crawl (a start page or a sitemap), a server folder and an
S3-compatible bucket (listed and read through the egress policy, apps/knowledge/s3.py).

A sync is a queue job (`tasks.sync_source`) on one (source, sync_generation), holding a lease on
the source row like ingestion holds one on a document; its counters and errors are on the row and
go to the browser on the knowledge base's socket group (`knowledge.source` events) while it runs.
Each page or file becomes a document of the source, keyed by its URL or relative path:

- new: a document is created and queued for ingestion (the ordinary job: parse in the sandbox,
  chunk, embed; a crawled HTML page has its main content found by trafilatura first);
- changed: the stored file is replaced and the document re-indexed (a new generation);
- unchanged: nothing is re-embedded. The web asks the server first (If-None-Match with the page's
  ETag, If-Modified-Since with its Last-Modified: 304 costs no body), then compares the body's
  SHA-256 with the document's checksum; a folder compares mtime + size, then the checksum; a
  bucket compares the listing's ETag + LastModified, then the checksum;
- gone (404/410, no longer linked or listed, deleted from the folder): the document is removed,
  unless something failed on the way (a 5xx, a timeout), since then the crawl may simply not have
  reached it.

The crawl fetches every URL through the instance's outbound policy (apps.serving.egress: no
internal addresses unless the operator allows the exact host:port), asks robots.txt (RFC 9309:
4xx = no rules, 5xx or unreachable = stop), stays on the start URL's scheme + host + port, follows
links breadth-first up to `max_depth` and fetches at most `max_pages` pages. Link extraction and
sitemap parsing run in the sandboxed parser process (invariant 8), one process per crawl level.

A folder source reads only below the roots the operator configures (TRELLIS_KNOWLEDGE_FOLDER_ROOTS);
the path is resolved (symlinks, `..`) before the check, and so is every file found in it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.knowledge import realtime
from apps.knowledge.keywords import stats_forget
from apps.knowledge.models import (
    Document,
    DocumentFile,
    DocumentStatus,
    FileType,
    Source,
    SourceKind,
    SourceStatus,
)
from apps.knowledge.parsing import EXTENSIONS, ParseFailed, extract_in_sandbox
from apps.tenancy.models import Organization

logger = logging.getLogger(__name__)
USER_AGENT = "TrellisBot/1.0 (knowledge base crawler)"
ROBOTS_AGENT = "TrellisBot"
FETCH_TIMEOUT_S = 20.0
MAX_REDIRECTS = 5
MAX_SITEMAPS = 20
MAX_CRAWL_DELAY_S = 5.0
MAX_ERRORS_KEPT = 50
CONTENT_TYPES = {
    "text/html": FileType.HTML,
    "application/xhtml+xml": FileType.HTML,
    "application/pdf": FileType.PDF,
    "text/plain": FileType.TEXT,
    "text/markdown": FileType.MARKDOWN,
    "text/csv": FileType.CSV,
}
TRANSIENT = frozenset({"egress_timeout", "egress_failed", "server_error"})


class SourceFailed(Exception):
    """The whole sync stops (robots.txt unreachable, the folder no longer allowed, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _lease() -> timedelta:
    return timedelta(seconds=settings.KNOWLEDGE_LEASE_SECONDS * 5)


# --- folder roots -------------------------------------------------------------------------------


def allowed_roots(organization: Organization) -> list[Path]:
    """The folders this organization's sources may read (resolved), from the operator's setting."""
    roots = []
    for entry in settings.KNOWLEDGE_FOLDER_ROOTS:
        slug, _, folder = entry.rpartition("=") if "=" in entry else ("", "", entry)
        if slug and slug.strip() != organization.slug:
            continue
        path = Path(folder.strip())
        if path.is_absolute():
            roots.append(Path(os.path.realpath(path)))
    return roots


def resolve_folder(organization: Organization, raw: str) -> Path:
    """The folder `raw` names, resolved, if it lies inside an allowed root; else SourceFailed."""
    if not raw or "\x00" in raw or not Path(raw).is_absolute():
        raise SourceFailed("folder_not_allowed", "Give the folder as an absolute path on the server.")
    resolved = Path(os.path.realpath(raw))
    roots = allowed_roots(organization)
    if not roots:
        raise SourceFailed(
            "folder_not_allowed",
            "Folder sources are off on this server: the operator has not configured any allowed folder.",
        )
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise SourceFailed(
            "folder_not_allowed",
            "This folder is outside the folders the operator allows: " + ", ".join(str(root) for root in roots) + ".",
        )
    if not resolved.is_dir():
        raise SourceFailed("folder_not_found", f"{resolved} is not a folder on the server.")
    return resolved


# --- the sync job ---------------------------------------------------------------------------------


@dataclass
class Item:
    """One page or file the sync found."""

    key: str
    name: str
    file_type: str
    data: bytes | None  # None: unchanged, known without reading it (304, same mtime + size)
    etag: str = ""
    modified: str = ""


@dataclass
class Sync:
    source: Source
    generation: int
    enqueue_ingest: Callable[[UUID, int], Any] | None = None
    seen: set[str] = field(default_factory=set)
    transient_failures: int = 0
    last_publish: float = 0.0

    def error(self, item: str, code: str, message: str) -> None:
        errors = self.source.errors
        if len(errors) < MAX_ERRORS_KEPT:
            errors.append({"item": item[:500], "code": code, "message": message[:500]})
        if code in TRANSIENT:
            self.transient_failures += 1
        self.save()

    def save(self, *fields: str) -> None:
        """Counters and errors to the row (if this sync is still the current one) and the socket."""
        source = self.source
        source.lease_until = timezone.now() + _lease()
        updated = Source.objects.filter(pk=source.pk, sync_generation=self.generation).update(
            found=source.found,
            added=source.added,
            changed=source.changed,
            unchanged=source.unchanged,
            removed=source.removed,
            skipped=source.skipped,
            errors=source.errors,
            lease_until=source.lease_until,
            updated_at=timezone.now(),
        )
        if not updated:
            raise Superseded
        publish(source)


class Superseded(Exception):
    """The source was deleted or another sync of it started."""


def publish(source: Source) -> None:
    realtime.publish_event(source_event(source))


def source_event(source: Source) -> dict[str, Any]:
    return {
        "type": "knowledge.source",
        "event": "knowledge.source",
        "knowledge_base": str(source.knowledge_base_id),
        "source": str(source.id),
        "status": source.status,
        "found": source.found,
        "added": source.added,
        "changed": source.changed,
        "unchanged": source.unchanged,
        "removed": source.removed,
        "skipped": source.skipped,
        "errors": len(source.errors),
        "error_code": source.error_code,
        "error_message": source.error_message[:500],
        "last_sync_at": source.last_sync_at.isoformat() if source.last_sync_at else None,
    }


def _claim(source_id: UUID | str, generation: int) -> Source | None:
    now = timezone.now()
    claimed = (
        Source.objects.filter(
            pk=source_id, sync_generation=generation, status__in=(SourceStatus.QUEUED, SourceStatus.SYNCING)
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            status=SourceStatus.SYNCING,
            lease_until=now + _lease(),
            last_sync_started_at=now,
            found=0,
            added=0,
            changed=0,
            unchanged=0,
            removed=0,
            skipped=0,
            errors=[],
            error_code="",
            error_message="",
            updated_at=now,
        )
    )
    if not claimed:
        return None
    source = Source.objects.select_related("knowledge_base", "organization").get(pk=source_id)
    publish(source)
    return source


def source_sync(
    source_id: UUID | str, generation: int, enqueue_ingest: Callable[[UUID, int], Any] | None = None
) -> str:
    """Run one sync of a source to its end; answers what happened (for logs and tests).
    `enqueue_ingest(document, generation)` wakes the ingestion job of each new or changed document
    (tasks.py passes the huey task; without it the resume sweep finds them after their lease)."""
    source = _claim(source_id, generation)
    if source is None:
        return "skipped"
    sync = Sync(source, generation, enqueue_ingest)
    try:
        if source.kind == SourceKind.WEB:
            _crawl(sync)
        elif source.kind == SourceKind.S3:
            _scan_bucket(sync)
        else:
            _scan_folder(sync)
        _remove_unseen(sync)
    except Superseded:
        return "superseded"
    except SourceFailed as failed:
        return _end(sync, SourceStatus.FAILED, failed.code, failed.message)
    except Exception as exc:  # a sync never stays "syncing": the row says what went wrong
        logger.exception("source %s sync failed", source_id)
        return _end(sync, SourceStatus.FAILED, "sync_failed", f"The sync stopped: {type(exc).__name__}.")
    return _end(sync, SourceStatus.OK, "", "")


def _end(sync: Sync, status: str, code: str, message: str) -> str:
    source, now = sync.source, timezone.now()
    source.status, source.error_code, source.error_message = status, code, message
    source.last_sync_at, source.lease_until = now, None
    source.next_sync_at = now + timedelta(minutes=source.sync_every_minutes) if source.sync_every_minutes else None
    with transaction.atomic():
        updated = Source.objects.filter(pk=source.pk, sync_generation=sync.generation).update(
            status=status,
            error_code=code,
            error_message=message,
            last_sync_at=now,
            next_sync_at=source.next_sync_at,
            lease_until=None,
            found=source.found,
            added=source.added,
            changed=source.changed,
            unchanged=source.unchanged,
            removed=source.removed,
            skipped=source.skipped,
            errors=source.errors,
            updated_at=now,
        )
        if updated:
            publish(source)
    return "failed" if status == SourceStatus.FAILED else "ok"


def _enqueue(sync: Sync, document: Document) -> None:
    enqueue = sync.enqueue_ingest
    if enqueue is not None:
        document_id, document_generation = document.id, document.generation
        transaction.on_commit(lambda: enqueue(document_id, document_generation), robust=True)


def _take(sync: Sync, item: Item) -> None:
    """Add, replace or keep the document of one page/file (one transaction)."""
    source = sync.source
    sync.seen.add(item.key)
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(source=source, source_key=item.key).first()
        if item.data is None:
            if document is not None:
                source.unchanged += 1
            sync.save()
            return
        checksum = hashlib.sha256(item.data).hexdigest()
        if document is not None and document.checksum == checksum:
            if (document.source_etag, document.source_modified) != (item.etag, item.modified):
                document.source_etag, document.source_modified = item.etag[:255], item.modified[:64]
                document.save(update_fields=["source_etag", "source_modified", "updated_at"])
            source.unchanged += 1
            sync.save()
            return
        twins = Document.objects.filter(knowledge_base_id=source.knowledge_base_id, checksum=checksum)
        if document is not None:
            twins = twins.exclude(pk=document.pk)
        twin = twins.values_list("name", flat=True).first()
        if twin is not None:
            source.skipped += 1
            sync.error(item.key, "duplicate", f"The same content is already in this knowledge base as {twin}.")
            return
        if len(item.data) > settings.KNOWLEDGE_MAX_UPLOAD_MB * 1024 * 1024:
            source.skipped += 1
            sync.error(item.key, "file_too_large", f"Larger than {settings.KNOWLEDGE_MAX_UPLOAD_MB} MB.")
            return
        if document is None:
            document = Document.objects.create(
                organization_id=source.organization_id,
                knowledge_base_id=source.knowledge_base_id,
                name=item.name[:255],
                file_type=item.file_type,
                size_bytes=len(item.data),
                checksum=checksum,
                source=source,
                source_key=item.key,
                source_etag=item.etag[:255],
                source_modified=item.modified[:64],
                created_by_id=source.created_by_id,
            )
            DocumentFile.objects.create(document=document, data=item.data)
            source.added += 1
        else:
            DocumentFile.objects.update_or_create(document=document, defaults={"data": item.data})
            document.name, document.file_type = item.name[:255], item.file_type
            document.size_bytes, document.checksum = len(item.data), checksum
            document.source_etag, document.source_modified = item.etag[:255], item.modified[:64]
            document.version += 1
            document.generation += 1
            document.sections, document.page_count = None, None
            document.status, document.progress, document.lease_until = DocumentStatus.QUEUED, 0.0, None
            document.error_code = document.error_message = ""
            document.save()
            source.changed += 1
        realtime.publish(document)
        _enqueue(sync, document)
        sync.save()


def _remove_unseen(sync: Sync) -> None:
    """Documents of the source this sync did not find: gone from the site or the folder."""
    if sync.transient_failures:
        sync.error("", "kept_documents", "Some items could not be read this time; no document was removed.")
        return
    gone = Document.objects.filter(source=sync.source).exclude(source_key__in=sync.seen)
    for document_id in gone.values_list("id", flat=True):
        with transaction.atomic():
            document = Document.objects.select_for_update().filter(pk=document_id).first()
            if document is None:
                continue
            stats_forget(document.knowledge_base_id, document.id)
            document.delete()
            sync.source.removed += 1
            sync.save()


# --- web ------------------------------------------------------------------------------------------


@dataclass
class Fetched:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes


class Web:
    """HTTP through the egress policy, for one site; robots.txt asked for every URL."""

    def __init__(self, start: str) -> None:
        from apps.serving.egress import EgressPolicy

        self.policy = EgressPolicy()
        self.start = httpx.URL(start)
        self.site = _site(self.start)
        self.robots = urllib.robotparser.RobotFileParser()
        self.delay = 0.0
        self.last = 0.0

    def in_scope(self, url: str) -> bool:
        try:
            return _site(httpx.URL(url)) == self.site
        except (httpx.InvalidURL, KeyError):
            return False

    def allowed(self, url: str) -> bool:
        return self.robots.can_fetch(ROBOTS_AGENT, url)

    def load_robots(self) -> None:
        url = str(self.start.copy_with(path="/robots.txt", query=None, fragment=None))
        fetched = self.get(url, {})
        if fetched.status >= 500:
            raise SourceFailed(
                "robots_unavailable", f"{url} answered {fetched.status}; the site is not crawled until it answers."
            )
        if fetched.status >= 400:
            self.robots.parse([])  # no rules: everything allowed
            return
        self.robots.parse(fetched.body.decode("utf-8", errors="replace").splitlines())
        delay = self.robots.crawl_delay(ROBOTS_AGENT)
        self.delay = min(float(delay or 0), MAX_CRAWL_DELAY_S)

    def get(self, url: str, headers: dict[str, str]) -> Fetched:
        from apps.serving.egress import vetted_get_sync

        wait = self.last + self.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last = time.monotonic()
        status, answer, body = vetted_get_sync(
            url,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=FETCH_TIMEOUT_S,
            policy=self.policy,
            max_body_bytes=settings.KNOWLEDGE_MAX_UPLOAD_MB * 1024 * 1024,
        )
        return Fetched(url, status, answer, body)

    def follow(self, url: str, headers: dict[str, str]) -> Fetched:
        """GET with redirects followed by hand: every hop in scope, allowed by robots.txt and
        vetted by the egress policy again."""
        for _ in range(MAX_REDIRECTS + 1):
            fetched = self.get(url, headers)
            location = fetched.headers.get("location")
            if fetched.status not in (301, 302, 303, 307, 308) or not location:
                return fetched
            url = str(httpx.URL(url).join(location).copy_with(fragment=None))
            if not self.in_scope(url):
                raise SourceFailed("off_site", f"Redirects off the site to {url}.")
            if not self.allowed(url):
                raise SourceFailed("robots_disallowed", f"Redirects to {url}, which robots.txt disallows.")
        raise SourceFailed("too_many_redirects", f"More than {MAX_REDIRECTS} redirects.")


def _site(url: httpx.URL) -> tuple[str, str, int]:
    from apps.serving.egress import DEFAULT_PORTS

    return url.scheme, url.host.lower().rstrip("."), url.port or DEFAULT_PORTS[url.scheme]


def is_sitemap_url(url: str) -> bool:
    path = httpx.URL(url).path.lower()
    return path.endswith(".xml") or "sitemap" in path.rsplit("/", 1)[-1]


def _egress_error(refused: Exception) -> tuple[str, str]:
    return str(getattr(refused, "code", "egress_refused")), str(refused)


def _crawl(sync: Sync) -> None:
    from flows.errors import EgressRefused

    source = sync.source
    web = Web(source.url)
    try:
        web.load_robots()
    except EgressRefused as refused:
        code, message = _egress_error(refused)
        raise SourceFailed(code, message) from None
    limit = min(source.max_pages, settings.KNOWLEDGE_CRAWL_MAX_PAGES)
    if is_sitemap_url(source.url):
        urls, depth_limit = _sitemap_urls(sync, web), 0
    else:
        urls, depth_limit = [str(web.start.copy_with(fragment=None))], source.max_depth
    known = {
        key: (etag, modified)
        for key, etag, modified in Document.objects.filter(source=source).values_list(
            "source_key", "source_etag", "source_modified"
        )
    }
    queued: set[str] = set(urls)
    fetched_pages = 0
    for depth in range(depth_limit + 1):
        html_pages: list[tuple[str, bytes]] = []
        for url in urls:
            if fetched_pages >= limit:
                break
            if not web.allowed(url):
                source.skipped += 1
                sync.error(url, "robots_disallowed", "robots.txt does not allow this page.")
                continue
            fetched_pages += 1
            page = _fetch_page(sync, web, url, known.get(url))
            if page is not None:
                html_pages.append(page)
        if depth == depth_limit or fetched_pages >= limit or not html_pages:
            break
        links = _links(sync, html_pages)
        urls = []
        for link in links:
            if link not in queued and web.in_scope(link):
                queued.add(link)
                urls.append(link)


def _fetch_page(sync: Sync, web: Web, url: str, known: tuple[str, str] | None) -> tuple[str, bytes] | None:
    """Fetch one page and take it; answers (url, html) to follow its links, or None."""
    from flows.errors import EgressRefused

    source = sync.source
    headers = {}
    if known is not None:
        etag, modified = known
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
    try:
        fetched = web.follow(url, headers)
    except EgressRefused as refused:
        sync.seen.add(url)  # kept: unreadable now is not gone
        sync.error(url, *_egress_error(refused))
        return None
    except SourceFailed as failed:
        source.skipped += 1
        sync.error(url, failed.code, failed.message)
        return None
    source.found += 1
    if fetched.status == 304 and known is not None:
        _take(sync, Item(url, url, FileType.HTML, None))
        data = DocumentFile.objects.filter(document__source=source, document__source_key=url).values_list(
            "data", flat=True
        )
        stored = data.first()
        is_html = Document.objects.filter(source=source, source_key=url, file_type=FileType.HTML).exists()
        return (url, bytes(stored)) if stored is not None and is_html else None
    if fetched.status in (404, 410):
        sync.error(url, "not_found", f"The page answered {fetched.status}.")
        return None
    if fetched.status >= 500:
        sync.seen.add(url)
        sync.error(url, "server_error", f"The page answered {fetched.status}.")
        return None
    if fetched.status != 200:
        sync.error(url, "http_error", f"The page answered {fetched.status}.")
        return None
    content_type = fetched.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    file_type = CONTENT_TYPES.get(content_type)
    if file_type is None:
        source.skipped += 1
        sync.error(url, "unsupported_type", f"Content type {content_type or 'unknown'} is not indexed.")
        return None
    name = _page_name(fetched.url)
    _take(
        sync,
        Item(
            url,
            name,
            file_type,
            fetched.body,
            etag=fetched.headers.get("etag", ""),
            modified=fetched.headers.get("last-modified", ""),
        ),
    )
    return (url, fetched.body) if file_type == FileType.HTML else None


def _page_name(url: str) -> str:
    """A document name that reads like the page: host + path (+ query); its type is the content's."""
    parsed = httpx.URL(url)
    name = f"{parsed.host}{parsed.path}"
    if parsed.query:
        name += f"?{parsed.query.decode(errors='replace')}"
    return name


def _links(sync: Sync, pages: list[tuple[str, bytes]]) -> list[str]:
    """The links of a crawl level's pages, read by the sandboxed parser (one child per level)."""
    files = {f"{i}.html": body for i, (_, body) in enumerate(pages)}
    manifest = [{"file": f"{i}.html", "url": url} for i, (url, _) in enumerate(pages)]
    try:
        result = extract_in_sandbox("links", files, manifest)
    except ParseFailed as failed:
        sync.error(pages[0][0], failed.code, failed.message)
        return []
    links: list[str] = []
    for page in result.get("pages", []):
        links.extend(str(link) for link in page.get("links", []))
    return list(dict.fromkeys(links))


def _sitemap_urls(sync: Sync, web: Web) -> list[str]:
    """Page URLs of a sitemap (and the sitemaps a sitemap index lists, on the same site)."""
    from flows.errors import EgressRefused

    pending, done, pages = [sync.source.url], 0, []
    while pending and done < MAX_SITEMAPS:
        url = pending.pop(0)
        done += 1
        try:
            fetched = web.follow(url, {})
        except EgressRefused as refused:
            raise SourceFailed(*_egress_error(refused)) from None
        if fetched.status != 200:
            raise SourceFailed("sitemap_unavailable", f"The sitemap {url} answered {fetched.status}.")
        try:
            listed = extract_in_sandbox("sitemap", {"sitemap.xml": fetched.body}, None)
        except ParseFailed as failed:
            raise SourceFailed(failed.code, f"{url}: {failed.message}") from None
        pending.extend(s for s in listed.get("sitemaps", []) if web.in_scope(s))
        for page in listed.get("urls", []):
            if not web.in_scope(page):
                sync.source.skipped += 1
                sync.error(page, "off_site", "The sitemap lists a page of another site.")
            elif page not in pages:
                pages.append(page)
    return pages


# --- folder ---------------------------------------------------------------------------------------


def _scan_folder(sync: Sync) -> None:
    source = sync.source
    root = resolve_folder(source.organization, source.path)
    known = dict(Document.objects.filter(source=source).values_list("source_key", "source_modified"))
    limit = min(source.max_pages, settings.KNOWLEDGE_CRAWL_MAX_PAGES)
    taken = 0
    for folder, subfolders, names in os.walk(root, followlinks=False):
        subfolders.sort()
        for name in sorted(names):
            if taken >= limit:
                return
            path = Path(folder) / name
            file_type = EXTENSIONS.get(path.suffix.lower())
            if file_type is None:
                continue
            key = str(path.relative_to(root))
            real = Path(os.path.realpath(path))
            if not real.is_relative_to(root):
                source.skipped += 1
                sync.error(key, "outside_root", "A link to a file outside the source's folder; not read.")
                continue
            taken += 1
            source.found += 1
            _take_file(sync, key, real, file_type, known.get(key))


def _take_file(sync: Sync, key: str, path: Path, file_type: str, known: str | None) -> None:
    try:
        stat = path.stat()
        modified = f"{stat.st_mtime_ns}:{stat.st_size}"
        if known == modified:
            _take(sync, Item(key, key, file_type, None, modified=modified))
            return
        if stat.st_size > settings.KNOWLEDGE_MAX_UPLOAD_MB * 1024 * 1024:
            sync.seen.add(key)
            sync.source.skipped += 1
            sync.error(key, "file_too_large", f"Larger than {settings.KNOWLEDGE_MAX_UPLOAD_MB} MB.")
            return
        data = path.read_bytes()
    except OSError as exc:
        sync.seen.add(key)
        sync.error(key, "server_error", f"Cannot read the file: {exc.strerror or exc}.")
        return
    _take(sync, Item(key, key, file_type, data, modified=modified))


# --- S3-compatible bucket -----------------------------------------------------------------------------


def _scan_bucket(sync: Sync) -> None:
    """Objects under the prefix with a supported extension, listed and read through the egress
    policy (apps/knowledge/s3.py). Re-sync: an object whose ETag and LastModified are the stored
    ones is unchanged without a GET; a changed one is read and compared by checksum; one no longer
    listed is removed (unless a read failed on the way). A listing failure fails the sync and
    removes nothing."""
    from apps.knowledge.s3 import Bucket, BucketFailed
    from flows.errors import EgressRefused

    source = sync.source
    known = {
        key: (etag, modified)
        for key, etag, modified in Document.objects.filter(source=source).values_list(
            "source_key", "source_etag", "source_modified"
        )
    }
    limit = min(source.max_pages, settings.KNOWLEDGE_CRAWL_MAX_PAGES)
    max_bytes = settings.KNOWLEDGE_MAX_UPLOAD_MB * 1024 * 1024
    taken = 0
    try:
        bucket = Bucket.for_source(source)
        for entry in bucket.objects(source.prefix):
            file_type = EXTENSIONS.get(Path(entry.key).suffix.lower())
            if file_type is None or entry.key.endswith("/"):
                continue
            if taken >= limit:
                return
            taken += 1
            source.found += 1
            if known.get(entry.key) == (entry.etag[:255], entry.modified[:64]):
                _take(sync, Item(entry.key, entry.key, file_type, None, etag=entry.etag, modified=entry.modified))
                continue
            if entry.size > max_bytes:
                sync.seen.add(entry.key)
                source.skipped += 1
                sync.error(entry.key, "file_too_large", f"Larger than {settings.KNOWLEDGE_MAX_UPLOAD_MB} MB.")
                continue
            try:
                data = bucket.read(entry.key)
            except (BucketFailed, EgressRefused) as failed:
                sync.seen.add(entry.key)  # kept: unreadable now is not gone
                code = getattr(failed, "code", "egress_failed")
                sync.error(entry.key, code if code in TRANSIENT else "server_error", str(failed))
                continue
            _take(sync, Item(entry.key, entry.key, file_type, data, etag=entry.etag, modified=entry.modified))
    except BucketFailed as failed:
        raise SourceFailed(failed.code, failed.message) from None
    except EgressRefused as refused:
        code, message = _egress_error(refused)
        if code in ("egress_failed", "egress_timeout"):
            message = f"{message} Check the bucket's endpoint URL and that its server is up."
        raise SourceFailed(code, message) from None


# --- scheduling -------------------------------------------------------------------------------------


def sources_due(enqueue: Callable[[UUID, int], Any], now: Any = None) -> list[tuple[UUID, int]]:
    """Sources whose scheduled sync is due, and syncs whose worker died (lease run out): each gets
    a new sync generation and is queued again."""
    now = now or timezone.now()
    due = Source.objects.filter(
        Q(sync_every_minutes__isnull=False, next_sync_at__lte=now, status__in=(SourceStatus.OK, SourceStatus.FAILED))
        | Q(status__in=(SourceStatus.QUEUED, SourceStatus.SYNCING), lease_until__lt=now)
        | Q(status=SourceStatus.QUEUED, lease_until__isnull=True, updated_at__lt=now - _lease())
    )
    queued = []
    for source_id in due.values_list("id", flat=True):
        with transaction.atomic():
            source = Source.objects.select_for_update().get(pk=source_id)
            queued.append((source.id, request_sync(source, enqueue)))
    return queued


def request_sync(source: Source, enqueue: Callable[[UUID, int], Any]) -> int:
    """A new sync generation for a locked source row; `enqueue(source, generation)` after commit
    (the huey task; if the queue cannot take it, the sweep finds the source after its lease)."""
    source.sync_generation += 1
    source.status, source.lease_until = SourceStatus.QUEUED, None
    source.save(update_fields=["sync_generation", "status", "lease_until", "updated_at"])
    publish(source)
    source_id, generation = source.id, source.sync_generation
    transaction.on_commit(lambda: enqueue(source_id, generation), robust=True)
    return generation
