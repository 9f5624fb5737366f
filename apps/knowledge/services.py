"""Writes: keyword-only, transactional, tenant-scoped; queueing happens after commit."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction

from apps.config.errors import Conflict, InvalidInput
from apps.knowledge import realtime
from apps.knowledge.chunking import ChunkSettings
from apps.knowledge.embeddings import EmbeddingFailed, probe_dimensions
from apps.knowledge.keywords import stats_forget
from apps.knowledge.models import (
    Document,
    DocumentFile,
    DocumentStatus,
    FileType,
    KnowledgeBase,
    ReembedJob,
    Source,
    SourceKind,
)
from apps.knowledge.parsing import file_type_for
from apps.knowledge.selectors import document_get, knowledge_base_get, source_get
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import audit_record

MAX_FILES_PER_UPLOAD = 100
REINDEX_FIELDS = frozenset({"chunk_strategy", "chunk_size", "chunk_overlap", "language"})
SEARCH_FIELDS = ("bm25_k1", "bm25_b")  # read at query time: no re-index


class UploadedFile(Protocol):
    @property
    def name(self) -> str | None: ...

    @property
    def size(self) -> int | None: ...

    def chunks(self, chunk_size: int | None = None) -> Any: ...


@dataclass(frozen=True)
class Upload:
    document: Document
    created: bool


def _enqueue(document: Document) -> None:
    from apps.knowledge.tasks import ingest_document

    document_id, generation = document.id, document.generation
    # robust: the row is committed and says what is left to do; if the queue (Redis) cannot take
    # the wake-up now, the error is logged and the worker's sweep (documents_to_resume) picks
    # the document up after its lease, instead of the upload answering 500.
    transaction.on_commit(lambda: ingest_document(document_id, generation), robust=True)


def _check_settings(values: dict[str, Any]) -> None:
    try:
        ChunkSettings(values["chunk_strategy"], values["chunk_size"], values["chunk_overlap"])
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_chunking") from None


def _embedding_dims(access: OrgAccess, model: str) -> int:
    """The model's vector size, asked of it (an endpoint that cannot answer is a 400 with why)."""
    try:
        return probe_dimensions(organization=access.organization, model=model)
    except EmbeddingFailed as failed:
        raise InvalidInput(failed.message, code=failed.code) from None


@transaction.atomic
def knowledge_base_create(
    *,
    access: OrgAccess,
    name: str,
    description: str = "",
    embedding_model: str = "local",
    chunk_strategy: str = "sentence",
    chunk_size: int = 256,
    chunk_overlap: int = 32,
    language: str = "english",
    bm25_k1: float = 1.2,
    bm25_b: float = 0.75,
) -> KnowledgeBase:
    access.require(Role.EDITOR)
    values = {
        "chunk_strategy": chunk_strategy,
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "language": language,
    }
    _check_settings(values)
    knowledge_base = KnowledgeBase.objects.create(
        organization=access.organization,
        name=name.strip(),
        description=description.strip(),
        created_by=access.actor.user,
        bm25_k1=bm25_k1,
        bm25_b=bm25_b,
        embedding_model=embedding_model,
        embedding_dims=_embedding_dims(access, embedding_model),
        **values,
    )
    return knowledge_base_get(organization=access.organization, knowledge_base_id=knowledge_base.id)


def _locked_kb(access: OrgAccess, knowledge_base_id: object) -> KnowledgeBase:
    knowledge_base = knowledge_base_get(organization=access.organization, knowledge_base_id=knowledge_base_id)
    return KnowledgeBase.objects.select_for_update().get(pk=knowledge_base.pk)


