"""Fitting the LLM node's prompt into the model's context window (flows/context.py), through the
engine with in-memory ports: a counter that counts words, and a window per alias."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from flows.compiler import compile_flow
from flows.context import MESSAGE_OVERHEAD, REPLY_OVERHEAD, EstimateCounter, fit_context, prompt_budget
from flows.errors import ContextTooLong
from flows.events import Event, EventType
from tests.flows.graphs import graph
from tests.flows.memory_ports import ScriptedChatModel, make_ports


class WordCounter:
    """One token per word, plus the same template overhead the estimate uses."""

    name = "words"

    def count(self, messages: Sequence[BaseMessage]) -> int:
        return sum(len(str(m.content).split()) + MESSAGE_OVERHEAD for m in messages) + REPLY_OVERHEAD


class Windows:
    def __init__(self, windows: dict[str, int]) -> None:
        self.windows = windows
        self.asked: list[str] = []

    def context_window(self, alias: str) -> int | None:
        self.asked.append(alias)
        return self.windows.get(alias)

    def token_counter(self, alias: str) -> WordCounter:
        return WordCounter()


def _chunk(n: int, words: int = 100) -> str:
    return " ".join(f"w{n}x{i}" for i in range(words))


def _rag_flow(top_k: int = 4, max_tokens: int = 64, memory: bool = False) -> dict[str, Any]:
    flow = (
        graph()
        .node("in", "chat_input")
        .node("r", "retrieve", knowledge_base=str(KB), top_k=top_k)
        .node("p", "prompt", template="{{q}}")
        .node("llm", "llm", model="small", max_tokens=max_tokens)
        .node("out", "output")
        .edge("in", "r", "message", "query")
        .edge("in", "p", "message", "q")
        .edge("p", "llm", "messages", "prompt")
        .edge("r", "llm", "documents", "context")
        .edge("llm", "out", "text", "value")
        .edge("llm", "out", "sources", "sources")
    )
    if memory:
        flow = flow.node("mem", "memory", turns=5).edge("mem", "llm", "history", "history")
    return flow.spec


KB = uuid.uuid4()
# Every chunk shares the query's word "permit" so all four are retrieved, best (most words in
# common) first: chunk 0 matches two words, the others one.
CORPUS = {KB: [f"permit cost {_chunk(0)}", f"permit {_chunk(1)}", f"permit {_chunk(2)}", f"permit {_chunk(3)}"]}


async def _run(
    spec: dict[str, Any], window: int | None, *, sessions: dict[str, list[BaseMessage]] | None = None
) -> tuple[list[Event], ScriptedChatModel]:
    model = ScriptedChatModel(reply=lambda m: "answer [1]")
    model.seen = []
    ports = make_ports({"small": model}, corpus=CORPUS, sessions=sessions)
    ports.context = Windows({"small": window} if window else {})
    flow = compile_flow(spec, ports)
    return [event async for event in flow.events({"message": "permit cost"}, session="s1")], model


def _finished(events: list[Event], node: str) -> dict[str, Any]:
    return next(e.data for e in events if e.type == EventType.NODE_FINISHED and e.node == node)


async def test_top_k_4_overflowing_the_window_drops_the_lowest_ranked_and_cuts_the_last_at_a_word() -> None:
    # 4 chunks of ~100 words; a window of 400 with 64 for the answer leaves ~320 for the prompt:
    # two whole chunks and part of the third.
    events, model = await _run(_rag_flow(), 400)
    assert events[-1].type == EventType.RUN_FINISHED
    system = str(model.seen[-1][0].content)
    assert "[1] permit cost w0x0" in system and "[2] permit w1x0" in system
    assert "[3] permit w2x0" in system and "w2x99" not in system
    assert system.endswith(" …")  # cut at a word boundary, marked
    assert "w3x" not in system
    assert WordCounter().count(model.seen[-1]) <= prompt_budget(400, 64)

    note = _finished(events, "llm")["notes"]["context"]
    assert note["documents_dropped"] == 1 and note["document_truncated"] is True
    assert note["history_dropped"] == 0 and note["context_window"] == 400 and note["max_tokens"] == 64
    assert note["tokens_trimmed"] > 100 and note["prompt_tokens"] <= prompt_budget(400, 64)
    assert note["counter"] == "words"
    # The sources the answer cites are the documents the model saw, numbered the same way.
    citations = events[-1].data["outputs"]["output"]["citations"]
    assert [c["chunk"] for c in citations] == ["chunk-0", "chunk-1", "chunk-2"]


async def test_a_prompt_that_fits_is_sent_whole_and_notes_nothing() -> None:
    events, model = await _run(_rag_flow(), 4096)
    assert events[-1].type == EventType.RUN_FINISHED
    assert "w3x99" in str(model.seen[-1][0].content)
    assert "notes" not in _finished(events, "llm")


async def test_no_known_window_sends_the_prompt_as_composed() -> None:
    events, model = await _run(_rag_flow(), None)
    assert events[-1].type == EventType.RUN_FINISHED
    assert "w3x99" in str(model.seen[-1][0].content)


async def test_older_history_goes_only_when_no_document_fits_beside_it() -> None:
    old: list[BaseMessage] = [m for i in range(6) for m in (HumanMessage(_chunk(100 + i, 60)), AIMessage(f"reply {i}"))]
    events, model = await _run(_rag_flow(max_tokens=64, memory=True), 400, sessions={"s1": old})
    assert events[-1].type == EventType.RUN_FINISHED
    sent = model.seen[-1]
    note = _finished(events, "llm")["notes"]["context"]
    assert note["history_dropped"] > 0
    kept_history = [m for m in sent if not isinstance(m, SystemMessage)][:-1]
    assert len(kept_history) == 10 - note["history_dropped"]  # memory turns=5: the last 10 messages
    assert str(kept_history[-1].content) == "reply 5"  # the latest turns are kept
    assert WordCounter().count(sent) <= prompt_budget(400, 64)


async def test_a_prompt_that_cannot_fit_fails_as_context_window_exceeded_with_a_hint() -> None:
    spec = (
        graph()
        .node("in", "chat_input")
        .node("p", "prompt", template="{{q}} " + _chunk(9, 500))
        .node("llm", "llm", model="small", max_tokens=64)
        .node("out", "output")
        .edge("in", "p", "message", "q")
        .edge("p", "llm", "messages", "prompt")
        .edge("llm", "out", "text", "value")
        .spec
    )
    events, model = await _run(spec, 400)
    failed = next(e for e in events if e.type == EventType.NODE_FAILED)
    assert failed.node == "llm" and failed.data["code"] == "context_window_exceeded"
    message = failed.data["message"]
    assert "400" in message and "context window" in message and "bigger context window" in message
    assert events[-1].type == EventType.RUN_FAILED
    assert model.seen == []  # the model was never called


async def test_max_tokens_as_big_as_the_window_says_so() -> None:
    events, _ = await _run(_rag_flow(max_tokens=400), 400)
    failed = next(e for e in events if e.type == EventType.NODE_FAILED)
    assert failed.data["code"] == "context_window_exceeded"
    assert "lower Max tokens (now 400)" in failed.data["message"]


def test_fit_context_keeps_whole_documents_when_the_next_would_leave_too_few_words() -> None:
    documents = [Document(page_content=_chunk(i, 50)) for i in range(3)]

    def compose(docs: list[Document], history: list[BaseMessage]) -> list[BaseMessage]:
        return [SystemMessage(" ".join(d.page_content for d in docs)), *history, HumanMessage("q")]

    # Room for exactly two documents and 5 more words: fewer than the 8 a cut document needs.
    budget_words = 100 + 2 * MESSAGE_OVERHEAD + REPLY_OVERHEAD + 1 + 5
    window = budget_words + 10 + max(16, 1)
    fit = fit_context(
        compose=compose, documents=documents, history=[], counter=WordCounter(), window=window, max_tokens=10, alias="m"
    )
    assert len(fit.documents) == 2 and not fit.document_truncated and fit.documents_dropped == 1


def test_fit_context_refuses_what_cannot_fit() -> None:
    with pytest.raises(ContextTooLong) as caught:
        fit_context(
            compose=lambda docs, hist: [HumanMessage(_chunk(1, 300))],
            documents=[],
            history=[],
            counter=WordCounter(),
            window=200,
            max_tokens=50,
            alias="tiny",
        )
    assert caught.value.code == "context_window_exceeded" and "'tiny'" in caught.value.message


def test_the_estimate_is_conservative_for_english_and_cjk() -> None:
    counter = EstimateCounter()
    english = "The aurora observation permit costs forty euros per night. " * 20
    assert counter.count_text(english) >= len(english.split()) * 1.5  # ~1.3 tokens a word in BPE
    assert counter.count_text("極光観測許可証") == 7  # one token per CJK character
    assert counter.count([HumanMessage("hi")]) == 1 + MESSAGE_OVERHEAD + REPLY_OVERHEAD


async def test_documents_rendered_into_a_prompt_template_are_trimmed_there_too() -> None:
    spec = (
        graph()
        .node("in", "chat_input")
        .node("r", "retrieve", knowledge_base=str(KB), top_k=4)
        .node("p", "prompt", template="Sources:\n{{context}}\n\nQuestion: {{q}}")
        .node("llm", "llm", model="small", max_tokens=64)
        .node("out", "output")
        .edge("in", "r", "message", "query")
        .edge("in", "p", "message", "q")
        .edge("r", "p", "documents", "context")
        .edge("p", "llm", "messages", "prompt")
        .edge("llm", "out", "text", "value")
        .spec
    )
    events, model = await _run(spec, 400)
    assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
    sent = str(model.seen[-1][-1].content)
    assert sent.startswith("Sources:\n[1] permit cost w0x0") and sent.endswith("Question: permit cost")
    assert "[2] permit w1x0" in sent and "w3x" not in sent
    note = _finished(events, "llm")["notes"]["context"]
    assert note["documents_dropped"] >= 1 and note["prompt_tokens"] <= prompt_budget(400, 64)
    # Without a known window the prompt is sent as the template rendered it, all four documents in.
    events, model = await _run(spec, None)
    assert "w3x99" in str(model.seen[-1][-1].content)
