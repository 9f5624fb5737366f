"""A Top K 4 RAG flow over a real knowledge base on the real local SmolLM2 (2,048-token window):
the real embedding model and pgvector search, the real gateway, the real model server.

Without fitting, four big chunks overflow the window and the model server refuses the prompt;
with the app's ports (context windows + SmolLM2's own tokenizer) the LLM node trims the
lowest-ranked chunks, says so in its node.finished notes, and the run completes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.knowledge.services import document_upload, knowledge_base_create
from apps.runs.adapters import ports_for
from apps.serving.gateway import GatewayModels
from apps.serving.models import BUILTIN_ALIAS, BUILTIN_CONTEXT_WINDOW, ModelEndpoint
from apps.serving.selectors import model_endpoint_list
from apps.serving.tokens import TokenizerCounter
from flows.compiler import compile_flow
from flows.events import Event, EventType
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member
from tests.flows.graphs import graph

pytestmark = pytest.mark.django_db(transaction=True)

TOPICS = ["harbour", "glacier", "permit", "aurora", "lighthouse", "ferry", "market", "museum"]


def _handbook() -> bytes:
    """A long guide: eight sections of ~1,200 words, each about one topic."""
    sections = []
    for topic in TOPICS:
        sentences = [
            f"The {topic} guide, part {n}: visitors ask about the {topic} at every season, and the wardens "
            f"answer that the {topic} opens at dawn, closes at dusk and costs forty two crowns a day."
            for n in range(1, 41)
        ]
        sections.append(f"# The {topic}\n\n" + " ".join(sentences))
    return "\n\n".join(sections).encode()


def _rag_flow(knowledge_base: str) -> dict[str, Any]:
    """What a new user draws: chat input -> retrieve (Top K 4, the default) -> LLM `local`."""
    return (
        graph()
        .node("in", "chat_input")
        .node("retrieve", "retrieve", knowledge_base=knowledge_base)
        .node("prompt", "prompt", template="Question: {{question}}")
        .node("llm", "llm", model=BUILTIN_ALIAS, max_tokens=48, temperature=0)
        .node("out", "output")
        .edge("in", "retrieve", "message", "query")
        .edge("in", "prompt", "message", "question")
        .edge("retrieve", "llm", "documents", "context")
        .edge("prompt", "llm", "messages", "prompt")
        .edge("llm", "out", "text", "value")
        .edge("llm", "out", "sources", "sources")
        .spec
    )


def _run(spec: dict[str, Any], member: Member, *, fit: bool) -> list[Event]:
    gateway = GatewayModels.of(list(model_endpoint_list(organization=member.organization)))
    ports = ports_for(organization_id=member.organization.pk, models=gateway, history=[])
    if not fit:
        ports.context = None

    async def run() -> list[Event]:
        flow = compile_flow(spec, ports)
        return [event async for event in flow.events({"message": "How much does the harbour cost?"})]

    return asyncio.run(run())


def test_top_k_4_rag_on_the_local_model_completes_after_fitting_the_context(
    org_a: Member, local_model_url: str
) -> None:
    ModelEndpoint.objects.filter(organization=org_a.organization, alias=BUILTIN_ALIAS).update(base_url=local_model_url)
    card = httpx.get(f"{local_model_url}/models").json()["data"][0]
    assert card["max_model_len"] == BUILTIN_CONTEXT_WINDOW  # what the Models page reads
    kb = knowledge_base_create(access=org_a.access, name="Visitor guide", chunk_size=1024, chunk_overlap=0)
    upload = SimpleUploadedFile("guide.md", _handbook(), content_type="text/markdown")
    document_upload(access=org_a.access, knowledge_base_id=kb.id, files=[upload])
    assert ingest_pending(kb) == ["ready"]
    spec = _rag_flow(str(kb.id))

    gateway = GatewayModels.of(list(model_endpoint_list(organization=org_a.organization)))
    assert gateway.context_window(BUILTIN_ALIAS) == BUILTIN_CONTEXT_WINDOW
    assert isinstance(gateway.token_counter(BUILTIN_ALIAS), TokenizerCounter)  # SmolLM2's own tokenizer

    unfitted = _run(spec, org_a, fit=False)
    assert unfitted[-1].type == EventType.RUN_FAILED  # the failure this fixes
    failed = next(e for e in unfitted if e.type == EventType.NODE_FAILED)
    assert failed.node == "llm"

    events = _run(spec, org_a, fit=True)
    assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
    llm = next(e for e in events if e.type == EventType.NODE_FINISHED and e.node == "llm")
    note = llm.data["notes"]["context"]
    assert note["counter"] == "tokenizer" and note["context_window"] == BUILTIN_CONTEXT_WINDOW
    assert note["documents_dropped"] + int(note["document_truncated"]) >= 1 and note["tokens_trimmed"] > 0
    assert note["prompt_tokens"] + 48 <= BUILTIN_CONTEXT_WINDOW
    answer = "".join(e.data["text"] for e in events if e.type == EventType.TOKEN)
    assert answer.strip()
    usage = llm.data["usage"]
    # The server's own count of the prompt stays within the window, close to the node's count.
    assert 0 < usage["input_tokens"] <= note["prompt_tokens"]
    citations = events[-1].data["outputs"]["output"]["citations"]
    assert len(citations) == 4 - note["documents_dropped"] >= 1  # the sources are what the model saw


def test_the_span_keeps_what_the_llm_node_trimmed() -> None:
    from apps.runs.recorder import _span_updates

    note = {"context_window": 2048, "documents_dropped": 2, "tokens_trimmed": 900}
    spans: dict[str, dict[str, Any]] = {}
    events = [
        Event(1, EventType.NODE_STARTED, "r1", "llm", {"type": "llm", "inputs": {}}),
        Event(2, EventType.NODE_FINISHED, "r1", "llm", {"outputs": {"text": "hi"}, "notes": {"context": note}}),
    ]
    assert _span_updates("r1", events, spans) == {"llm"}
    assert spans["llm"]["outputs"] == {"text": "hi", "notes": {"context": note}}