@transaction.atomic
def knowledge_base_update(*, access: OrgAccess, knowledge_base_id: object, **changes: Any) -> KnowledgeBase:
    """Rename/describe; new chunking re-indexes every document. Another embedding model is a
    re-embed job (knowledge_base_reembed), so search never mixes two models' vectors."""
    access.require(Role.EDITOR)
    knowledge_base = _locked_kb(access, knowledge_base_id)
    if changes.get("embedding_model") not in (None, knowledge_base.embedding_model):
        raise InvalidInput(
            "Another embedding model re-embeds every chunk: start it as a re-embed job "
            "(POST .../reembed/, or 'Re-embed' in the base's settings).",
            code="reembed_required",
        )
    values = {field: changes.get(field, getattr(knowledge_base, field)) for field in REINDEX_FIELDS}
    needs_reindex = any(values[f] != getattr(knowledge_base, f) for f in REINDEX_FIELDS)
    if needs_reindex:
        _check_settings(values)
    for field in ("name", "description"):
        if changes.get(field) is not None:
            setattr(knowledge_base, field, str(changes[field]).strip())
    for field in SEARCH_FIELDS:
        if changes.get(field) is not None:
            setattr(knowledge_base, field, float(changes[field]))
    for field, value in values.items():
        setattr(knowledge_base, field, value)
    knowledge_base.save()
    if needs_reindex:
        _reindex(access, knowledge_base)
    return knowledge_base_get(organization=access.organization, knowledge_base_id=knowledge_base.id)


def _reindex(access: OrgAccess, knowledge_base: KnowledgeBase) -> int:
    knowledge_base.settings_version += 1
    knowledge_base.save(update_fields=["settings_version", "updated_at"])
    documents = list(
        Document.objects.select_for_update().filter(knowledge_base=knowledge_base).exclude(error_code="file_too_large")
    )
    for document in documents:
        _restart(document)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="knowledge_base.reindex",
        target=knowledge_base,
        data={"documents": len(documents), "settings_version": knowledge_base.settings_version},
    )
    return len(documents)


@transaction.atomic
def knowledge_base_reindex(*, access: OrgAccess, knowledge_base_id: object) -> int:
    access.require(Role.EDITOR)
    return _reindex(access, _locked_kb(access, knowledge_base_id))


@transaction.atomic
def knowledge_base_delete(*, access: OrgAccess, knowledge_base_id: object) -> None:
    access.require(Role.EDITOR)
    knowledge_base = _locked_kb(access, knowledge_base_id)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="knowledge_base.delete",
        target=knowledge_base,
        data={"name": knowledge_base.name, "documents": knowledge_base.documents.count()},
    )
    knowledge_base.delete()


def _restart(document: Document) -> None:
    """A new generation: its chunks replace the current ones once complete (search keeps
    answering from the old ones meanwhile)."""
    document.generation += 1
    document.status = DocumentStatus.QUEUED
    document.progress = 0.0
    document.error_code = document.error_message = ""
    document.lease_until = None
    document.save()
    realtime.publish(document)
    _enqueue(document)


def _read(file: UploadedFile, limit: int) -> tuple[bytes | None, str, int]:
    """(bytes or None when over the limit, sha256, size) reading the upload once."""
    digest, parts, size = hashlib.sha256(), [], 0
    for part in file.chunks():
        size += len(part)
        digest.update(part)
        if size <= limit:
            parts.append(part)
    return (b"".join(parts) if size <= limit else None), digest.hexdigest(), size


@transaction.atomic
def document_upload(*, access: OrgAccess, knowledge_base_id: object, files: Sequence[UploadedFile]) -> list[Upload]:
    """Each file becomes a queued document, or a failed one with its reason (too large,
    unsupported type); the same bytes uploaded again answer the existing document."""
    access.require(Role.EDITOR)
    if not files:
        raise InvalidInput("Choose at least one file.", code="no_files")
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise InvalidInput(f"Upload at most {MAX_FILES_PER_UPLOAD} files at once.", code="too_many_files")
    knowledge_base = _locked_kb(access, knowledge_base_id)
    limit = settings.KNOWLEDGE_MAX_UPLOAD_MB * 1024 * 1024
    uploads: list[Upload] = []
    for file in files:
        name = (file.name or "untitled")[:255]
        data, checksum, size = _read(file, limit)
        existing = Document.objects.filter(knowledge_base=knowledge_base, checksum=checksum).first()
        if existing is not None:
            uploads.append(Upload(existing, created=False))
            continue
        file_type = file_type_for(name)
        document = Document(
            organization=access.organization,
            knowledge_base=knowledge_base,
            name=name,
            file_type=file_type,
            size_bytes=size,
            checksum=checksum,
            created_by=access.actor.user,
        )
        if data is None:
            _fail_new(
                document, "file_too_large", f"The file is {size / 2**20:.1f} MB; the limit is {limit // 2**20} MB."
            )
        elif file_type == FileType.UNKNOWN:
            _fail_new(
                document,
                "unsupported_type",
                "Unsupported file type: upload PDF, Word (.docx), Markdown, HTML, text or CSV.",
            )
        else:
            document.save()
            DocumentFile.objects.create(document=document, data=data)
            _enqueue(document)
        realtime.publish(document)
        uploads.append(Upload(document, created=True))
    knowledge_base.save(update_fields=["updated_at"])
    return uploads


