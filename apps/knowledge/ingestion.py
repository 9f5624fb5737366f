"""The ingestion job, resumable and idempotent: the database is the source of truth.

A job works on one (document, generation). It claims a lease, parses once (in the sandbox; the
sections are stored), cuts the chunks deterministically, and embeds them in batches; each batch
commits its chunks and the progress together. A worker killed mid-way leaves committed batches
behind; whoever claims the document next (after the lease runs out) counts them and carries on
from there. Chunks are unique per (document, generation, ordinal), so nothing is ever doubled,
and they become searchable together when the generation completes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.knowledge import priority, realtime
from apps.knowledge.chunking import HEADING, ChunkDraft, ChunkSettings, chunk_sections, embedding_text
from apps.knowledge.embeddings import BATCH_SIZE, EmbeddingFailed, LocalEmbedder, embedder_for, local_thread_start
from apps.knowledge.keywords import keyword_text, search_config, stats_activate
from apps.knowledge.models import (
    ACTIVE_STATUSES,
    LOCAL_EMBEDDING_MODEL,
    Chunk,
    Document,
    DocumentFile,
    DocumentStatus,
    FileType,
    KnowledgeBase,
    Source,
    SourceKind,
)
from apps.knowledge.parsing import ParseFailed, Section, parse_in_sandbox

logger = logging.getLogger(__name__)
PARSED_SHARE = 0.1  # of the progress bar


def _lease() -> timedelta:
    return timedelta(seconds=settings.KNOWLEDGE_LEASE_SECONDS)


def _claim(document_id: UUID | str, generation: int) -> bool:
    now = timezone.now()
    return (
        Document.objects.filter(pk=document_id, generation=generation, status__in=ACTIVE_STATUSES)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + _lease(), updated_at=now)
        == 1
    )


def _current(document_id: UUID | str, generation: int) -> Document | None:
    """The document row locked, if this generation is still the one to build."""
    document = Document.objects.select_for_update().filter(pk=document_id).first()
    return document if document is not None and document.generation == generation else None


@transaction.atomic
def _set(document_id: UUID | str, generation: int, **fields: object) -> Document | None:
    document = _current(document_id, generation)
    if document is None:
        return None
    for name, value in fields.items():
        setattr(document, name, value)
    document.lease_until = timezone.now() + _lease()
    document.save()
    realtime.publish(document)
    return document


def _fail(document_id: UUID | str, generation: int, code: str, message: str) -> None:
    _set(
        document_id, generation, status=DocumentStatus.FAILED, error_code=code, error_message=message, lease_until=None
    )


def _sections(document: Document) -> list[Section] | None:
    if document.sections is not None and document.parsed_version == document.version:
        return [Section.from_stored(s) for s in document.sections]
    _set(document.id, document.generation, status=DocumentStatus.PARSING, progress=0.0)
    data = DocumentFile.objects.filter(document=document).values_list("data", flat=True).first()
    if data is None:
        _fail(document.id, document.generation, "file_missing", "The stored file is missing; upload it again.")
        return None
    try:
        sections = parse_in_sandbox(bytes(data), _parse_mode(document))
    except ParseFailed as failed:
        _fail(document.id, document.generation, failed.code, failed.message)
        return None
    pages = max((s.page or 0) for s in sections) if document.file_type == FileType.PDF else None
    stored = _set(
        document.id,
        document.generation,
        sections=[s.stored() for s in sections],
        title=_title(sections, document.name),
        parsed_version=document.version,
        page_count=pages,
        progress=PARSED_SHARE,
    )
    return sections if stored is not None else None


def _parse_mode(document: Document) -> str:
    """A crawled page has its main content found first (trafilatura); an uploaded file is parsed whole."""
    if document.file_type == FileType.HTML and document.source_id is not None:
        kind = Source.objects.filter(pk=document.source_id).values_list("kind", flat=True).first()
        if kind == SourceKind.WEB:
            return "web"
    return str(document.file_type)


PARSE_AHEAD = 8  # queued documents of the same base parsed and chunked while this one is built
# Of those, up to EMBED_AHEAD not yet taken by another pipeline are embedded together, in one call
# (the local embedder only), at most EMBED_AHEAD_CHUNKS chunks (the first document's all): one call's
# passes sort all their chunks by length, so a page's short last chunk shares a pass with other
# pages' short ones instead of taking one of its own (docs/BENCHMARKS.md, issue 19, ninth session).
EMBED_AHEAD = 4
EMBED_AHEAD_CHUNKS = 128
PREPARED_KEPT = 16  # documents prepared ahead kept per process (the oldest dropped)
PreparedKey = tuple[int, int, ChunkSettings, str]  # generation, version, chunk settings, title


@dataclass
class Prepared:
    """A queued document cut into chunks (and perhaps embedded) ahead of its job, in this
    process. The job uses it only if it was made from the same `key`."""

    key: PreparedKey
    drafts: list[ChunkDraft] | None = None
    vectors: list[list[float]] | None = None
    model: str = ""  # the embedding model of `vectors`
    ready: threading.Event = field(default_factory=threading.Event)


_prepared: dict[str, Prepared] = {}
_prepared_lock = threading.Lock()


def _prepared_take(document_id: UUID | str, key: PreparedKey) -> Prepared | None:
    """What was prepared ahead for this document (waiting for it while it is being made), if it
    was made from the same generation, version, chunk settings and title."""
    with _prepared_lock:
        entry = _prepared.pop(str(document_id), None)
    if entry is None or not entry.ready.wait(_lease().total_seconds() / 2):
        return None
    return entry if entry.key == key and entry.drafts is not None else None


def _prepared_begin(document_id: UUID, key: PreparedKey, *, vectors: bool) -> Prepared | None:
    """A fresh entry for this thread to fill (it keeps the chunks of a finished one with the same
    key), or None when there is nothing to do: an entry with the same key is being made by
    another thread, or already holds what is asked."""
    with _prepared_lock:
        entry = _prepared.get(str(document_id))
        same = entry is not None and entry.key == key
        if entry is not None and same and (not entry.ready.is_set() or entry.vectors is not None or not vectors):
            return None
        drafts = entry.drafts if entry is not None and same else None
        entry = _prepared[str(document_id)] = Prepared(key, drafts)
        while len(_prepared) > PREPARED_KEPT:
            _prepared.pop(next(iter(_prepared))).ready.set()
        return entry


def _chunk_settings(knowledge_base: KnowledgeBase) -> ChunkSettings:
    return ChunkSettings(knowledge_base.chunk_strategy, knowledge_base.chunk_size, knowledge_base.chunk_overlap)


def _texts(drafts: list[ChunkDraft], title: str) -> list[str]:
    return [embedding_text(draft.text, title=title, heading_path=draft.heading_path) for draft in drafts]


class ParseAhead:
    """The pipeline: while a job builds its document, a thread prepares the next queued documents
    of the same knowledge base, so that the embedder does not wait for the rest of the job
    (parsing, chunking, writing, the statistics: work for the other cores). The next PARSE_AHEAD
    documents are parsed (in the sandbox's warm pool; the sections stored, so their own jobs skip
    the parse) and cut into chunks; the first EMBED_AHEAD of them that no other pipeline has
    embedded or is embedding are embedded together, in one call, when the base uses the local
    embedder (the same vectors as the job's own calls to float rounding, ~2e-7). Fewer are not
    embedded while more documents are queued (the next pipeline takes them with the ones after),
    so the calls stay EMBED_AHEAD documents long and the next one waits queued behind the one
    running. Chunks and vectors stay in this process (`Prepared`) for the document's own job,
    which takes them only if they were made from its generation, version, chunk settings and
    title, and writes and checks everything as before (the model switch of a re-embed included).
    It claims nothing: it writes sections only to a document still queued at the same version
    and not parsed yet, and a parse or embedding that fails keeps no vectors (each document's own
    job embeds it again, on its own, and fails it alone with the reason)."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None

    def start(self, knowledge_base_id: UUID, document_id: UUID | str) -> None:
        if PARSE_AHEAD <= 0:
            return
        self.thread = threading.Thread(
            target=self._run, args=(knowledge_base_id, document_id), name="parse-ahead", daemon=True
        )
        self.thread.start()

    def release(self) -> None:
        """The job is done: its pipeline goes on embedding the next document while the queue
        worker takes the next task (joining the pipeline here left the embedder idle from the
        end of its embedding to the next job's; docs/BENCHMARKS.md, issue 19). Finished
        pipelines are joined here, and the oldest live ones beyond AHEAD_KEPT waited for."""
        with _ahead_lock:
            if self.thread is not None:
                _ahead.append(self.thread)
            _ahead[:] = [thread for thread in _ahead if thread.is_alive()]
            waits = _ahead[: max(0, len(_ahead) - AHEAD_KEPT)]
        for thread in waits:
            thread.join()

    @staticmethod
    def _run(knowledge_base_id: UUID, document_id: UUID | str) -> None:
        from django.db import connection as thread_connection

        priority.to_side()  # where the job's thread could not be lowered (the thread ends with its work)
        try:
            upcoming = list(
                Document.objects.filter(knowledge_base_id=knowledge_base_id, status=DocumentStatus.QUEUED)
                .exclude(pk=document_id)
                .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now()))
                .order_by("created_at", "id")
                .values_list("id", flat=True)[:PARSE_AHEAD]
            )
            thread_connection.close()
            window = _window(upcoming, last=len(upcoming) < PARSE_AHEAD)
            # The documents only parsed and chunked are prepared beside the embedding, not after it.
            later = threading.Thread(
                target=_prepare_ahead,
                args=([d for d in upcoming if d not in window],),
                name="parse-ahead-2",
                daemon=True,
            )
            later.start()
            _embed_ahead(window)
            later.join()
        except Exception:  # a pipeline optimisation: the document's own job does the real work
            logger.exception("parse-ahead for knowledge base %s failed", knowledge_base_id)
        finally:
            thread_connection.close()


