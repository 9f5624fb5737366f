"""The engine's Retrievers port, implemented with the knowledge search service."""

from __future__ import annotations

from uuid import UUID

from langchain_core.documents import Document

from apps.config.db import in_db_thread
from apps.config.errors import InvalidInput, NotFound
from apps.knowledge.rerank import RerankFailed
from apps.knowledge.search import RERANK_TOP_N, SearchHit, knowledge_search
from apps.knowledge.selectors import knowledge_base_get
from apps.tenancy.models import Organization
from flows.errors import FlowError


def hit_to_document(hit: SearchHit, knowledge_base: UUID) -> Document:
    """A LangChain document whose metadata is the citation: document, page (PDF), section and
    anchor (HTML), chunk id, and the passage that matched."""
    where = f", page {hit.page}" if hit.page else ""
    section = hit.heading_path[-1] if hit.heading_path else ""
    if section:
        where += f", {section}"
    return Document(
        page_content=hit.text,
        metadata={
            "source": f"{hit.document_name}{where}",
            "knowledge_base": str(knowledge_base),
            "document_id": hit.document_id,
            "document_name": hit.document_name,
            "page": hit.page,
            "chunk_id": hit.chunk_id,
            # the keys flows.values.citations() reads
            "document": hit.document_id,
            "title": hit.document_name,
            "chunk": hit.chunk_id,
            "heading_path": hit.heading_path,
            "section": section,
            "anchor": hit.anchor,
            "passage": hit.passage,
            "document_title": hit.title,
            "score": hit.score,
            "rerank_score": hit.rerank_score,
        },
    )


RERANK_CONFIG_ERRORS = ("unknown_rerank_model", "egress_refused")


class KnowledgeRetrievers:
    """Searches only the run's organization: another tenant's knowledge base id is 'not found'."""

    def __init__(self, organization_id: UUID) -> None:
        self.organization_id = organization_id

    async def retrieve(
        self,
        knowledge_base: UUID,
        query: str,
        *,
        k: int,
        mode: str,
        score_threshold: float | None,
        rerank: str | None = None,
        rerank_top_n: int = RERANK_TOP_N,
    ) -> list[Document]:
        return await in_db_thread(self._retrieve)(knowledge_base, query, k, mode, score_threshold, rerank, rerank_top_n)

    def _retrieve(
        self,
        knowledge_base: UUID,
        query: str,
        k: int,
        mode: str,
        score_threshold: float | None,
        rerank: str | None,
        rerank_top_n: int,
    ) -> list[Document]:
        organization = Organization.objects.get(pk=self.organization_id)
        try:
            base = knowledge_base_get(organization=organization, knowledge_base_id=knowledge_base)
        except NotFound:
            raise FlowError(f"Knowledge base {knowledge_base} not found.", code="knowledge_base_not_found") from None
        try:
            result = knowledge_search(
                knowledge_base=base,
                query=query,
                k=k,
                mode=mode,
                score_threshold=score_threshold,
                rerank=rerank,
                rerank_top_n=rerank_top_n,
            )
        except (RerankFailed, InvalidInput) as exc:
            if isinstance(exc, InvalidInput) and exc.code not in RERANK_CONFIG_ERRORS:
                raise
            raise FlowError(exc.message, code=exc.code) from None
        return [hit_to_document(hit, knowledge_base) for hit in result.hits]