def _fail_new(document: Document, code: str, message: str) -> None:
    document.status, document.error_code, document.error_message = DocumentStatus.FAILED, code, message
    document.save()


@transaction.atomic
def document_retry(*, access: OrgAccess, knowledge_base_id: object, document_id: object) -> Document:
    access.require(Role.EDITOR)
    knowledge_base = knowledge_base_get(organization=access.organization, knowledge_base_id=knowledge_base_id)
    document = Document.objects.select_for_update().get(
        pk=document_get(knowledge_base=knowledge_base, document_id=document_id).pk
    )
    if not DocumentFile.objects.filter(document=document).exists():
        raise Conflict(
            "This file was never stored (too large or unsupported); upload a new file.", code="not_retryable"
        )
    _restart(document)
    return document


@transaction.atomic
def document_replace(
    *, access: OrgAccess, knowledge_base_id: object, document_id: object, file: UploadedFile
) -> Document:
    """A new version of the document's file; its old chunks answer searches until it is ready."""
    access.require(Role.EDITOR)
    knowledge_base = knowledge_base_get(organization=access.organization, knowledge_base_id=knowledge_base_id)
    document = Document.objects.select_for_update().get(
        pk=document_get(knowledge_base=knowledge_base, document_id=document_id).pk
    )
    limit = settings.KNOWLEDGE_MAX_UPLOAD_MB * 1024 * 1024
    data, checksum, size = _read(file, limit)
    if data is None:
        raise InvalidInput(
            f"The file is {size / 2**20:.1f} MB; the limit is {limit // 2**20} MB.", code="file_too_large"
        )
    name = (file.name or document.name)[:255]
    file_type = file_type_for(name)
    if file_type == FileType.UNKNOWN:
        raise InvalidInput("Unsupported file type.", code="unsupported_type")
    if checksum == document.checksum:
        return document
    if Document.objects.filter(knowledge_base=knowledge_base, checksum=checksum).exists():
        raise Conflict("Another document of this knowledge base has exactly this file.", code="duplicate_document")
    DocumentFile.objects.update_or_create(document=document, defaults={"data": data})
    document.name, document.file_type, document.size_bytes, document.checksum = name, file_type, size, checksum
    document.version += 1
    document.sections, document.page_count = None, None
    _restart(document)
    return document


@transaction.atomic
def document_delete(*, access: OrgAccess, knowledge_base_id: object, document_id: object) -> None:
    access.require(Role.EDITOR)
    knowledge_base = knowledge_base_get(organization=access.organization, knowledge_base_id=knowledge_base_id)
    document = document_get(knowledge_base=knowledge_base, document_id=document_id)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="document.delete",
        target=document,
        data={"name": document.name, "knowledge_base": str(knowledge_base.id)},
    )
    stats_forget(knowledge_base.id, document.id)
    document.delete()  # chunks and the stored file cascade


# --- sources (apps/knowledge/sources.py) ------------------------------------------------------------


