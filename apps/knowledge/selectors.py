"""Reads. Every query starts from the organization (or an object already fetched through it)."""

from __future__ import annotations

import uuid

from django.db.models import Count, Q, QuerySet

from apps.config.errors import NotFound
from apps.knowledge.models import ACTIVE_STATUSES, Chunk, Document, DocumentStatus, KnowledgeBase, ReembedJob, Source
from apps.tenancy.models import Organization


def _uuid(value: object, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} not found.") from None


def knowledge_base_list(*, organization: Organization) -> QuerySet[KnowledgeBase]:
    return (
        KnowledgeBase.objects.filter(organization=organization)
        .annotate(
            document_count=Count("documents"),
            ready_count=Count("documents", filter=Q(documents__status=DocumentStatus.READY)),
            failed_count=Count("documents", filter=Q(documents__status=DocumentStatus.FAILED)),
            active_count=Count("documents", filter=Q(documents__status__in=ACTIVE_STATUSES)),
        )
        .order_by("-updated_at", "-created_at")
    )


def knowledge_base_get(*, organization: Organization, knowledge_base_id: object) -> KnowledgeBase:
    pk = _uuid(knowledge_base_id, "Knowledge base")
    knowledge_base = knowledge_base_list(organization=organization).filter(pk=pk).first()
    if knowledge_base is None:
        raise NotFound("Knowledge base not found.")
    return knowledge_base


def document_list(*, knowledge_base: KnowledgeBase) -> QuerySet[Document]:
    return (
        Document.objects.filter(knowledge_base=knowledge_base, organization_id=knowledge_base.organization_id)
        .defer("sections")
        .order_by("-created_at", "name")
    )


def document_get(*, knowledge_base: KnowledgeBase, document_id: object) -> Document:
    pk = _uuid(document_id, "Document")
    document = document_list(knowledge_base=knowledge_base).filter(pk=pk).first()
    if document is None:
        raise NotFound("Document not found.")
    return document


def chunk_list(*, document: Document) -> QuerySet[Chunk]:
    """The searchable chunks of the document's live generation, in reading order."""
    return (
        Chunk.objects.filter(
            organization_id=document.organization_id,
            knowledge_base_id=document.knowledge_base_id,
            document=document,
            active=True,
        )
        .defer("embedding")
        .order_by("ordinal")
    )


def source_list(*, knowledge_base: KnowledgeBase) -> QuerySet[Source]:
    return Source.objects.filter(
        knowledge_base=knowledge_base, organization_id=knowledge_base.organization_id
    ).order_by("created_at")


def source_get(*, knowledge_base: KnowledgeBase, source_id: object) -> Source:
    pk = _uuid(source_id, "Source")
    source = source_list(knowledge_base=knowledge_base).filter(pk=pk).first()
    if source is None:
        raise NotFound("Source not found.")
    return source


def reembed_job_latest(*, knowledge_base: KnowledgeBase) -> ReembedJob | None:
    """The base's newest re-embed job (running, stopped or ended), if it ever had one."""
    return ReembedJob.objects.filter(knowledge_base=knowledge_base).order_by("-created_at").first()