AHEAD_KEPT = 2  # pipelines of finished jobs left running (each embeds at most EMBED_AHEAD documents)
_ahead: list[threading.Thread] = []
_ahead_lock = threading.Lock()


def pipeline_drain() -> None:
    """Waits for every pipeline that finished jobs left running (tests and benchmarks). Nothing
    calls it at shutdown: the pipelines are daemon threads, and what one leaves undone (a parse or
    an embedding kept in memory) the document's own job does again."""
    while True:
        with _ahead_lock:
            if not _ahead:
                return
            thread = _ahead.pop(0)
        thread.join()


def _window(upcoming: list[UUID], *, last: bool) -> list[UUID]:
    """The documents this pipeline embeds: the first EMBED_AHEAD of `upcoming` that no pipeline
    has embedded or is preparing; while fewer are free, none if more are queued (`last`: the
    queue ends within `upcoming`), so that the next pipeline embeds them with the ones after, and
    one at the end of the queue: the documents of a call are written after it, and the last
    call's writes are the embedder's idle time at the end (0.19 s per 20 pages with windows of 4
    to the end against 0.07 s one document a call; docs/BENCHMARKS.md, issue 19, ninth session)."""
    with _prepared_lock:
        free = [
            document_id
            for document_id in upcoming
            if (entry := _prepared.get(str(document_id))) is None or (entry.ready.is_set() and entry.vectors is None)
        ]
    if len(free) >= EMBED_AHEAD:
        return free[:EMBED_AHEAD]
    return free[:1] if last else []