def _check_source_target(access: OrgAccess, kind: str, url: str, path: str) -> tuple[str, str]:
    from apps.knowledge.sources import SourceFailed, resolve_folder
    from apps.serving.egress import EgressPolicy
    from flows.errors import EgressRefused

    if kind == SourceKind.S3 and not url.strip():
        return "", ""  # AWS itself: each request's host is vetted when it is sent
    if kind in (SourceKind.WEB, SourceKind.S3):
        url = url.strip()
        try:
            EgressPolicy().check_url(url)
        except EgressRefused as refused:
            raise InvalidInput(str(refused), code="egress_refused") from None
        return url, ""
    access.require(Role.ADMIN)  # a server folder: the organization's admins only
    try:
        folder = resolve_folder(access.organization, path.strip())
    except SourceFailed as failed:
        raise InvalidInput(failed.message, code=failed.code) from None
    return "", str(folder)


@transaction.atomic
def source_create(
    *,
    access: OrgAccess,
    knowledge_base_id: object,
    kind: str,
    name: str = "",
    url: str = "",
    path: str = "",
    max_pages: int = 50,
    max_depth: int = 2,
    sync_every_minutes: int | None = None,
    bucket: str = "",
    prefix: str = "",
    region: str = "",
    path_style: bool = False,
    access_key_id: str = "",
    secret_access_key: str = "",
) -> Source:
    """A website, folder or S3-compatible bucket source of the base (for a bucket, `url` is the
    endpoint URL, empty for AWS); its first sync is queued at once."""
    from apps.knowledge.s3 import credentials_seal
    from apps.knowledge.sources import request_sync

    access.require(Role.EDITOR)
    knowledge_base = _locked_kb(access, knowledge_base_id)
    url, folder = _check_source_target(access, kind, url, path)
    if kind == SourceKind.S3 and bool(access_key_id) != bool(secret_access_key):
        raise InvalidInput("Give both the access key ID and the secret access key, or neither (a public bucket).")
    source = Source.objects.create(
        organization=access.organization,
        knowledge_base=knowledge_base,
        kind=kind,
        name=(name.strip() or (f"s3://{bucket}/{prefix}" if kind == SourceKind.S3 else "") or url or folder)[:120],
        url=url,
        path=folder,
        max_pages=max_pages,
        max_depth=max_depth,
        sync_every_minutes=sync_every_minutes,
        created_by=access.actor.user,
        bucket=bucket.strip() if kind == SourceKind.S3 else "",
        prefix=prefix if kind == SourceKind.S3 else "",
        region=region.strip() if kind == SourceKind.S3 else "",
        path_style=path_style if kind == SourceKind.S3 else False,
        credentials_encrypted=credentials_seal(access_key_id, secret_access_key) if kind == SourceKind.S3 else "",
    )
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="knowledge_source.create",
        target=source,
        data={
            "kind": kind,
            "url": url,
            "path": folder,
            "knowledge_base": str(knowledge_base.id),
            **({"bucket": source.bucket, "prefix": source.prefix} if kind == SourceKind.S3 else {}),
        },
    )
    request_sync(source, _enqueue_sync)
    return source


def _enqueue_sync(source_id: object, generation: int) -> None:
    from apps.knowledge.tasks import sync_source

    sync_source(source_id, generation)


def _locked_source(access: OrgAccess, knowledge_base_id: object, source_id: object) -> Source:
    knowledge_base = knowledge_base_get(organization=access.organization, knowledge_base_id=knowledge_base_id)
    source = source_get(knowledge_base=knowledge_base, source_id=source_id)
    return Source.objects.select_for_update().get(pk=source.pk)


@transaction.atomic
def source_update(*, access: OrgAccess, knowledge_base_id: object, source_id: object, **changes: Any) -> Source:
    """Name, limits and schedule; the target (URL, folder) is fixed: make a new source instead."""
    from datetime import timedelta

    from django.utils import timezone

    access.require(Role.EDITOR)
    source = _locked_source(access, knowledge_base_id, source_id)
    for field in ("name", "max_pages", "max_depth"):
        if changes.get(field) is not None:
            setattr(source, field, changes[field])
    if "sync_every_minutes" in changes:
        source.sync_every_minutes = changes["sync_every_minutes"]
        base = source.last_sync_at or timezone.now()
        source.next_sync_at = base + timedelta(minutes=source.sync_every_minutes) if source.sync_every_minutes else None
    source.save()
    return source


