"""Chunk preview: a pasted sample before a base exists (org-scoped, editor), and a base's first
document with other settings; nothing is saved, and bad settings answer 400 with a code."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest

from apps.knowledge.api.serializers import MAX_SAMPLE_TEXT
from apps.knowledge.api.views import PREVIEW_LIMIT
from apps.knowledge.models import Chunk, Document, KnowledgeBase
from apps.knowledge.services import document_upload
from apps.tenancy.models import Role
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

SAMPLE = " ".join(f"Ferry {i} leaves the harbour at dawn." for i in range(80))
MARKDOWN = f"# Handbook\n\n{files.FILLER}\n\n## Lighthouse\n\n### Storm duty\n\n{files.PASSAGES['md']}\n"


def _url(member: Member) -> str:
    return f"/api/v1/orgs/{member.organization.id}/knowledge-bases/chunk-preview/"


def _preview(member: Member, **body: Any) -> Any:
    return member.client().post(_url(member), body, format="json")


@pytest.mark.django_db
def test_preview_sample_chunks_with_sizes_and_overlap(org_a: Member) -> None:
    response = _preview(org_a, text=SAMPLE, chunk_strategy="sentence", chunk_size=64, chunk_overlap=16)
    assert response.status_code == 200, response.json()
    body = response.json()
    chunks = body["chunks"]
    assert len(chunks) > 3
    assert body["truncated"] is False
    assert chunks[0]["overlap_chars"] == 0 and chunks[0]["overlap_tokens"] == 0
    for previous, chunk in pairwise(chunks):
        assert 0 < chunk["token_count"] <= 64
        assert chunk["start_char"] < chunk["end_char"]
        assert SAMPLE[chunk["start_char"] : chunk["end_char"]] == chunk["text"]
        # The overlap is the previous chunk's tail, repeated at this one's start.
        assert chunk["overlap_chars"] == max(0, previous["end_char"] - chunk["start_char"])
        if chunk["overlap_chars"]:
            assert previous["text"].endswith(chunk["text"][: chunk["overlap_chars"]])
            assert 0 < chunk["overlap_tokens"] <= 16 + 4  # whole sentences that fit the overlap (token edges)
    assert any(c["overlap_chars"] > 0 for c in chunks[1:])

    no_overlap = _preview(org_a, text=SAMPLE, chunk_strategy="sentence", chunk_size=64, chunk_overlap=0).json()
    assert all(c["overlap_chars"] == 0 for c in no_overlap["chunks"])
    windows = _preview(org_a, text=SAMPLE, chunk_strategy="token", chunk_size=64, chunk_overlap=16).json()
    assert all(c["token_count"] <= 64 + 2 for c in windows["chunks"])
    assert all(c["overlap_tokens"] > 0 for c in windows["chunks"][1:])
    bigger = _preview(org_a, text=SAMPLE, chunk_strategy="token", chunk_size=256, chunk_overlap=0).json()
    assert len(bigger["chunks"]) < len(windows["chunks"])
    assert KnowledgeBase.objects.count() == 0 and Chunk.objects.count() == 0


@pytest.mark.django_db
def test_preview_sample_markdown_strategy_keeps_heading_paths(org_a: Member) -> None:
    body = _preview(org_a, text=MARKDOWN, chunk_strategy="markdown", chunk_size=128, chunk_overlap=0).json()
    paths = [c["heading_path"] for c in body["chunks"]]
    assert ["Handbook"] in paths
    assert ["Handbook", "Lighthouse", "Storm duty"] in paths


@pytest.mark.django_db
def test_preview_sample_truncates_to_the_first_chunks(org_a: Member) -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    body = _preview(org_a, text=text, chunk_strategy="token", chunk_size=32, chunk_overlap=0).json()
    assert len(body["chunks"]) == PREVIEW_LIMIT
    assert body["truncated"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"text": "x", "chunk_size": 64, "chunk_overlap": 40}, "invalid_chunking", None),
        ({"text": "x", "chunk_size": 8}, "invalid", "chunk_size"),
        ({"text": "x", "chunk_size": 4096}, "invalid", "chunk_size"),
        ({"text": "x", "chunk_overlap": -1}, "invalid", "chunk_overlap"),
        ({"text": "x", "chunk_strategy": "paragraph"}, "invalid", "chunk_strategy"),
        ({"text": ""}, "invalid", "text"),
        ({}, "invalid", "text"),
        ({"text": "x" * (MAX_SAMPLE_TEXT + 1)}, "invalid", "text"),
        ({"text": "x", "document": "00000000-0000-0000-0000-000000000000"}, "invalid", None),
    ],
)
def test_preview_sample_bad_input_answers_400_with_code(
    org_a: Member, body: dict[str, Any], code: str, field: str | None
) -> None:
    response = _preview(org_a, **body)
    assert response.status_code == 400, response.json()
    error = response.json()
    assert error["code"] == code
    assert error["message"]
    if field:
        assert field in error["fields"]


@pytest.mark.django_db
def test_preview_sample_needs_an_editor(org_a: Member, add_member: Callable[..., Member]) -> None:
    viewer = add_member(org_a.organization, Role.VIEWER)
    assert _preview(viewer, text=SAMPLE).status_code == 403
    editor = add_member(org_a.organization, Role.EDITOR)
    assert _preview(editor, text=SAMPLE).status_code == 200
    anonymous = org_a.client()
    anonymous.logout()
    assert anonymous.post(_url(org_a), {"text": SAMPLE}, format="json").status_code in (401, 403)


@pytest.mark.django_db
def test_preview_sample_route_is_not_read_as_a_knowledge_base_id(org_a: Member) -> None:
    """`knowledge-bases/chunk-preview/` comes before `knowledge-bases/<kb_id>/`."""
    response = org_a.client().get(_url(org_a))
    assert response.status_code == 405


@pytest.mark.django_db(transaction=True)
def test_preview_base_document_with_other_settings(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = make_kb(org_a, chunk_size=256, chunk_overlap=32)
    [upload] = document_upload(
        access=org_a.access, knowledge_base_id=kb.id, files=[files.upload("coast.md", files.markdown_bytes())]
    )
    assert ingest_pending(kb) == ["ready"]
    stored = Chunk.objects.filter(document=upload.document).count()
    url = f"/api/v1/orgs/{org_a.organization.id}/knowledge-bases/{kb.id}/chunk-preview/"
    body = {"document": str(upload.document.id), "chunk_strategy": "token", "chunk_size": 32, "chunk_overlap": 8}
    response = org_a.client().post(url, body, format="json")
    assert response.status_code == 200, response.json()
    chunks = response.json()["chunks"]
    assert len(chunks) > stored
    assert any(c["overlap_tokens"] > 0 for c in chunks)
    assert Chunk.objects.filter(document=upload.document).count() == stored  # nothing saved
    assert Document.objects.get(pk=upload.document.pk).status == "ready"