def _embed_ahead(document_ids: list[UUID]) -> None:
    """Parse and chunk these documents (in order, up to EMBED_AHEAD_CHUNKS chunks in all) and embed
    the chunks of those on the local embedder in one call. A document that fails to prepare is
    left out; if the call fails, no document keeps vectors (each one's own job embeds it alone)."""
    from django.db import connection as thread_connection

    window: list[tuple[Prepared, list[str]]] = []
    try:
        for document_id in document_ids:
            try:
                made = _prepare_ahead_one(document_id, embed=True)
            except Exception:  # as in ParseAhead._run: this document's own job does it (and fails it)
                logger.exception("preparing document %s ahead failed", document_id)
                continue
            if made is not None:
                window.append(made)
                if sum(len(texts) for _, texts in window) >= EMBED_AHEAD_CHUNKS:
                    break
        if window:
            vectors = LocalEmbedder().embed([text for _, texts in window for text in texts])
            start = 0
            for entry, texts in window:
                entry.vectors, entry.model = vectors[start : start + len(texts)], LOCAL_EMBEDDING_MODEL
                start += len(texts)
    except Exception:
        logger.exception("embedding documents %s ahead failed", document_ids)
        for entry, _ in window:
            entry.vectors = None
    finally:
        for entry, _ in window:
            entry.ready.set()
        thread_connection.close()


def _prepare_ahead(document_ids: list[UUID]) -> None:
    """Parse and chunk these documents (no embedding)."""
    from django.db import connection as thread_connection

    try:
        for document_id in document_ids:
            _prepare_ahead_one(document_id, embed=False)
    except Exception:  # as in ParseAhead._run
        logger.exception("preparing documents %s ahead failed", document_ids)
    finally:
        thread_connection.close()


