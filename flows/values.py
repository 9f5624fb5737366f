"""Conversions between port values, applied where a compatible but different type is wired."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, HumanMessage


class TextChunk:
    """One streamed piece of plain text from a chat model: what a model's `astream_chunks` yields
    for the common chunk (no tool call, usage or finish reason; those come as AIMessageChunk).
    It reads like an AIMessageChunk for the LLM node, without pydantic validation per token.
    `pieces` counts the model's chunks it holds: text that arrived together is one TextChunk."""

    __slots__ = ("content", "pieces", "response_metadata")
    tool_call_chunks: tuple[()] = ()
    usage_metadata: None = None

    def __init__(self, content: str, pieces: int = 1) -> None:
        self.content = content
        self.pieces = pieces
        self.response_metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"TextChunk({self.content!r})"


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseMessage):
        return str(value.content)
    if isinstance(value, list) and value and all(isinstance(v, Document) for v in value):
        return "\n\n".join(f"[{i}] {doc.page_content}" for i, doc in enumerate(value, start=1))
    if isinstance(value, list) and value and all(isinstance(v, BaseMessage) for v in value):
        return "\n".join(f"{m.type}: {m.content}" for m in value)
    if isinstance(value, Document):
        return value.page_content
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def to_messages(value: Any) -> list[BaseMessage]:
    if isinstance(value, list) and all(isinstance(v, BaseMessage) for v in value):
        return list(value)
    if isinstance(value, BaseMessage):
        return [value]
    return [HumanMessage(content=to_text(value))]


def to_documents(value: Any) -> list[Document]:
    if isinstance(value, list) and all(isinstance(v, Document) for v in value):
        return list(value)
    return []


def to_json(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, Document) for v in value):
        return [{"text": d.page_content, "metadata": d.metadata} for d in value]
    if isinstance(value, list) and value and all(isinstance(v, BaseMessage) for v in value):
        return [{"role": m.type, "content": m.content} for m in value]
    if isinstance(value, BaseMessage):
        return {"role": value.type, "content": value.content}
    return value


def citations(documents: list[Document]) -> list[dict[str, Any]]:
    """The citation list a UI shows: number, source document, page, chunk id, score, snippet."""
    out = []
    for number, doc in enumerate(documents, start=1):
        meta = doc.metadata
        out.append(
            {
                "n": number,
                "document": meta.get("document"),
                "title": meta.get("title") or meta.get("document_name"),
                "page": meta.get("page"),
                "chunk": meta.get("chunk"),
                "score": meta.get("score"),
                "snippet": doc.page_content[:240],
            }
        )
    return out
