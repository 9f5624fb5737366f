"""Thin views: one access check, parse the input, call one service or selector, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.config.errors import InvalidInput
from apps.knowledge import selectors, services
from apps.knowledge.api import serializers as s
from apps.knowledge.chunking import ChunkSettings, chunk_preview
from apps.knowledge.embeddings import embedding_choices
from apps.knowledge.models import KnowledgeBase
from apps.knowledge.parsing import Section
from apps.knowledge.search import SearchFilters, knowledge_search
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.models import Role

PREVIEW_LIMIT = 50


def _kb(request: Request, org_id: str, kb_id: str) -> KnowledgeBase:
    access = org_access(request, org_id)
    return selectors.knowledge_base_get(organization=access.organization, knowledge_base_id=kb_id)


def _kb_out(access_org: Any, kb_id: Any) -> Any:
    return s.KnowledgeBaseOut(selectors.knowledge_base_get(organization=access_org, knowledge_base_id=kb_id)).data


class KnowledgeBaseListView(APIView):
    @extend_schema(
        responses={200: s.KnowledgeBaseOut(many=True), **ERRORS}, summary="Knowledge bases with document counts"
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(
            s.KnowledgeBaseOut(selectors.knowledge_base_list(organization=access.organization), many=True).data
        )

    @extend_schema(
        request=s.KnowledgeBaseCreateIn, responses={201: s.KnowledgeBaseOut, **ERRORS}, summary="Create (editor)"
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        knowledge_base = services.knowledge_base_create(access=access, **parse_body(s.KnowledgeBaseCreateIn, request))
        return Response(s.KnowledgeBaseOut(knowledge_base).data, status=status.HTTP_201_CREATED)


class KnowledgeBaseDetailView(APIView):
    @extend_schema(responses={200: s.KnowledgeBaseOut, **ERRORS}, summary="A knowledge base")
    def get(self, request: Request, org_id: str, kb_id: str) -> Response:
        return Response(s.KnowledgeBaseOut(_kb(request, org_id, kb_id)).data)

    @extend_schema(
        request=s.KnowledgeBaseUpdateIn,
        responses={200: s.KnowledgeBaseOut, **ERRORS},
        summary="Update (editor); a new embedding model or chunking re-indexes every document",
    )
    def patch(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.KnowledgeBaseUpdateIn, request)
        knowledge_base = services.knowledge_base_update(access=access, knowledge_base_id=kb_id, **data)
        return Response(s.KnowledgeBaseOut(knowledge_base).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete with its documents and chunks (editor)")
    def delete(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.knowledge_base_delete(access=access, knowledge_base_id=kb_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class KnowledgeBaseReindexView(APIView):
    @extend_schema(request=None, responses={202: s.ReindexOut, **ERRORS}, summary="Re-index every document (editor)")
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        count = services.knowledge_base_reindex(access=access, knowledge_base_id=kb_id)
        return Response({"documents": count}, status=status.HTTP_202_ACCEPTED)


class EmbeddingModelsView(APIView):
    @extend_schema(
        responses={200: s.EmbeddingModelOut(many=True), **ERRORS},
        operation_id="v1_orgs_knowledge_bases_embedding_models_list",
        summary="Embedding models a knowledge base can use: the built-in one and the embedding endpoints, "
        "each asked for its vector size now",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        choices = embedding_choices(organization=access.organization)
        return Response(s.EmbeddingModelOut([c.__dict__ for c in choices], many=True).data)


def _reembed_state(knowledge_base: KnowledgeBase) -> Any:
    return s.ReembedStateOut({"job": selectors.reembed_job_latest(knowledge_base=knowledge_base)}).data


class ReembedView(APIView):
    @extend_schema(responses={200: s.ReembedStateOut, **ERRORS}, summary="The base's newest re-embed job")
    def get(self, request: Request, org_id: str, kb_id: str) -> Response:
        return Response(_reembed_state(_kb(request, org_id, kb_id)))

    @extend_schema(
        request=s.ReembedIn,
        responses={202: s.ReembedStateOut, **ERRORS},
        summary="Re-embed every chunk with another model (editor): a queue job; search uses the old model "
        "until the switch, which is atomic",
    )
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.ReembedIn, request)
        services.knowledge_base_reembed(access=access, knowledge_base_id=kb_id, **data)
        return Response(_reembed_state(_kb(request, org_id, kb_id)), status=status.HTTP_202_ACCEPTED)


class ReembedCancelView(APIView):
    @extend_schema(
        request=None, responses={200: s.ReembedStateOut, **ERRORS}, summary="Cancel the re-embed job (editor)"
    )
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.knowledge_base_reembed_cancel(access=access, knowledge_base_id=kb_id)
        return Response(_reembed_state(_kb(request, org_id, kb_id)))


class ReembedResumeView(APIView):
    @extend_schema(
        request=None,
        responses={202: s.ReembedStateOut, **ERRORS},
        summary="Resume a re-embed job stopped by an error (editor)",
    )
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.knowledge_base_reembed_resume(access=access, knowledge_base_id=kb_id)
        return Response(_reembed_state(_kb(request, org_id, kb_id)), status=status.HTTP_202_ACCEPTED)


class KnowledgeSearchView(APIView):
    @extend_schema(
        request=s.SearchIn, responses={200: s.SearchOut, **ERRORS}, summary="Search (vector, keyword, hybrid)"
    )
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        knowledge_base = _kb(request, org_id, kb_id)
        data = parse_body(s.SearchIn, request)
        result = knowledge_search(
            knowledge_base=knowledge_base,
            query=data["query"],
            k=data["k"],
            mode=data["mode"],
            score_threshold=data.get("score_threshold"),
            filters=SearchFilters(
                documents=[str(d) for d in data.get("documents", [])], file_types=data.get("file_types", [])
            ),
            vector_weight=data["vector_weight"],
            keyword_weight=data["keyword_weight"],
            depth=data["depth"],
            rerank=data.get("rerank") or None,
            rerank_top_n=data["rerank_top_n"],
        )
        return Response(s.SearchOut({"hits": [hit.__dict__ for hit in result.hits], "terms": result.terms}).data)


def _preview(sections: list[Section], data: dict[str, Any]) -> Response:
    try:
        chunk_settings = ChunkSettings(data["chunk_strategy"], data["chunk_size"], data["chunk_overlap"])
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_chunking") from None
    chunks, truncated = chunk_preview(sections, chunk_settings, limit=PREVIEW_LIMIT)
    return Response(s.PreviewOut({"chunks": [c.__dict__ for c in chunks], "truncated": truncated}).data)


class SampleChunkPreviewView(APIView):
    @extend_schema(
        request=s.SamplePreviewIn,
        responses={200: s.PreviewOut, **ERRORS},
        operation_id="v1_orgs_knowledge_bases_sample_chunk_preview_create",
        summary="How a pasted sample would be chunked with these settings, before a base exists (editor)",
    )
    def post(self, request: Request, org_id: str) -> Response:
        org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.SamplePreviewIn, request)
        return _preview([Section(text=data["text"], page=None)], data)


class ChunkPreviewView(APIView):
    @extend_schema(
        request=s.PreviewIn,
        responses={200: s.PreviewOut, **ERRORS},
        summary="How text (or a parsed document) would be chunked with these settings; nothing is saved",
    )
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        knowledge_base = _kb(request, org_id, kb_id)
        data = parse_body(s.PreviewIn, request)
        if data.get("document"):
            document = selectors.document_get(knowledge_base=knowledge_base, document_id=data["document"])
            stored = type(document).objects.filter(pk=document.pk).values_list("sections", flat=True).first() or []
            sections = [Section.from_stored(x) for x in stored]
        else:
            sections = [Section(text=data.get("text", ""), page=None)]
        return _preview(sections, data)


class DocumentListView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses={200: s.DocumentOut(many=True), **ERRORS}, summary="Documents, newest first")
    def get(self, request: Request, org_id: str, kb_id: str) -> Response:
        return Response(
            s.DocumentOut(selectors.document_list(knowledge_base=_kb(request, org_id, kb_id)), many=True).data
        )

    @extend_schema(
        request={"multipart/form-data": s.UploadIn},
        responses={201: s.UploadOut(many=True), **ERRORS},
        summary="Upload files (editor): each is queued, or failed with its reason; a known file answers its document",
    )
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        uploads = services.document_upload(access=access, knowledge_base_id=kb_id, files=request.FILES.getlist("files"))
        body = [{"document": u.document, "created": u.created} for u in uploads]
        return Response(s.UploadOut(body, many=True).data, status=status.HTTP_201_CREATED)


class DocumentDetailView(APIView):
    @extend_schema(responses={200: s.DocumentOut, **ERRORS}, summary="A document with its status")
    def get(self, request: Request, org_id: str, kb_id: str, document_id: str) -> Response:
        knowledge_base = _kb(request, org_id, kb_id)
        return Response(
            s.DocumentOut(selectors.document_get(knowledge_base=knowledge_base, document_id=document_id)).data
        )

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a document and its chunks (editor)")
    def delete(self, request: Request, org_id: str, kb_id: str, document_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.document_delete(access=access, knowledge_base_id=kb_id, document_id=document_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentRetryView(APIView):
    @extend_schema(request=None, responses={202: s.DocumentOut, **ERRORS}, summary="Ingest again (editor)")
    def post(self, request: Request, org_id: str, kb_id: str, document_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        document = services.document_retry(access=access, knowledge_base_id=kb_id, document_id=document_id)
        return Response(s.DocumentOut(document).data, status=status.HTTP_202_ACCEPTED)


class DocumentReplaceView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": s.ReplaceIn},
        responses={202: s.DocumentOut, **ERRORS},
        summary="Replace the file with a new version (editor); the old chunks answer until it is ready",
    )
    def post(self, request: Request, org_id: str, kb_id: str, document_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        file = request.FILES.get("file")
        if file is None:
            raise InvalidInput("Send the new file as 'file'.", code="no_files")
        document = services.document_replace(access=access, knowledge_base_id=kb_id, document_id=document_id, file=file)
        return Response(s.DocumentOut(document).data, status=status.HTTP_202_ACCEPTED)


class ChunkPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class DocumentChunksView(APIView):
    @extend_schema(
        responses={200: s.ChunkPageOut, **ERRORS},
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        summary="The document's searchable chunks in reading order",
    )
    def get(self, request: Request, org_id: str, kb_id: str, document_id: str) -> Response:
        document = selectors.document_get(knowledge_base=_kb(request, org_id, kb_id), document_id=document_id)
        paginator = ChunkPagination()
        page = paginator.paginate_queryset(selectors.chunk_list(document=document), request, view=self)
        return paginator.get_paginated_response(s.ChunkOut(page, many=True).data)


class SourceListView(APIView):
    @extend_schema(responses={200: s.SourceOut(many=True), **ERRORS}, summary="The base's website and folder sources")
    def get(self, request: Request, org_id: str, kb_id: str) -> Response:
        return Response(s.SourceOut(selectors.source_list(knowledge_base=_kb(request, org_id, kb_id)), many=True).data)

    @extend_schema(
        request=s.SourceCreateIn,
        responses={202: s.SourceOut, **ERRORS},
        summary="Add a website (crawl) or server-folder source (editor; a folder: admin); its first sync is queued",
    )
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        source = services.source_create(access=access, knowledge_base_id=kb_id, **parse_body(s.SourceCreateIn, request))
        return Response(s.SourceOut(source).data, status=status.HTTP_202_ACCEPTED)


class SourceDetailView(APIView):
    @extend_schema(responses={200: s.SourceOut, **ERRORS}, summary="A source with its last sync and errors")
    def get(self, request: Request, org_id: str, kb_id: str, source_id: str) -> Response:
        knowledge_base = _kb(request, org_id, kb_id)
        return Response(s.SourceOut(selectors.source_get(knowledge_base=knowledge_base, source_id=source_id)).data)

    @extend_schema(
        request=s.SourceUpdateIn, responses={200: s.SourceOut, **ERRORS}, summary="Name, limits, schedule (editor)"
    )
    def patch(self, request: Request, org_id: str, kb_id: str, source_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        source = services.source_update(
            access=access, knowledge_base_id=kb_id, source_id=source_id, **parse_body(s.SourceUpdateIn, request)
        )
        return Response(s.SourceOut(source).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete the source and its documents (editor)")
    def delete(self, request: Request, org_id: str, kb_id: str, source_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.source_delete(access=access, knowledge_base_id=kb_id, source_id=source_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourceSyncView(APIView):
    @extend_schema(request=None, responses={202: s.SourceOut, **ERRORS}, summary="Sync now (editor)")
    def post(self, request: Request, org_id: str, kb_id: str, source_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        source = services.source_sync_now(access=access, knowledge_base_id=kb_id, source_id=source_id)
        return Response(s.SourceOut(source).data, status=status.HTTP_202_ACCEPTED)


class TestQuestionsView(APIView):
    @extend_schema(responses={200: s.TestQuestionsIO, **ERRORS}, summary="The base's test questions")
    def get(self, request: Request, org_id: str, kb_id: str) -> Response:
        return Response({"questions": _kb(request, org_id, kb_id).test_questions})

    @extend_schema(
        request=s.TestQuestionsIO, responses={200: s.TestQuestionsIO, **ERRORS}, summary="Replace them (editor)"
    )
    def put(self, request: Request, org_id: str, kb_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.TestQuestionsIO, request)
        knowledge_base = services.knowledge_base_set_questions(
            access=access, knowledge_base_id=kb_id, questions=[dict(q) for q in data["questions"]]
        )
        return Response({"questions": knowledge_base.test_questions})


class EvaluateView(APIView):
    @extend_schema(
        request=s.EvaluateIn,
        responses={200: s.EvaluateOut, **ERRORS},
        summary="Run test questions: hit@1/5/k, MRR and latency per mode, with the given ranking parameters",
    )
    def post(self, request: Request, org_id: str, kb_id: str) -> Response:
        from apps.knowledge.evaluation import Tuning, clean_questions, dataset_questions, evaluate

        knowledge_base = _kb(request, org_id, kb_id)
        data = parse_body(s.EvaluateIn, request)
        if "dataset" in data:
            raw = dataset_questions(knowledge_base.organization, str(data["dataset"]), data.get("dataset_version"))
        else:
            raw = [dict(q) for q in data["questions"]] if "questions" in data else knowledge_base.test_questions
        tuning = Tuning(
            k=data["k"],
            bm25_k1=data.get("bm25_k1"),
            bm25_b=data.get("bm25_b"),
            vector_weight=data["vector_weight"],
            keyword_weight=data["keyword_weight"],
            depth=data["depth"],
            rerank=data.get("rerank") or None,
        )
        scores, results = evaluate(
            knowledge_base=knowledge_base, questions=clean_questions(raw), modes=data["modes"], tuning=tuning
        )
        out = {
            "k": tuning.k,
            "bm25_k1": knowledge_base.bm25_k1 if tuning.bm25_k1 is None else tuning.bm25_k1,
            "bm25_b": knowledge_base.bm25_b if tuning.bm25_b is None else tuning.bm25_b,
            "scores": [score.__dict__ for score in scores],
            "questions": [result.__dict__ for result in results],
        }
        return Response(s.EvaluateOut(out).data)