@transaction.atomic
def source_sync_now(*, access: OrgAccess, knowledge_base_id: object, source_id: object) -> Source:
    from apps.knowledge.sources import request_sync

    access.require(Role.EDITOR)
    source = _locked_source(access, knowledge_base_id, source_id)
    if source.kind == SourceKind.FOLDER:
        access.require(Role.ADMIN)
    request_sync(source, _enqueue_sync)
    return source


@transaction.atomic
def source_delete(*, access: OrgAccess, knowledge_base_id: object, source_id: object) -> int:
    """The source and every document it brought in; answers how many documents went."""
    access.require(Role.EDITOR)
    source = _locked_source(access, knowledge_base_id, source_id)
    documents = list(Document.objects.select_for_update().filter(source=source))
    for document in documents:
        stats_forget(source.knowledge_base_id, document.id)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="knowledge_source.delete",
        target=source,
        data={"name": source.name, "documents": len(documents)},
    )
    source.delete()  # its documents, chunks and files cascade
    return len(documents)


@transaction.atomic
def knowledge_base_set_questions(*, access: OrgAccess, knowledge_base_id: object, questions: Any) -> KnowledgeBase:
    """Replace the base's test questions (checked: each a question and expected documents)."""
    from apps.knowledge.evaluation import clean_questions

    access.require(Role.EDITOR)
    knowledge_base = _locked_kb(access, knowledge_base_id)
    knowledge_base.test_questions = clean_questions(questions)
    knowledge_base.save(update_fields=["test_questions", "updated_at"])
    return knowledge_base


# --- re-embedding onto another model (apps/knowledge/reembed.py) ----------------------------------------


def knowledge_base_reembed(*, access: OrgAccess, knowledge_base_id: object, embedding_model: str) -> ReembedJob:
    """Queue moving the base onto `embedding_model` (its size asked of it first, outside any lock)."""
    from apps.knowledge import reembed

    access.require(Role.EDITOR)
    knowledge_base = knowledge_base_get(organization=access.organization, knowledge_base_id=knowledge_base_id)
    if embedding_model == knowledge_base.embedding_model:
        raise InvalidInput(f"The knowledge base already uses {embedding_model!r}.", code="same_embedding_model")
    dims = reembed.target_dimensions(knowledge_base, embedding_model)
    with transaction.atomic():
        locked = _locked_kb(access, knowledge_base_id)
        job = reembed.start(knowledge_base=locked, model=embedding_model, dims=dims, user=access.actor.user)
        _reembed_enqueue(job)
        audit_record(
            organization=access.organization,
            actor=access.actor,
            action="knowledge_base.reembed",
            target=locked,
            data={"from": locked.embedding_model, "to": embedding_model, "dimensions": dims},
        )
    return job


def _locked_job(access: OrgAccess, knowledge_base_id: object) -> ReembedJob:
    from apps.knowledge.selectors import reembed_job_latest

    knowledge_base = _locked_kb(access, knowledge_base_id)  # the base's row first, then the job's
    job = reembed_job_latest(knowledge_base=knowledge_base)
    if job is None:
        raise Conflict("This knowledge base has no re-embed job.", code="no_reembed_job")
    return ReembedJob.objects.select_for_update().get(pk=job.pk)


@transaction.atomic
def knowledge_base_reembed_cancel(*, access: OrgAccess, knowledge_base_id: object) -> ReembedJob:
    from apps.knowledge import reembed

    access.require(Role.EDITOR)
    return reembed.cancel(_locked_job(access, knowledge_base_id))


@transaction.atomic
def knowledge_base_reembed_resume(*, access: OrgAccess, knowledge_base_id: object) -> ReembedJob:
    from apps.knowledge import reembed

    access.require(Role.EDITOR)
    job = reembed.resume(_locked_job(access, knowledge_base_id))
    _reembed_enqueue(job)
    return job


def _reembed_enqueue(job: ReembedJob) -> None:
    """The job's task, queued when the caller's transaction commits."""
    from apps.knowledge.tasks import reembed_knowledge_base

    job_id = job.id
    transaction.on_commit(lambda: reembed_knowledge_base(job_id), robust=True)
