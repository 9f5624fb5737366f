"""The retrieve node's query rewriting (multi-query, HyDE): a scripted chat model writes the extra
queries, the in-memory retriever searches each, and the lists are fused by reciprocal rank."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.documents import Document

from flows.compiler import compile_flow
from flows.errors import FlowInvalid
from flows.nodes.retrieve import RetrieveConfig, RetrieveNode
from flows.registry import NodeContext
from tests.flows.graphs import graph
from tests.flows.memory_ports import ScriptedChatModel, make_ports

CORPUS = ["cats purr softly", "the refund window is 30 days", "returns are accepted within a month"]


def _spec(kb: uuid.UUID, **config: Any) -> dict[str, Any]:
    return (
        graph()
        .node("in", "chat_input")
        .node("r", "retrieve", knowledge_base=str(kb), top_k=2, **config)
        .node("out", "output")
        .edge("in", "r", "message", "query")
        .edge("r", "out", "documents", "value")
        .spec
    )


async def _documents(config: dict[str, Any], reply: str, question: str) -> tuple[list[Document], ScriptedChatModel]:
    """The retrieve node run on its own, with a scripted rewriting model."""
    kb = uuid.uuid4()
    rewriter = ScriptedChatModel(reply=lambda messages: reply)
    rewriter.seen = []
    ports = make_ports({"writer": rewriter}, corpus={kb: CORPUS})
    node = RetrieveNode()
    context = NodeContext(
        node_id="r", run_inputs={}, session=None, emit_token=lambda *a: None, add_usage=lambda *a: None
    )
    out = await node.run(RetrieveConfig(knowledge_base=kb, top_k=2, **config), {"query": question}, ports, context)
    return out["documents"], rewriter


async def test_multi_query_finds_what_the_question_words_miss() -> None:
    question = "how long may I send goods back"
    plain, _ = await _documents({"score_threshold": 0.1}, "", question)
    assert plain == []  # no word in common: the question alone finds nothing
    documents, rewriter = await _documents(
        {"query_rewrite": "multi_query", "rewrite_model": "writer", "rewrite_queries": 2, "score_threshold": 0.1},
        "1. refund window days\n2. returns accepted month\n3. a third one beyond the limit",
        question,
    )
    assert {d.page_content for d in documents} == {CORPUS[1], CORPUS[2]}
    prompt = str(rewriter.seen[0][0].content)
    assert "Write 2 different search queries" in prompt and question in prompt
    found_by = {q for d in documents for q in d.metadata["queries"]}
    assert found_by <= {question, "refund window days", "returns accepted month"}
    assert "a third one beyond the limit" not in found_by


async def test_hyde_searches_with_the_written_passage() -> None:
    documents, rewriter = await _documents(
        {"query_rewrite": "hyde", "rewrite_model": "writer", "score_threshold": 0.1},
        "The refund window is 30 days for every purchase.",
        "how long may I send goods back",
    )
    assert documents[0].page_content == CORPUS[1]
    assert "short passage" in str(rewriter.seen[0][0].content)


async def test_compiled_flow_with_rewriting_runs_end_to_end() -> None:
    kb = uuid.uuid4()
    rewriter = ScriptedChatModel(reply=lambda messages: "refund window days")
    rewriter.seen = []
    spec = _spec(kb, query_rewrite="multi_query", rewrite_model="writer", rewrite_queries=1, score_threshold=0.1)
    flow = compile_flow(spec, make_ports({"writer": rewriter}, corpus={kb: CORPUS}))
    events = [event async for event in flow.events({"message": "how long may I send goods back"})]
    assert events[-1].data["outputs"]["output"]["value"] == f"[1] {CORPUS[1]}"


def test_rewriting_without_a_model_is_invalid() -> None:
    with pytest.raises(FlowInvalid):
        compile_flow(_spec(uuid.uuid4(), query_rewrite="hyde"), make_ports())