def _prepare_ahead_one(document_id: UUID, *, embed: bool) -> tuple[Prepared, list[str]] | None:
    """Parse (if it is not yet) and chunk a queued document into its `Prepared` entry. Where it is
    to be embedded (`embed`, the base on the local embedder, some chunks) this answers the entry,
    not ready yet, and its embedding texts: the caller fills in the vectors and sets it ready.
    Otherwise the entry is ready when this returns, and the answer is None."""
    document = Document.objects.select_related("knowledge_base").filter(pk=document_id).first()
    if document is None or document.status != DocumentStatus.QUEUED:
        return None
    if document.sections is not None and document.parsed_version == document.version:
        sections = [Section.from_stored(s) for s in document.sections]
    elif not _parse_ahead_one(document):
        return None
    else:
        sections = [Section.from_stored(s) for s in document.sections or []]
    knowledge_base = document.knowledge_base
    embed = embed and knowledge_base.embedding_model == LOCAL_EMBEDDING_MODEL
    title = _document_title(document)
    entry = _prepared_begin(
        document_id, (document.generation, document.version, _chunk_settings(knowledge_base), title), vectors=embed
    )
    if entry is None:
        return None
    try:
        if entry.drafts is None:
            entry.drafts = chunk_sections(sections, entry.key[2])
    except Exception:
        with _prepared_lock:
            if _prepared.get(str(document_id)) is entry:
                del _prepared[str(document_id)]
        entry.ready.set()
        raise
    if embed and entry.drafts:
        return entry, _texts(entry.drafts, title)
    entry.ready.set()
    return None


def _parse_ahead_one(document: Document) -> bool:
    """Parse a queued document and store its sections and title on it (in `document` too)."""
    data = DocumentFile.objects.filter(document=document).values_list("data", flat=True).first()
    if data is None:
        return False
    try:
        sections = parse_in_sandbox(bytes(data), _parse_mode(document))
    except ParseFailed:
        return False
    pages = max((s.page or 0) for s in sections) if document.file_type == FileType.PDF else None
    document.sections = [s.stored() for s in sections]
    document.title = _title(sections, document.name)
    stored = (
        Document.objects.filter(pk=document.id, version=document.version, status=DocumentStatus.QUEUED)
        .filter(Q(parsed_version__isnull=True) | ~Q(parsed_version=F("version")))
        .update(sections=document.sections, title=document.title, parsed_version=document.version, page_count=pages)
    )
    return stored == 1


def _title(sections: list[Section], name: str) -> str:
    """The parser's title, else the first Markdown heading, else the file name."""
    if sections and sections[0].title:
        return sections[0].title[:255]
    for section in sections[:3]:
        match = HEADING.search(section.text)
        if match:
            return match.group(2).strip()[:255]
    return name[:255]


def _document_title(document: Document) -> str:
    return document.title or document.name


def _rows(document: Document, drafts: list[ChunkDraft], start: int, vectors: list[list[float]]) -> list[Chunk]:
    title, config = _document_title(document), search_config(document.knowledge_base.language)
    return [
        Chunk(
            organization_id=document.organization_id,
            knowledge_base_id=document.knowledge_base_id,
            document_id=document.id,
            file_type=document.file_type,
            generation=document.generation,
            document_version=document.version,
            ordinal=start + i,
            text=draft.text,
            embedding=vector,
            dims=len(vector),
            page=draft.page,
            heading_path=draft.heading_path,
            start_char=draft.start_char,
            end_char=draft.end_char,
            token_count=draft.token_count,
            anchor=draft.anchor[:255],
            search_config=config,
            search_text=keyword_text(draft.text, title=title, heading_path=draft.heading_path),
        )
        for i, (draft, vector) in enumerate(zip(drafts, vectors, strict=True))
    ]


def document_ingest(document_id: UUID | str, generation: int) -> str:
    """Build one generation of a document; answers what happened (for logs and tests)."""
    ahead = ParseAhead()
    try:
        return _document_ingest(document_id, generation, ahead)
    finally:
        ahead.release()


def _document_ingest(document_id: UUID | str, generation: int, ahead: ParseAhead) -> str:
    if not _claim(document_id, generation):
        return "skipped"
    document = Document.objects.select_related("knowledge_base").get(pk=document_id)
    if document.knowledge_base.embedding_model == LOCAL_EMBEDDING_MODEL:
        local_thread_start()  # at this thread's priority, before it is lowered
    # The embedder's core for the embedder: the rest of the job runs at a lower priority (the
    # pipeline's threads, started from here, inherit it; apps/knowledge/priority.py).
    with priority.lowered():
        return _document_build(document, generation, ahead)


