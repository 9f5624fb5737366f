"""Deterministic in-memory implementations of flows.ports for engine unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import BaseTool

from flows.errors import ModelUnavailable
from flows.ports import CachePolicy, Ports


class ScriptedChatModel(BaseChatModel):
    """Answers with `reply(messages)`, streamed word by word, with token usage on the last chunk."""

    reply: Callable[[list[BaseMessage]], str] = lambda messages: "ok"
    delay: float = 0.0
    fail_after: int | None = None  # raise a connection error after this many chunks
    stall_after: int | None = None  # go silent after this many chunks
    tool_call: dict[str, Any] | None = None  # first call asks for this tool
    seen: list[list[BaseMessage]] = []
    tools_bound: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self.model_copy(update={"tools_bound": [t.name for t in tools]})

    def _words(self, messages: list[BaseMessage]) -> list[str]:
        self.seen.append(messages)
        text = self.reply(messages)
        words = text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def _wants_tool(self, messages: list[BaseMessage]) -> bool:
        return bool(self.tool_call and self.tools_bound and not any(m.type == "tool" for m in messages))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(self._words(messages))
        usage = {"input_tokens": 3, "output_tokens": len(text.split()), "total_tokens": 3 + len(text.split())}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, usage_metadata=usage))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self._wants_tool(messages):
            assert self.tool_call is not None
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": self.tool_call["name"],
                            "args": self.tool_call["args"],
                            "id": "call-1",
                            "index": 0,
                        }
                    ],
                )
            )
            return
        words = self._words(messages)
        for index, word in enumerate(words):
            if self.fail_after is not None and index == self.fail_after:
                raise ConnectionResetError("model server went away")
            if self.stall_after is not None and index == self.stall_after:
                await asyncio.sleep(3600)
            if self.delay:
                await asyncio.sleep(self.delay)
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": sum(len(str(m.content).split()) for m in messages),
                    "output_tokens": len(words),
                    "total_tokens": 0,
                },
            )
        )


class MemoryModels:
    def __init__(self, models: Mapping[str, BaseChatModel]) -> None:
        self.models = dict(models)
        self.requested: list[tuple[str, float, int]] = []
        self.cache_policies: list[CachePolicy | None] = []

    def chat_model(
        self, alias: str, *, temperature: float, max_tokens: int, cache: CachePolicy | None = None
    ) -> BaseChatModel:
        self.requested.append((alias, temperature, max_tokens))
        self.cache_policies.append(cache)
        if alias not in self.models:
            raise ModelUnavailable(f"No model has the alias {alias!r}.")
        return self.models[alias]


class MemoryRetrievers:
    def __init__(self, corpus: Mapping[UUID, list[str]]) -> None:
        self.corpus = corpus

    async def retrieve(
        self,
        knowledge_base: UUID,
        query: str,
        *,
        k: int,
        mode: str,
        score_threshold: float | None,
        rerank: str | None = None,
        rerank_top_n: int = 20,
    ) -> list[Document]:
        words = set(query.lower().split())
        scored = [
            (len(words & set(text.lower().split())) / max(len(words), 1), i, text)
            for i, text in enumerate(self.corpus.get(knowledge_base, []))
        ]
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [
            Document(
                page_content=text, metadata={"document": f"doc-{i}", "chunk": f"chunk-{i}", "page": 1, "score": score}
            )
            for score, i, text in scored[:k]
            if score_threshold is None or score >= score_threshold
        ]


class MemoryHistory:
    def __init__(self, sessions: Mapping[str, list[BaseMessage]] | None = None) -> None:
        self.sessions = dict(sessions or {})

    async def history(self, session: str | None, turns: int) -> list[BaseMessage]:
        messages = self.sessions.get(session or "", [])
        return messages[-turns * 2 :]


class MemoryHttp:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: str | None = None
    ) -> tuple[int, str]:
        self.calls.append((method, url))
        return 200, f"fetched {url}"


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_ports(
    models: Mapping[str, BaseChatModel] | None = None,
    *,
    corpus: Mapping[UUID, list[str]] | None = None,
    sessions: Mapping[str, list[BaseMessage]] | None = None,
    extra_tools: Mapping[str, BaseTool] | None = None,
    **settings: Any,
) -> Ports:
    return Ports(
        models=MemoryModels(models or {"echo": ScriptedChatModel(reply=lambda m: f"echo: {m[-1].content}")}),
        retrievers=MemoryRetrievers(corpus or {}),
        memory=MemoryHistory(sessions),
        http=MemoryHttp(),
        clock=FixedClock(),
        extra_tools=extra_tools or {},
        settings=settings,
    )


__all__ = ["HumanMessage", "ScriptedChatModel", "make_ports"]