def _document_build(document: Document, generation: int, ahead: ParseAhead) -> str:
    document_id, knowledge_base = document.id, document.knowledge_base
    ahead.start(knowledge_base.id, document_id)
    sections = _sections(document)
    if sections is None:
        return (
            "failed" if Document.objects.filter(pk=document_id, status=DocumentStatus.FAILED).exists() else "superseded"
        )
    document.refresh_from_db(fields=["title"])
    title = _document_title(document)
    chunk_settings = _chunk_settings(knowledge_base)
    prepared = _prepared_take(document_id, (generation, document.version, chunk_settings, title))
    drafts = prepared.drafts if prepared is not None and prepared.drafts is not None else None
    if drafts is None:
        drafts = chunk_sections(sections, chunk_settings)
    if not drafts:
        _fail(document_id, generation, "no_text", "The file contains no text to index.")
        return "failed"
    try:
        embedder = embedder_for(organization=knowledge_base.organization, model=knowledge_base.embedding_model)
    except Exception as exc:
        _fail(document_id, generation, "unknown_embedding_model", str(exc))
        return "failed"
    # Vectors embedded ahead, with this model, for these chunks (a model switch drops them).
    ready = prepared.vectors if prepared is not None and prepared.model == knowledge_base.embedding_model else None
    done = Chunk.objects.filter(document_id=document_id, generation=generation).count()
    total = len(drafts)
    _set(document_id, generation, status=DocumentStatus.EMBEDDING, progress=_progress(done, total))
    for start in range(done - done % BATCH_SIZE, total, BATCH_SIZE):
        batch = drafts[start : start + BATCH_SIZE]
        while True:
            try:
                vectors = (
                    ready[start : start + BATCH_SIZE] if ready is not None else embedder.embed(_texts(batch, title))
                )
            except EmbeddingFailed as exc:
                _fail(document_id, generation, "embedding_failed", str(exc))
                return "failed"
            with transaction.atomic():
                # A re-embed job may have switched the base's model meanwhile (reembed.py): then
                # this batch is embedded again with the new one before it is written. (The base's
                # row first, then the document's: the order every writer takes them in.)
                now_model = _model_for_share(knowledge_base.pk)
                current = _current(document_id, generation)
                if current is None:
                    return "superseded"
                if now_model == knowledge_base.embedding_model:
                    current.knowledge_base = knowledge_base
                    Chunk.objects.bulk_create(_rows(current, batch, start, vectors), ignore_conflicts=True)
                    current.progress = _progress(start + len(batch), total)
                    current.lease_until = timezone.now() + _lease()
                    current.save(update_fields=["progress", "lease_until", "updated_at"])
                    realtime.publish(current)
                    break
            knowledge_base.embedding_model, ready = now_model, None
            try:
                embedder = embedder_for(organization=knowledge_base.organization, model=now_model)
            except Exception as exc:
                _fail(document_id, generation, "unknown_embedding_model", str(exc))
                return "failed"
    return "ready" if _finish(document_id, generation) else "superseded"


def _model_for_share(knowledge_base_id: UUID) -> str:
    """The base's embedding model, its row held FOR SHARE until the transaction ends (a re-embed
    job's switch takes it FOR UPDATE, so a batch is written wholly before or after a switch)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT embedding_model FROM knowledge_knowledgebase WHERE id = %s FOR SHARE", [knowledge_base_id]
        )
        row = cursor.fetchone()
    return str(row[0]) if row else ""


def _progress(done: int, total: int) -> float:
    return PARSED_SHARE + (1 - PARSED_SHARE) * done / max(1, total)


@transaction.atomic
def _finish(document_id: UUID | str, generation: int) -> bool:
    document = _current(document_id, generation)
    if document is None:
        return False
    mine = Chunk.objects.filter(document=document, generation=generation)
    stats_activate(document.knowledge_base_id, document.id, generation)
    mine.update(active=True)
    Chunk.objects.filter(document=document).exclude(generation=generation).delete()
    document.status, document.progress, document.lease_until = DocumentStatus.READY, 1.0, None
    document.chunk_count = mine.count()
    document.save()
    realtime.publish(document)
    return True


def documents_to_resume() -> list[tuple[UUID, int]]:
    """Unfinished documents nobody holds: their worker died (or their queue message was lost)."""
    now = timezone.now()
    stalled = Document.objects.filter(status__in=ACTIVE_STATUSES).filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, updated_at__lt=now - _lease())
    )
    return list(stalled.values_list("id", "generation"))
